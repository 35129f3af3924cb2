"""The scheduler inside the service, /healthz, and the operator's commands."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from retention_helpers import Place, add_checkin, checkin_exists
from sqlalchemy import select
from sqlalchemy.orm import Session

from registration import create_app
from registration.clock import FrozenClock
from registration.config import Settings
from registration.database import Database
from registration.models import JobRun
from registration.retention import scheduler
from registration.retention.cli import purge, status
from registration.retention.lock import exclusive_runner
from registration.retention.services import SKIPPED_RAN_RECENTLY, run_maintenance


@pytest.fixture
def no_scheduler_left() -> Iterator[None]:
    scheduler.stop_scheduler()
    yield
    scheduler.stop_scheduler()


def test_tests_and_disabled_deployments_start_no_scheduler(
    app: Flask, no_scheduler_left: None
) -> None:
    assert scheduler.running_scheduler() is None
    assert scheduler.purge_health in app.extensions["gastregister.health_providers"]


def test_the_scheduler_starts_once_per_process(
    settings: Settings, clock: FrozenClock, database: Database, no_scheduler_left: None
) -> None:
    enabled = Settings.from_mapping(
        {"scheduler_enabled": True, "purge_interval_minutes": 7}, base=settings
    )
    first = create_app(enabled, clock=clock, database=database)
    create_app(enabled, clock=clock, database=database)  # a second app in the same worker

    running = scheduler.running_scheduler()
    assert running is not None and running.running
    jobs = running.get_jobs()
    assert [job.id for job in jobs] == [scheduler.JOB_ID]
    assert jobs[0].trigger.interval == dt.timedelta(minutes=7)
    assert scheduler.start_scheduler(first, enabled) is None
    assert scheduler.purge_health in first.extensions["gastregister.health_providers"]


def test_the_scheduled_run_skips_when_another_worker_just_ran(
    committed: Database, place: Place, clock: FrozenClock, settings: Settings
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


def test_the_scheduler_job_never_raises(
    committed: Database, clock: FrozenClock, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    broken = Database("sqlite:////nonexistent-dir/gastregister.db")
    scheduler.scheduled_maintenance(create_app(settings, clock=clock, database=broken), settings)
    broken.dispose()
    assert "maintenance run failed" in caplog.text

    scheduler.scheduled_maintenance(create_app(settings, clock=clock, database=committed), settings)
    with Session(committed.engine) as session:
        (run,) = session.scalars(select(JobRun)).all()
    assert run.succeeded and run.runner.endswith(":scheduler")


def _job_run(clock: FrozenClock, *, succeeded: bool, age: dt.timedelta) -> JobRun:
    started = clock.now() - age
    return JobRun(
        job="maintenance",
        started_at=started,
        finished_at=started,
        succeeded=succeeded,
        runner="host:1:scheduler",
        details={"duration_ms": 1234, "removed": {"checkins": 5}},
    )


@pytest.mark.parametrize(
    ("succeeded", "age", "ok"),
    [
        (True, dt.timedelta(minutes=5), True),
        (False, dt.timedelta(minutes=5), False),
        (True, dt.timedelta(hours=2), False),
    ],
)
def test_healthz_shows_the_last_purge(
    client: FlaskClient,
    db_session: Session,
    clock: FrozenClock,
    succeeded: bool,
    age: dt.timedelta,
    ok: bool,
) -> None:
    db_session.add(_job_run(clock, succeeded=succeeded, age=age))
    db_session.commit()

    body = client.get("/healthz").get_json()

    assert body["purge"] == {
        "last_run": (clock.now() - age).isoformat(),
        "duration_ms": 1234,
        "removed": {"checkins": 5},
        "ok": ok,
    }


def test_healthz_before_any_purge_says_not_ok(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json()["purge"]["ok"] is False


@pytest.fixture
def operator_app(committed: Database, settings: Settings, clock: FrozenClock) -> Flask:
    """The app on the real (unbound) database, as `gastregister` builds it."""
    return create_app(settings, clock=clock, database=committed)


def test_purge_command_removes_and_says_what(
    operator_app: Flask, committed: Database, place: Place, clock: FrozenClock
) -> None:
    visit = add_checkin(committed.engine, place, clock.now() - dt.timedelta(days=29))

    output = operator_app.test_cli_runner().invoke(purge)

    assert output.exit_code == 0, output.output
    assert output.output.startswith("Purge done in ")
    assert "check-ins deleted" in output.output
    assert " 1\n" in output.output
    assert not checkin_exists(committed.engine, visit)


def test_purge_command_honours_the_lock(
    operator_app: Flask, committed: Database, place: Place, clock: FrozenClock
) -> None:
    visit = add_checkin(committed.engine, place, clock.now() - dt.timedelta(days=29))
    with exclusive_runner(committed, clock, "elsewhere") as lock:
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
    with exclusive_runner(committed, clock, "host:2:scheduler"):
        during = cli.invoke(status)
    after = cli.invoke(status)

    assert after.exit_code == 0, after.output
    lines = after.output.splitlines()
    assert lines[0].startswith("Last run:      2026-11-20 12:00:00 CET by host:1:cli, succeeded")
    assert lines[1].startswith("Removed:       0 check-ins deleted")
    assert any(line.startswith("Next planned:  scheduler off") for line in lines)
    assert "Lock:          free" in lines
    assert "Lock:          held by host:2:scheduler" in during.output
    if committed.dialect == "postgresql":
        assert any(line.startswith("Partitions:") and "days" in line for line in lines)
