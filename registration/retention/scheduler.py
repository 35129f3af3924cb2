"""The timer that runs maintenance every `purge_interval_minutes`, and who starts it.

Nothing starts it while the app is built: `create_app` runs in every CLI command
(`db upgrade`, `demo seed`) and in tests, none of which may grow a thread that deletes
data. It is started explicitly by

* `gastregister worker` (GASTREGISTER_SCHEDULER=worker, production's default): one
  process of its own, `gastregister-worker.service`, which runs it until SIGTERM;
* gunicorn's `post_worker_init` hook (GASTREGISTER_SCHEDULER=web, the demo): every web
  worker runs one, for deployments without a separate unit.

The timer waits with `threading.Event.wait`, which runs on the monotonic clock: a
wall clock set back or forward does not stall or rush it (APScheduler's interval
trigger computed fire times from the wall clock, so a jump back stalled it for the
jump's length). The database lock lets exactly one runner work at a time, and a
runner that finds a successful run less than an interval old skips, so more web
workers do not mean more runs.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from flask import Flask

from registration.clock import Clock
from registration.config import Settings
from registration.database import Database, DatabaseTimeouts
from registration.retention.services import run_maintenance, runner_name

log = logging.getLogger(__name__)

# The first run comes a few seconds after start, spread a little so that web workers
# starting together do not all reach for the lock in the same moment.
FIRST_RUN_DELAY_SECONDS = (1.0, 5.0)
STOP_WAIT_SECONDS = 10.0


def first_run_delay() -> float:
    return random.uniform(*FIRST_RUN_DELAY_SECONDS)  # noqa: S311 - jitter, not security


class MaintenanceTimer:
    """Calls `job(stop)` after `first_delay` seconds and then every `interval` seconds,
    measured on the monotonic clock from the start of each run, until `stop()`.

    A run that overran its interval is followed by the next one at once (one, not one
    per missed interval). `job` should not raise; if it does, the timer logs it and
    keeps going, because a timer that died silently would stop deletion silently.
    """

    def __init__(
        self,
        job: Callable[[threading.Event], Any],
        interval: float,
        *,
        first_delay: float,
        name: str = "gastregister-maintenance",
    ) -> None:
        self.job = job
        self.interval = interval
        self.first_delay = first_delay
        self.name = name
        self.stop_requested = threading.Event()
        self.runs = 0
        self._thread: threading.Thread | None = None

    def run(self) -> None:
        """Run in the calling thread until `stop()` is called."""
        next_run = time.monotonic() + self.first_delay
        while not self.stop_requested.wait(max(0.0, next_run - time.monotonic())):
            started = time.monotonic()
            try:
                self.job(self.stop_requested)
            except Exception:
                log.exception("maintenance timer: the job raised; the timer keeps running")
            self.runs += 1
            next_run = started + self.interval

    def start(self) -> threading.Thread:
        """Run in a daemon thread of its own (web mode)."""
        thread = threading.Thread(target=self.run, name=self.name, daemon=True)
        self._thread = thread
        thread.start()
        return thread

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = STOP_WAIT_SECONDS) -> bool:
        """Ask the timer to stop; a run in progress ends at its next batch boundary.
        True if the thread has ended within `timeout`."""
        self.stop_requested.set()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()


def scheduled_maintenance(
    app: Flask, database: Database, role: str, stop: threading.Event | None = None
) -> None:
    """One timer tick: run maintenance if due. Never raises (logs instead).

    It runs in an app context because some steps (automatic release) send translated
    notification mails.
    """
    settings: Settings = app.extensions["gastregister.settings"]
    clock: Clock = app.extensions["gastregister.clock"]
    try:
        with app.app_context():
            result = run_maintenance(
                database, clock, settings, runner_name(role), only_if_due=True, stop=stop
            )
    except Exception:
        log.exception("maintenance run failed before it could record itself")
        return
    if result.skipped:
        log.debug("maintenance %s", result.reason)
    elif result.ok:
        log.info("maintenance done in %d ms: %s", result.duration_ms, result.removed)
    else:
        log.error("maintenance finished with errors: %s", ", ".join(result.errors))


def maintenance_timer(
    app: Flask, database: Database, role: str, *, first_delay: float | None = None
) -> MaintenanceTimer:
    settings: Settings = app.extensions["gastregister.settings"]
    return MaintenanceTimer(
        lambda stop: scheduled_maintenance(app, database, role, stop),
        settings.purge_interval_minutes * 60.0,
        first_delay=first_run_delay() if first_delay is None else first_delay,
    )


# --- web mode: one timer per gunicorn worker process ------------------------------------

_web_timers: dict[int, tuple[MaintenanceTimer, Database]] = {}
_web_timers_guard = threading.Lock()


def start_web_timer(app: object) -> MaintenanceTimer | None:
    """gunicorn's post_worker_init: start this worker's timer in web mode, else nothing.

    Keyed by process id: a timer inherited through fork has no thread in the child.
    The timer gets a database of its own with maintenance timeouts, so a long purge
    statement neither times out at the web budget nor takes the web pool's connections.
    """
    if not isinstance(app, Flask):
        log.warning("maintenance timer not started: the WSGI app is not the Gastregister app")
        return None
    settings: Settings = app.extensions["gastregister.settings"]
    if settings.scheduler != "web":
        return None
    with _web_timers_guard:
        pid = os.getpid()
        if pid in _web_timers:
            return None
        database = Database(
            settings.database_url,
            timeouts=DatabaseTimeouts.for_maintenance(settings),
        )
        timer = maintenance_timer(app, database, "web")
        timer.start()
        _web_timers[pid] = (timer, database)
    log.info(
        "maintenance timer started in web worker %d: every %d minutes",
        pid,
        settings.purge_interval_minutes,
    )
    return timer


def stop_web_timer() -> None:
    """gunicorn's worker_exit: stop this worker's timer, letting a run end cleanly."""
    with _web_timers_guard:
        entry = _web_timers.pop(os.getpid(), None)
    if entry is None:
        return
    timer, database = entry
    if not timer.stop():
        log.warning("maintenance run still busy at worker exit; it is recorded as died")
        return
    database.dispose()


def running_web_timer() -> MaintenanceTimer | None:
    entry = _web_timers.get(os.getpid())
    return entry[0] if entry else None
