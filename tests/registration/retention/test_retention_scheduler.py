"""The maintenance timer and who starts it, /healthz on maintenance, and the operator's
commands."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from gastregister import create_app
from registration.clock import FrozenClock
from registration.config import Settings
from registration.database import Database
from registration.models import HealthCheck, JobRun
from registration.retention import scheduler
from registration.retention.cli import purge, status
from registration.retention.health import purge_health
from registration.retention.lock import exclusive_runner
from registration.retention.services import SKIPPED_RAN_RECENTLY, run_maintenance
from tests import factories
from tests.factories import Venue
from tests.local_servers import wait_until
from tests.registration.retention.retention_helpers import (
    add_checkin,
    checkin_exists,
    finished_runs,
    job_runs,
)


def _thread_names() -> set[str]:
    return {thread.name for thread in threading.enumerate()}


@pytest.mark.parametrize("mode", ["worker", "web", "off"])
def test_building_the_app_starts_no_thread_and_writes_nothing(
    settings: Settings, clock: FrozenClock, committed: Database, mode: str
) -> None:
    before = threading.enumerate()
    app = create_app(
        Settings.from_mapping({"scheduler": mode}, base=settings), clock=clock, database=committed
    )

    assert threading.enumerate() == before
    assert purge_health in app.extensions["gastregister.health_providers"]
    assert scheduler.running_web_timer() is None
    with Session(committed.engine) as session:
        assert session.scalars(select(JobRun)).all() == []
        assert session.scalars(select(HealthCheck)).all() == []


def test_the_web_timer_starts_only_in_web_mode_and_once_per_process(
    settings: Settings, clock: FrozenClock, committed: Database
) -> None:
    worker_mode = create_app(
        Settings.from_mapping({"scheduler": "worker"}, base=settings),
        clock=clock,
        database=committed,
    )
    assert scheduler.start_web_timer(worker_mode) is None
    assert scheduler.start_web_timer(object()) is None, "not our app: nothing to run"

    web = create_app(
        Settings.from_mapping({"scheduler": "web", "purge_interval_minutes": 7}, base=settings),
        clock=clock,
        database=committed,
    )
    timer = scheduler.start_web_timer(web)
    try:
        assert timer is not None and timer.alive
        assert timer.interval == 7 * 60
        assert 1.0 <= timer.first_delay <= 5.0
        assert scheduler.start_web_timer(web) is None, "a second app in the same worker"
        assert scheduler.running_web_timer() is timer
    finally:
        scheduler.stop_web_timer()
    assert not timer.alive
    assert scheduler.running_web_timer() is None


def test_the_scheduled_run_skips_when_another_worker_just_ran(
    committed: Database, place: Venue, clock: FrozenClock, settings: Settings
) -> None:
    first = run_maintenance(committed, clock, settings, "worker-1", only_if_due=True)
    visit = add_checkin(committed.engine, place, clock.now() - dt.timedelta(days=30))
    clock.advance(dt.timedelta(minutes=settings.purge_interval_minutes / 2))
    second = run_maintenance(committed, clock, settings, "worker-2", only_if_due=True)
    clock.advance(dt.timedelta(minutes=settings.purge_interval_minutes / 2))
    third = run_maintenance(committed, clock, settings, "worker-2", only_if_due=True)

    assert first.ok
    assert second.skipped and second.reason == SKIPPED_RAN_RECENTLY
    assert third.ok and third.removed["checkins"] == 1
    assert not checkin_exists(committed.engine, visit)


def test_the_timer_job_never_raises(
    committed: Database, clock: FrozenClock, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings, clock=clock, database=committed)
    broken = Database("sqlite:////nonexistent-dir/gastregister.db")
    scheduler.scheduled_maintenance(app, broken, "worker")
    broken.dispose()
    assert "maintenance run failed" in caplog.text

    scheduler.scheduled_maintenance(app, committed, "worker")
    with Session(committed.engine) as session:
        (run,) = session.scalars(select(JobRun)).all()
    assert run.succeeded and run.runner.endswith(":worker")


def test_the_timer_keeps_running_when_its_job_raises(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    def failing(_stop: threading.Event) -> None:
        calls.append(1)
        raise RuntimeError("boom")

    timer = scheduler.MaintenanceTimer(failing, 0.01, first_delay=0)
    timer.start()
    wait_until(lambda: len(calls) >= 3, interval=0.02)
    assert timer.stop()
    assert "the timer keeps running" in caplog.text


def test_the_timer_keeps_deleting_when_the_clock_jumps_60_days_back_or_forward(
    committed: Database, place: Venue, clock: FrozenClock, settings: Settings
) -> None:
    app = create_app(settings, clock=clock, database=committed)
    timer = scheduler.MaintenanceTimer(
        lambda stop: scheduler.scheduled_maintenance(app, committed, "worker", stop),
        0.05,
        first_delay=0,
    )
    start = clock.now()
    timer.start()
    try:
        wait_until(lambda: finished_runs(committed) == 1, interval=0.02)

        # Each visit is added before the jump, while the last run is still fresh.
        back = add_checkin(committed.engine, place, start - dt.timedelta(days=90))
        clock.set(start - dt.timedelta(days=60))
        wait_until(lambda: finished_runs(committed) == 2, interval=0.02)
        assert not checkin_exists(committed.engine, back)

        forward = add_checkin(committed.engine, place, start + dt.timedelta(days=30))
        clock.set(start + dt.timedelta(days=60))
        wait_until(lambda: finished_runs(committed) == 3, interval=0.02)
        assert not checkin_exists(committed.engine, forward)
        ticks = timer.runs
        wait_until(
            lambda: timer.runs > ticks + 2, interval=0.02
        )  # still ticking, skipping while not due
    finally:
        assert timer.stop()
    runs = job_runs(committed)
    assert [run.succeeded for run in runs] == [True, True, True]
    assert [run.started_at for run in runs] == [
        start,
        start - dt.timedelta(days=60),
        start + dt.timedelta(days=60),
    ]


def _job_run(session: Session, clock: FrozenClock, *, succeeded: bool, age: dt.timedelta) -> None:
    started = clock.now() - age
    factories.job_run(
        session,
        started_at=started,
        finished_at=started,
        succeeded=succeeded,
        runner="host:1:scheduler",
        details={"duration_ms": 1234, "removed": {"checkins": 5}},
    )


@pytest.mark.parametrize(
    ("succeeded", "age", "ok", "problem", "status"),
    [
        (True, dt.timedelta(minutes=5), True, None, 200),
        (False, dt.timedelta(minutes=5), False, "last_run_failed", 200),
        (True, dt.timedelta(minutes=21), False, "overdue", 503),
        (True, dt.timedelta(hours=2), False, "overdue", 503),
    ],
)
def test_healthz_shows_the_last_purge_and_503_once_it_is_overdue(
    client: FlaskClient,
    db_session: Session,
    clock: FrozenClock,
    succeeded: bool,
    age: dt.timedelta,
    ok: bool,
    problem: str | None,
    status: int,
) -> None:
    """Overdue: no successful run within two intervals (10 minutes each by default)."""
    _job_run(db_session, clock, succeeded=succeeded, age=age)
    db_session.commit()

    response = client.get("/healthz")
    body = response.get_json()

    assert response.status_code == status
    assert body["purge"] == {
        "last_run": (clock.now() - age).isoformat(),
        "duration_ms": 1234,
        "removed": {"checkins": 5},
        "ok": ok,
        "last_success": (clock.now() - age).isoformat() if succeeded else None,
        "problem": problem,
    }
    assert body["reasons"] == (["maintenance_overdue"] if status == 503 else [])


def test_a_failed_run_after_a_recent_success_is_reported_but_not_overdue(
    client: FlaskClient, db_session: Session, clock: FrozenClock
) -> None:
    _job_run(db_session, clock, succeeded=True, age=dt.timedelta(minutes=15))
    _job_run(db_session, clock, succeeded=False, age=dt.timedelta(minutes=5))
    db_session.commit()

    response = client.get("/healthz")
    purge_facts = response.get_json()["purge"]

    assert response.status_code == 200
    assert purge_facts["problem"] == "last_run_failed"
    assert purge_facts["last_success"] == (clock.now() - dt.timedelta(minutes=15)).isoformat()


def test_healthz_before_any_purge_waits_two_intervals_then_says_never_ran(
    client: FlaskClient, clock: FrozenClock
) -> None:
    fresh = client.get("/healthz")
    assert fresh.status_code == 200
    assert fresh.get_json()["purge"]["ok"] is False

    clock.advance(dt.timedelta(minutes=21))
    later = client.get("/healthz")

    assert later.status_code == 503
    assert later.get_json()["purge"]["problem"] == "never_ran"
    assert later.get_json()["reasons"] == ["maintenance_overdue"]


@pytest.fixture
def operator_app(committed: Database, settings: Settings, clock: FrozenClock) -> Flask:
    """The app on the real (unbound) database, as `gastregister` builds it."""
    return create_app(settings, clock=clock, database=committed)


def test_purge_command_removes_and_says_what(
    operator_app: Flask, committed: Database, place: Venue, clock: FrozenClock
) -> None:
    visit = add_checkin(committed.engine, place, clock.now() - dt.timedelta(days=29))

    output = operator_app.test_cli_runner().invoke(purge)

    assert output.exit_code == 0, output.output
    assert output.output.startswith("Purge done in ")
    assert "check-ins deleted" in output.output
    assert " 1\n" in output.output
    assert not checkin_exists(committed.engine, visit)


def test_purge_command_honours_the_lock(
    operator_app: Flask, committed: Database, place: Venue, clock: FrozenClock
) -> None:
    visit = add_checkin(committed.engine, place, clock.now() - dt.timedelta(days=29))
    with exclusive_runner(committed, "elsewhere") as lock:
        assert lock is not None
        output = operator_app.test_cli_runner().invoke(purge)

    assert output.exit_code == 0
    assert output.output.startswith("Skipped: lock held")
    assert checkin_exists(committed.engine, visit)


def test_status_command_shows_last_run_next_run_and_lock(
    operator_app: Flask, committed: Database, clock: FrozenClock, settings: Settings
) -> None:
    cli = operator_app.test_cli_runner()
    before = cli.invoke(status)
    assert "Last run:      never" in before.output

    run_maintenance(committed, clock, settings, "host:1:cli")
    with exclusive_runner(committed, "host:2:scheduler"):
        during = cli.invoke(status)
    after = cli.invoke(status)

    assert after.exit_code == 0, after.output
    lines = after.output.splitlines()
    assert lines[0].startswith("Last run:      2026-11-20 12:00:00 CET by host:1:cli, succeeded")
    assert lines[1].startswith("Removed:       0 check-ins deleted")
    assert any(line.startswith("Next planned:  scheduler off") for line in lines)
    assert "Running:" not in "\n".join(lines)
    assert "Lock:          free" in lines
    assert "Lock:          held by host:2:scheduler" in during.output
    if committed.dialect == "postgresql":
        assert any(line.startswith("Partitions:") and "days" in line for line in lines)


def test_a_run_dated_in_the_future_does_not_stop_the_next_run(
    committed: Database, place: Venue, clock: FrozenClock, settings: Settings
) -> None:
    """One run recorded by a clock 60 days ahead must not count as "ran recently"."""
    ahead = FrozenClock(clock.now() + dt.timedelta(days=60))
    first = run_maintenance(committed, ahead, settings, "wrong-clock:1:scheduler", only_if_due=True)
    visit = add_checkin(committed.engine, place, clock.now() - dt.timedelta(days=30))

    second = run_maintenance(committed, clock, settings, "worker-2", only_if_due=True)

    assert first.ok
    assert second.ok and second.removed["checkins"] == 1
    assert not checkin_exists(committed.engine, visit)


def test_healthz_reports_a_run_dated_in_the_future(
    client: FlaskClient, db_session: Session, clock: FrozenClock
) -> None:
    _job_run(db_session, clock, succeeded=True, age=-dt.timedelta(days=60))
    db_session.commit()

    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.get_json()
    assert "clock_skew" in body["reasons"]
    assert body["purge"]["problem"] == "run_dated_in_future"
    assert body["purge"]["ok"] is False


def test_after_a_run_dated_in_the_future_the_next_run_makes_healthz_ok_again(
    committed: Database, settings: Settings, clock: FrozenClock
) -> None:
    app = create_app(settings, clock=clock, database=committed)
    ahead = FrozenClock(clock.now() + dt.timedelta(days=60))
    run_maintenance(committed, ahead, settings, "wrong-clock:1:worker", only_if_due=True)
    assert app.test_client().get("/healthz").status_code == 503

    after = run_maintenance(committed, clock, settings, "worker-2", only_if_due=True)
    response = app.test_client().get("/healthz")

    assert after.ok
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["purge"]["problem"] is None


def test_a_stop_request_ends_a_run_at_a_batch_boundary_and_records_it(
    committed: Database, place: Venue, clock: FrozenClock, settings: Settings
) -> None:
    """SIGTERM to the worker: the run ends between batches, finished and marked failed,
    so the next run starts cleanly and nothing is left "running"."""
    stop = threading.Event()
    visit = add_checkin(committed.engine, place, clock.now() - dt.timedelta(days=40))
    stop.set()

    stopped = run_maintenance(committed, clock, settings, "worker-1", stop=stop)

    assert stopped.status == "failed"
    assert stopped.errors == ["requests: stopped"]
    assert checkin_exists(committed.engine, visit)
    (run,) = job_runs(committed)
    assert run.finished_at is not None and not run.succeeded
    assert run_maintenance(committed, clock, settings, "worker-1").ok
    assert not checkin_exists(committed.engine, visit)


@pytest.mark.parametrize(
    ("mode", "who"), [("worker", "by `gastregister worker`"), ("web", "by the web workers")]
)
def test_status_says_who_runs_the_next_run(
    committed: Database, settings: Settings, clock: FrozenClock, mode: str, who: str
) -> None:
    app = create_app(
        Settings.from_mapping({"scheduler": mode}, base=settings), clock=clock, database=committed
    )
    output = app.test_cli_runner().invoke(status).output
    assert f"(every 10 minutes, {who})" in output
