"""`/healthz`: can this instance store check-ins and delete them on schedule, right now?

For load balancers and monitoring. 200 only when everything is fine; otherwise 503
with machine-readable `reasons`. It answers within `HEALTH_BUDGET_SECONDS` whatever
the database does: the checks run in a thread of their own, started at request time
(never at app creation), and the request waits for them at most that long. While an
earlier probe is still stuck, the next request answers 503 at once instead of piling
up another stuck thread.

A `SELECT 1` would pass on a database that can no longer store anything, so the
probe commits a tiny write (`health_checks`), asks PostgreSQL whether it is
read-only or a standby, and checks the free space of the instance folder and the
SQLite database folder against `GASTREGISTER_DISK_FREE_MIN_MB`. Other packages add
findings (the maintenance runs) through `gastregister.health_providers`.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeoutError
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from registration.config import Settings
from registration.database import Database, DatabaseFault
from registration.models import HealthCheck

log = logging.getLogger("gastregister.health")
bp = Blueprint("health", __name__)

HEALTH_BUDGET_SECONDS = 1.5
WRITE_PROBE = "healthz"
MEGABYTE = 1024 * 1024

# Reasons (the JSON body's `reasons`), each with the words the log uses.
REASON_WORDS = {
    "database_unreachable": "database unreachable",
    "database_timeout": "database timed out",
    "database_read_only": "database read-only",
    "database_error": "database error",
    "disk_full": "disk full",
    "health_check_stalled": "database timed out",
    "maintenance_overdue": "maintenance overdue",
    "clock_skew": "clock skew (a maintenance run is dated in the future)",
}


@dataclass
class HealthFinding:
    """What one check adds: facts for the body, and problems (reasons) that make it 503."""

    facts: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


HealthProvider = Callable[[], HealthFinding]


@dataclass(frozen=True)
class HealthReport:
    body: dict[str, Any]
    notes: tuple[str, ...] = ()

    @property
    def status_code(self) -> int:
        return 200 if not self.body["reasons"] else 503


@dataclass(frozen=True)
class DiskSpace:
    free_mb: int
    path: Path


@dataclass(frozen=True)
class DatabaseCheck:
    """The write probe's outcome: `state` is "ok", a DatabaseFault value, or "error"
    (a failure that is no known outage); `note` goes to the log, never to the body."""

    state: str = "ok"
    note: str = ""

    @property
    def reason(self) -> str | None:
        if self.state == "ok":
            return None
        return "disk_full" if self.state == DatabaseFault.DISK_FULL else f"database_{self.state}"

    @property
    def readable(self) -> bool:
        """Reads still work: the maintenance facts can be looked up."""
        return self.state in {"ok", DatabaseFault.READ_ONLY, DatabaseFault.DISK_FULL}


def check_database(database: Database) -> DatabaseCheck:
    """Commit a tiny write; on PostgreSQL ask first whether writes can succeed at all.

    The row gets the real time, which changes on every probe: SQLite writes nothing
    for an update that changes nothing, and then a full disk would go unnoticed.
    """
    session = database.new_session()
    try:
        if database.dialect == "postgresql":
            standby, read_only = session.execute(
                text("SELECT pg_is_in_recovery(), current_setting('transaction_read_only')")
            ).one()
            if standby or read_only == "on":
                # This connection keeps its read-only session setting; a fresh one
                # will see when the database can be written again.
                session.connection().invalidate()
                why = "a standby" if standby else "transaction_read_only = on"
                return DatabaseCheck(DatabaseFault.READ_ONLY, why)
        insert = postgresql_insert if database.dialect == "postgresql" else sqlite_insert
        statement = insert(HealthCheck).values(name=WRITE_PROBE, checked_at=dt.datetime.now(dt.UTC))
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["name"], set_={"checked_at": statement.excluded.checked_at}
            )
        )
        session.commit()
    except Exception as exc:
        try:
            session.rollback()
        except Exception:
            log.debug("rollback after a failed health probe failed too")
        fault = database.fault_of(exc)
        note = f"write probe failed: {type(exc).__name__}"
        return DatabaseCheck(fault.value if fault else "error", note)
    finally:
        session.close()
    return DatabaseCheck()


def watched_folders(settings: Settings, database: Database) -> list[Path]:
    """Where running out of space stops the service: the instance folder, and the
    folder of the SQLite database (its WAL grows there)."""
    folders = [settings.instance_path]
    if database.sqlite_path is not None:
        folders.append(database.sqlite_path.resolve().parent)
    return folders


def least_free_space(folders: list[Path]) -> DiskSpace | None:
    tightest: DiskSpace | None = None
    for folder in folders:
        try:
            free = shutil.disk_usage(folder).free // MEGABYTE
        except OSError:
            continue  # a folder that does not exist (yet) holds nothing to fill
        if tightest is None or free < tightest.free_mb:
            tightest = DiskSpace(free, folder)
    return tightest


def run_checks(app: Flask) -> HealthReport:
    """Every check, in an app context of its own (this runs in the probe's thread)."""
    with app.app_context():
        settings: Settings = app.extensions["gastregister.settings"]
        database: Database = app.extensions["gastregister.db"]
        reasons: list[str] = []
        notes: list[str] = []
        stored = check_database(database)
        if stored.note:
            notes.append(stored.note)
        if stored.reason:
            reasons.append(stored.reason)
        space = least_free_space(watched_folders(settings, database))
        disk_low = space is not None and space.free_mb < settings.disk_free_min_mb
        if space is not None and disk_low:
            notes.append(
                f"{space.free_mb} MB free in {space.path}, below the "
                f"{settings.disk_free_min_mb} MB floor"
            )
            if "disk_full" not in reasons:
                reasons.append("disk_full")
        body: dict[str, Any] = {
            "status": "ok",
            "reasons": reasons,
            "database": database.dialect,
            "checks": {
                "database": stored.state,
                "disk": "low" if disk_low else "ok",
            },
        }
        providers: list[HealthProvider] = app.extensions["gastregister.health_providers"]
        if stored.readable:
            for provider in providers:
                try:
                    finding = provider()
                except Exception as exc:
                    body["checks"]["extras"] = "unavailable"
                    notes.append(f"health provider failed: {type(exc).__name__}")
                    continue
                body.update(finding.facts)
                reasons.extend(r for r in finding.problems if r not in reasons)
        if reasons:
            body["status"] = "unavailable"
        return HealthReport(body, tuple(notes))


def _unanswered(reason: str, note: str = "") -> HealthReport:
    """The answer when the checks did not report in time (or at all)."""
    state = "error" if reason == "database_error" else DatabaseFault.TIMEOUT.value
    return HealthReport(
        {
            "status": "unavailable",
            "reasons": [reason],
            "database": current_app.extensions["gastregister.db"].dialect,
            "checks": {"database": state},
        },
        (note,) if note else (),
    )


class HealthProbe:
    """Runs `run_checks` single-flight in a thread of its own, with a hard time budget.

    Callers arriving while a probe runs share it (a load balancer and a monitor asking
    at once both get the answer); once a probe has outlived the budget it counts as
    stuck, and callers get 503 at once until it ends (the database timeouts end it).
    """

    def __init__(self, app: Flask, budget_seconds: float = HEALTH_BUDGET_SECONDS) -> None:
        self.app = app
        self.budget_seconds = budget_seconds
        self._guard = threading.Lock()
        self._inflight: Future[HealthReport] | None = None
        self._started = 0.0
        self._last_reasons: tuple[str, ...] = ()

    def check(self) -> HealthReport:
        database: Database = self.app.extensions["gastregister.db"]
        if database.breaker.resting:
            # Requests timed out a moment ago: say so at once rather than queue a probe.
            return self._logged(
                _unanswered("database_timeout", "the database did not answer a moment ago")
            )
        with self._guard:
            now = time.monotonic()
            future = self._inflight
            stuck = future is not None and not future.done()
            if future is None or not stuck:
                future = Future()
                self._inflight, self._started = future, now
                threading.Thread(
                    target=self._probe, args=(future,), name="gastregister-health", daemon=True
                ).start()
            remaining = self.budget_seconds - (now - self._started)
        if stuck and remaining <= 0:
            return self._logged(
                _unanswered("health_check_stalled", "an earlier probe is still waiting")
            )
        try:
            report = future.result(timeout=max(0.0, remaining))
        except FutureTimeoutError:
            report = _unanswered("database_timeout", f"no answer within {self.budget_seconds:g} s")
        except Exception as exc:
            report = _unanswered("database_error", f"health probe failed: {type(exc).__name__}")
        return self._logged(report)

    def _probe(self, future: Future[HealthReport]) -> None:
        try:
            future.set_result(run_checks(self.app))
        except BaseException as exc:  # the waiting request must never wait for nothing
            future.set_exception(exc)

    def _logged(self, report: HealthReport) -> HealthReport:
        """One log line when the verdict changes, naming what is wrong."""
        reasons = tuple(report.body["reasons"])
        with self._guard:
            changed, self._last_reasons = reasons != self._last_reasons, reasons
        if changed and reasons:
            words = ", ".join(
                REASON_WORDS.get(reason, reason.replace("_", " ")) for reason in reasons
            )
            details = f" ({'; '.join(report.notes)})" if report.notes else ""
            log.warning("health: %s%s", words, details)
        elif changed:
            log.info("health: ok again")
        return report


def register_health(app: Flask) -> None:
    """The probe object only; its thread starts with the first /healthz request."""
    app.extensions["gastregister.health_probe"] = HealthProbe(app)
    app.extensions.setdefault("gastregister.health_providers", [])


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    probe: HealthProbe = current_app.extensions["gastregister.health_probe"]
    report = probe.check()
    response = jsonify(report.body)
    response.headers["Cache-Control"] = "no-store"
    return response, report.status_code
