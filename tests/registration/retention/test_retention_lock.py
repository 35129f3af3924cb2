"""Exactly one runner at a time: the PostgreSQL advisory lock and the SQLite file lock,
both released by the operating system or server when their holder dies."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from registration.clock import FrozenClock
from registration.config import Settings
from registration.database import Database
from registration.models import TraceRequestState
from registration.retention.lock import exclusive_runner, lock_file_path, lock_holder
from registration.retention.services import SKIPPED_LOCK_HELD, run_maintenance
from tests import factories
from tests.factories import Venue
from tests.registration.retention.retention_helpers import add_checkin, checkin_exists, job_runs


def test_of_many_runners_starting_together_exactly_one_gets_the_lock(
    committed: Database, clock: FrozenClock
) -> None:
    runners = 6
    tried = threading.Barrier(runners)
    got: list[str] = []
    errors: list[BaseException] = []

    def runner(name: str) -> None:
        try:
            with exclusive_runner(committed, name) as lock:
                if lock is not None:
                    got.append(name)
                tried.wait(timeout=60)  # hold it until every runner has tried
        except BaseException as exc:  # every failure is the finding
            errors.append(exc)
            tried.abort()

    threads = [threading.Thread(target=runner, args=(f"runner-{n}",)) for n in range(runners)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert len(got) == 1


def test_a_runner_that_finds_the_lock_held_skips_without_touching_anything(
    committed: Database, place: Venue, clock: FrozenClock, settings: Settings
) -> None:
    visit = add_checkin(committed.engine, place, clock.now() - dt.timedelta(days=40))

    with exclusive_runner(committed, "other-host:1:scheduler") as lock:
        assert lock is not None
        holder = lock_holder(committed)
        skipped = run_maintenance(committed, clock, settings, "this-host:2:cli")

    assert holder is not None and holder.holder == "other-host:1:scheduler"
    assert skipped.skipped
    assert skipped.reason == SKIPPED_LOCK_HELD
    assert checkin_exists(committed.engine, visit)
    assert job_runs(committed) == []
    assert lock_holder(committed) is None

    ran = run_maintenance(committed, clock, settings, "this-host:2:cli")
    assert ran.ok
    assert not checkin_exists(committed.engine, visit)


@pytest.mark.sqlite_only
def test_sqlite_lock_is_a_file_lock_beside_the_database_naming_its_holder(
    committed: Database,
) -> None:
    path = lock_file_path(committed)
    assert path is not None and path.parent == Path(committed.engine.url.database or "").parent

    with exclusive_runner(committed, "host:1:worker") as lock:
        assert lock is not None
        assert path.read_text() == "host:1:worker"
        with exclusive_runner(committed, "host:2:web") as second:
            assert second is None
        holder = lock_holder(committed)

    assert holder is not None and holder.holder == "host:1:worker"
    assert lock_holder(committed) is None
    assert path.read_text() == ""


def test_an_in_memory_database_gets_a_lock_of_this_process() -> None:
    memory = Database("sqlite://")
    assert lock_file_path(memory) is None
    with exclusive_runner(memory, "only:1:test") as lock:
        assert lock is not None
        with exclusive_runner(memory, "other:2:test") as second:
            assert second is None
        holder = lock_holder(memory)
    assert holder is not None and holder.holder == "only:1:test"
    assert lock_holder(memory) is None
    memory.dispose()


CHILD = """
import datetime as dt, json, sys
from registration.clock import FrozenClock
from registration.config import Settings
from registration.database import Database
from registration.retention.services import run_maintenance

url, now, name = sys.argv[1:4]
settings = Settings.from_mapping({"environment": "test", "database_url": url})
result = run_maintenance(Database(url), FrozenClock(dt.datetime.fromisoformat(now)), settings, name)
print(json.dumps({"status": result.status, "reason": result.reason, "removed": result.removed}))
"""


def _wait_for_first(processes: list[subprocess.Popen[str]]) -> subprocess.Popen[str]:
    deadline = time.monotonic() + 120  # a hang guard, not a measured threshold
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                return process
        time.sleep(0.05)
    raise AssertionError("neither maintenance process finished")


@pytest.mark.postgres
def test_two_processes_racing_on_postgres_purge_once(
    committed: Database, place: Venue, clock: FrozenClock, settings: Settings
) -> None:
    add_checkin(committed.engine, place, clock.now() - dt.timedelta(days=40))
    with Session(committed.engine) as session:
        office = factories.health_office(session, name="Gesundheitsamt Wettlauf")
        request = factories.trace_request(
            session,
            office,
            place.location,
            now=clock.now(),
            window_start=clock.now() - dt.timedelta(days=3),
            window_end=clock.now() - dt.timedelta(days=2),
            case_reference="AZ 1",
            reason="Indexfall",
            state=TraceRequestState.CLOSED,
            closed_at=clock.now(),
            release_deadline=clock.now(),
        )
        factories.export_package(session, request, expires_at=clock.now() + dt.timedelta(days=1))
        session.commit()

    # Whichever process wins the lock stops at this row lock while holding it, so the
    # other one is certain to find the lock held.
    blocker = committed.engine.connect()
    blocker.execute(text("SELECT id FROM export_packages FOR UPDATE"))
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, committed.url, clock.now().isoformat(), f"racer-{n}"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in (1, 2)
    ]
    try:
        loser = _wait_for_first(processes)
        winner = next(p for p in processes if p is not loser)
        assert winner.poll() is None, "the winner waits at the row lock"
    finally:
        blocker.rollback()
        blocker.close()
    loser_out, _ = loser.communicate(timeout=120)
    winner_out, _ = winner.communicate(timeout=120)

    assert loser.returncode == 0 and winner.returncode == 0
    assert json.loads(loser_out) == {
        "status": "skipped",
        "reason": SKIPPED_LOCK_HELD,
        "removed": {},
    }
    won = json.loads(winner_out)
    assert won["status"] == "completed"
    assert won["removed"]["checkins"] == 1
    assert won["removed"]["export_packages"] == 1
    runs = job_runs(committed)
    assert len(runs) == 1
    assert runs[0].details["removed"]["checkins"] == 1


STUCK_CHILD = """
import datetime as dt, sys, time
from registration.clock import FrozenClock
from registration.config import Settings
from registration.database import Database
from registration.retention import services

url, now = sys.argv[1:3]


def stuck(*args, **kwargs):
    print("running", flush=True)
    time.sleep(600)


services.purge_export_packages = stuck
settings = Settings.from_mapping({"environment": "test", "database_url": url})
clock = FrozenClock(dt.datetime.fromisoformat(now))
services.run_maintenance(Database(url), clock, settings, "doomed:1:worker")
"""


def _wait_for_line(process: subprocess.Popen[str], expected: str) -> None:
    found: list[str] = []
    output = process.stdout
    assert output is not None
    reader = threading.Thread(target=lambda: found.append(output.readline()), daemon=True)
    reader.start()
    reader.join(timeout=120)  # a hang guard, not a measured threshold
    assert found and found[0].strip() == expected, f"child said {found!r}"


def test_a_runner_killed_mid_run_blocks_nobody_and_its_run_is_marked_failed(
    committed: Database, clock: FrozenClock, settings: Settings
) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", STUCK_CHILD, committed.url, clock.now().isoformat()],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for_line(child, "running")
        holder = lock_holder(committed)
        assert holder is not None and holder.holder == "doomed:1:worker"
    finally:
        child.kill()  # SIGKILL: no cleanup code of the child runs
        child.wait(timeout=60)
        if child.stdout is not None:
            child.stdout.close()

    # SQLite: the kernel drops the child's file lock with the process, so at once.
    # PostgreSQL: the server ends the backend when it sees the socket close, moments later.
    patience = 0.0 if committed.dialect == "sqlite" else 10.0
    give_up = time.monotonic() + patience
    while True:
        result = run_maintenance(committed, clock, settings, "next:2:worker")
        if not result.skipped or time.monotonic() >= give_up:
            break
        time.sleep(0.1)

    assert result.ok, result
    runs = {run.runner: run for run in job_runs(committed)}
    doomed = runs["doomed:1:worker"]
    assert doomed.finished_at is not None
    assert doomed.succeeded is False
    assert doomed.details["errors"] == ["runner died"]
    assert runs["next:2:worker"].succeeded
