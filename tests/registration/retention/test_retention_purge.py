"""What is deleted, and when: the retention rules with a clock the test can set."""

from __future__ import annotations

import datetime as dt
import math
import sys
import threading
import time
import types
import uuid
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from registration.audit import all_events, record_event, verify_chain
from registration.checkin import lookup, storage
from registration.clock import FrozenClock
from registration.config import Settings
from registration.database import Database
from registration.models import (
    Area,
    AuditEvent,
    CheckIn,
    CheckInSource,
    ExportPackage,
    JobRun,
    TraceRequest,
    TraceRequestNote,
    TraceRequestNoteKind,
    TraceRequestState,
)
from registration.retention import partitions, sqlite_batches
from registration.retention.checkins import close_overdue_checkins, purge_expired_checkins
from registration.retention.office_data import REDACTED
from registration.retention.services import run_maintenance
from tests import factories
from tests.factories import Venue
from tests.registration.retention.retention_helpers import (
    add_checkin,
    checkin_exists,
    count_checkins,
    with_retention,
)

SECOND = dt.timedelta(seconds=1)


@pytest.mark.parametrize("retention_days", [28, 7])
def test_a_visit_is_there_until_its_retention_ends_and_gone_just_after(
    committed: Database, place: Venue, clock: FrozenClock, settings: Settings, retention_days: int
) -> None:
    settings = with_retention(settings, retention_days)
    arrival = clock.now() - dt.timedelta(hours=3)
    visit = add_checkin(committed.engine, place, arrival)
    neighbour = add_checkin(committed.engine, place, arrival + SECOND)
    end_of_retention = arrival + dt.timedelta(days=retention_days)

    clock.set(end_of_retention - SECOND)
    before = run_maintenance(committed, clock, settings, "test")
    assert before.ok, before.errors
    assert checkin_exists(committed.engine, visit)
    assert before.removed["checkins"] == 0

    clock.set(end_of_retention + SECOND)
    after = run_maintenance(committed, clock, settings, "test")
    assert after.ok, after.errors
    assert not checkin_exists(committed.engine, visit)
    assert checkin_exists(committed.engine, neighbour)
    assert after.removed["checkins"] == 1


def test_a_visit_delivered_late_is_purged_by_its_arrival_not_its_receipt(
    committed: Database, place: Venue, clock: FrozenClock, settings: Settings
) -> None:
    """A phone delivers a check-in 27 days after the visit: it is stored (on PostgreSQL
    in the partition of its arrival day, which still exists) and deleted a day later,
    when the visit's retention ends, not four weeks after it reached the server."""
    if committed.dialect == "postgresql":
        partitions.ensure_partitions(committed.engine, clock, settings)
    arrival = clock.now() - dt.timedelta(days=27)
    with committed.sessionmaker() as session:
        receipt = storage.store_checkin(
            session,
            clock,
            settings,
            target=lookup.AreaTarget.of(session.get_one(Area, place.area.id)),
            envelope=place.seal(),
            persons=1,
            source=CheckInSource.GUEST_PAGE,
            arrival=arrival,
            idempotency_key=str(uuid.uuid4()),
        )
    with committed.engine.connect() as connection:
        late = connection.execute(
            select(CheckIn.delivered_late, CheckIn.received_at).where(CheckIn.id == receipt.id)
        ).one()
        if committed.dialect == "postgresql":
            home = connection.scalar(
                text("SELECT tableoid::regclass::text FROM checkins WHERE id = :id"),
                {"id": receipt.id},
            )
            assert home == partitions.partition_name(arrival.date())
    assert late.delivered_late is True

    end_of_retention = arrival + dt.timedelta(days=settings.retention_days)
    clock.set(end_of_retention - SECOND)
    assert run_maintenance(committed, clock, settings, "test").removed["checkins"] == 0
    clock.set(end_of_retention + SECOND)
    after = run_maintenance(committed, clock, settings, "test")
    assert after.ok, after.errors
    assert after.removed["checkins"] == 1
    assert count_checkins(committed.engine) == 0


def test_each_run_is_recorded_for_the_operator(
    committed: Database, place: Venue, clock: FrozenClock, settings: Settings
) -> None:
    add_checkin(committed.engine, place, clock.now() - dt.timedelta(days=40))
    result = run_maintenance(committed, clock, settings, "host:1:test")
    with Session(committed.engine) as session:
        runs = session.scalars(select(JobRun)).all()
    assert [run.id for run in runs] == [result.job_run_id]
    (run,) = runs
    assert run.job == "maintenance"
    assert run.runner == "host:1:test"
    assert run.succeeded
    assert run.finished_at == clock.now()
    assert run.details["removed"]["checkins"] == 1
    assert run.details["duration_ms"] == result.duration_ms


def test_overdue_visits_get_their_automatic_departure(
    committed: Database, place: Venue, clock: FrozenClock
) -> None:
    now = clock.now()
    overdue = add_checkin(committed.engine, place, now - dt.timedelta(hours=3))
    exactly_due = add_checkin(
        committed.engine, place, now - dt.timedelta(hours=1), stay=dt.timedelta(hours=1)
    )
    present = add_checkin(committed.engine, place, now - dt.timedelta(minutes=30))
    left_early = now - dt.timedelta(hours=2, minutes=30)
    checked_out = add_checkin(
        committed.engine, place, now - dt.timedelta(hours=3), departure=left_early
    )

    assert close_overdue_checkins(committed.engine, clock) == 2

    with Session(committed.engine) as session:
        departures = {c.id: c.departure for c in session.scalars(select(CheckIn)).all()}
    assert departures[overdue.id] == overdue.auto_departure
    assert departures[exactly_due.id] == now
    assert departures[present.id] is None
    assert departures[checked_out.id] == left_early


def _office_and_request(
    engine: Engine, place: Venue, clock: FrozenClock, **fields: object
) -> tuple[int, int]:
    with Session(engine) as session:
        office = factories.health_office(session)
        now = clock.now()
        values: dict[str, object] = {
            "window_start": now - dt.timedelta(days=3),
            "window_end": now - dt.timedelta(days=2),
            "case_reference": "AZ 2026/4711",
            "reason": "Indexfall Tisch 1",
            "state": TraceRequestState.RELEASED,
            "release_deadline": now + dt.timedelta(days=1),
        }
        values.update(fields)
        request = factories.trace_request(session, office, place.location, now=now, **values)
        session.commit()
        return office.id, request.id


def _add_package(engine: Engine, request_id: int, expires_at: dt.datetime) -> uuid.UUID:
    with Session(engine) as session:
        request = session.get(TraceRequest, request_id)
        assert request is not None
        package = factories.export_package(
            session, request, expires_at=expires_at, content=factories.stand_in_envelope(4096)
        )
        session.commit()
        return package.id


def _package_ids(engine: Engine) -> set[uuid.UUID]:
    with Session(engine) as session:
        return set(session.scalars(select(ExportPackage.id)).all())


def test_export_packages_go_when_expired_or_their_request_is_finished(
    committed: Database, place: Venue, clock: FrozenClock, settings: Settings
) -> None:
    engine = committed.engine
    now = clock.now()
    _, released = _office_and_request(engine, place, clock)
    _, released_too = _office_and_request(engine, place, clock)
    _, closed = _office_and_request(
        engine, place, clock, state=TraceRequestState.CLOSED, closed_at=now
    )
    _, aborted = _office_and_request(
        engine, place, clock, state=TraceRequestState.ABORTED, aborted_at=now
    )
    _, old_window = _office_and_request(
        engine,
        place,
        clock,
        window_start=now - dt.timedelta(days=28, hours=1),
        window_end=now - dt.timedelta(days=27),
    )
    waiting = _add_package(engine, released, now + dt.timedelta(days=1))
    expired = _add_package(engine, released_too, now - SECOND)
    _add_package(engine, closed, now + dt.timedelta(days=6))
    _add_package(engine, aborted, now + dt.timedelta(days=6))
    _add_package(engine, old_window, now + dt.timedelta(days=6))

    result = run_maintenance(committed, clock, settings, "test")

    assert result.ok, result.errors
    assert result.removed["export_packages"] == 4
    assert _package_ids(engine) == {waiting}
    assert expired not in _package_ids(engine)


def test_finished_requests_lose_case_reference_and_reason_after_retention(
    committed: Database, place: Venue, clock: FrozenClock, settings: Settings
) -> None:
    engine = committed.engine
    now = clock.now()
    retention = dt.timedelta(days=settings.retention_days)
    _, old_closed = _office_and_request(
        engine, place, clock, state=TraceRequestState.CLOSED, closed_at=now - retention - SECOND
    )
    _, old_expired = _office_and_request(
        engine, place, clock, state=TraceRequestState.EXPIRED, expired_at=now - retention - SECOND
    )
    _, recent_closed = _office_and_request(
        engine, place, clock, state=TraceRequestState.CLOSED, closed_at=now - retention + SECOND
    )
    _, still_open = _office_and_request(
        engine, place, clock, created_at=now - retention - dt.timedelta(days=5)
    )

    result = run_maintenance(committed, clock, settings, "test")
    again = run_maintenance(committed, clock, settings, "test")

    assert result.removed["trace_requests_redacted"] == 2
    assert again.removed["trace_requests_redacted"] == 0
    with Session(engine) as session:
        requests = {r.id: r for r in session.scalars(select(TraceRequest)).all()}
    assert len(requests) == 4, "the request rows stay for the audit trail"
    for redacted in (old_closed, old_expired):
        assert requests[redacted].case_reference == REDACTED
        assert requests[redacted].reason == REDACTED
    for kept in (recent_closed, still_open):
        assert requests[kept].case_reference == "AZ 2026/4711"
        assert requests[kept].reason == "Indexfall Tisch 1"


def test_audit_entries_are_kept_for_the_longer_audit_period_and_the_chain_holds(
    committed: Database, clock: FrozenClock, settings: Settings
) -> None:
    engine = committed.engine
    now = clock.now()
    audit_period = dt.timedelta(days=settings.audit_retention_days)
    ages = [audit_period + dt.timedelta(days=2), audit_period + SECOND, audit_period - SECOND]
    ages += [dt.timedelta(days=settings.retention_days + 1), dt.timedelta(0)]
    with Session(engine) as session:
        for age in ages:
            record_event(session, FrozenClock(now - age), action="test.event", details={"n": 1})
        session.commit()

    result = run_maintenance(committed, clock, settings, "test")

    assert result.removed["audit_events"] == 2
    with Session(engine) as session:
        kept = session.scalars(select(AuditEvent.occurred_at).order_by(AuditEvent.id)).all()
        report = verify_chain(all_events(session))
    assert kept == [(now - age).replace(microsecond=0) for age in ages[2:]]
    assert report.intact
    assert report.checked == 3


def test_health_office_request_jobs_run_with_the_maintenance(
    committed: Database, clock: FrozenClock, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dt.datetime] = []

    def run_request_jobs(
        session: Session, clock: FrozenClock, settings: Settings
    ) -> dict[str, int]:
        calls.append(clock.now())
        session.execute(text("SELECT 1"))
        return {"expired": 2, "auto_released": 1}

    fake = types.ModuleType("registration.tracing.jobs")
    fake.run_request_jobs = run_request_jobs  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "registration.tracing.jobs", fake)

    result = run_maintenance(committed, clock, settings, "test")

    assert calls == [clock.now()]
    assert result.details["requests"] == {"expired": 2, "auto_released": 1}


def test_a_failing_rule_does_not_stop_the_others(
    committed: Database,
    place: Venue,
    clock: FrozenClock,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*_args: object) -> dict[str, int]:
        raise RuntimeError("health office jobs broke")

    fake = types.ModuleType("registration.tracing.jobs")
    fake.run_request_jobs = broken  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "registration.tracing.jobs", fake)
    visit = add_checkin(committed.engine, place, clock.now() - dt.timedelta(days=30))

    result = run_maintenance(committed, clock, settings, "test")

    assert result.status == "failed"
    assert result.errors == ["requests: RuntimeError"]
    assert not checkin_exists(committed.engine, visit)
    with Session(committed.engine) as session:
        run = session.get(JobRun, result.job_run_id)
        assert run is not None
        assert not run.succeeded
        assert run.details["errors"] == ["requests: RuntimeError"]


# --- the bytes on disk -------------------------------------------------------------------


def _sqlite_files(database: Database) -> list[Path]:
    path = Path(database.url.removeprefix("sqlite:///"))
    return [path, path.with_name(path.name + "-wal")]


def _sqlite_bytes(database: Database) -> bytes:
    return b"".join(p.read_bytes() for p in _sqlite_files(database) if p.exists())


@pytest.mark.sqlite_only
def test_sqlite_file_and_wal_keep_no_byte_of_a_purged_envelope(
    committed: Database, place: Venue, clock: FrozenClock, settings: Settings
) -> None:
    arrival = clock.now() - dt.timedelta(days=2)
    envelopes = [
        factories.stand_in_envelope(),
        factories.stand_in_envelope(6000),
    ]  # one inline, one on overflow pages
    for envelope in envelopes:
        add_checkin(committed.engine, place, arrival, envelope=envelope)
    kept_envelope = factories.stand_in_envelope()
    add_checkin(committed.engine, place, clock.now(), envelope=kept_envelope)
    on_disk = _sqlite_bytes(committed)
    assert all(envelope[1:33] in on_disk for envelope in envelopes)

    clock.advance(dt.timedelta(days=settings.retention_days))
    result = run_maintenance(committed, clock, settings, "test")

    assert result.removed["checkins"] == 2
    assert result.details["wal_checkpoint"] == "truncated"
    # The WAL was truncated by the checkpoint; it may hold writes made since (the run's
    # own JobRun row, kept open by pooled connections). What counts is the byte search.
    database_file, _wal_file = _sqlite_files(committed)
    on_disk = _sqlite_bytes(committed)
    for envelope in envelopes:
        assert envelope[1:33] not in on_disk
        assert envelope[-32:] not in on_disk
    assert kept_envelope[1:33] in on_disk, "the search would have found a remaining envelope"
    assert database_file.stat().st_size > 0


def _relation_bytes(connection: object, relation: str) -> tuple[str, bytes]:
    """The relation's file as PostgreSQL wrote it (superuser; CHECKPOINT flushes buffers)."""
    connection.execute(text("CHECKPOINT"))  # type: ignore[attr-defined]
    path = connection.scalar(text("SELECT pg_relation_filepath(:r)"), {"r": relation})  # type: ignore[attr-defined]
    return path, _file_bytes(connection, path)


def _file_bytes(connection: object, path: str) -> bytes:
    """The file's bytes, or nothing once PostgreSQL has removed it."""
    content = connection.scalar(  # type: ignore[attr-defined]
        text(
            "SELECT CASE WHEN (pg_stat_file(CAST(:path AS text), true)).size IS NULL THEN NULL "
            "ELSE pg_read_binary_file(CAST(:path AS text)) END"
        ),
        {"path": path},
    )
    return bytes(content) if content is not None else b""


def _toast_of(connection: object, relation: str) -> str:
    return str(
        connection.scalar(  # type: ignore[attr-defined]
            text("SELECT reltoastrelid::regclass::text FROM pg_class WHERE oid = to_regclass(:r)"),
            {"r": relation},
        )
    )


@pytest.mark.postgres
def test_postgres_expired_day_partition_is_dropped_with_its_files(
    committed: Database, place: Venue, clock: FrozenClock, settings: Settings
) -> None:
    day = (clock.now() - dt.timedelta(days=2)).date()
    partitions.ensure_partitions(committed.engine, clock, settings)
    arrival = partitions.day_start(day) + dt.timedelta(hours=10)
    small, toasted = factories.stand_in_envelope(), factories.stand_in_envelope(8000)
    add_checkin(committed.engine, place, arrival, envelope=small)
    add_checkin(committed.engine, place, arrival, envelope=toasted)
    name = partitions.partition_name(day)
    with committed.engine.connect() as connection:
        heap_path, heap = _relation_bytes(connection, name)
        toast_path, toast = _relation_bytes(connection, _toast_of(connection, name))
    assert small[1:33] in heap
    assert toasted[1:33] in toast

    clock.set(partitions.day_start(day + dt.timedelta(days=1 + settings.retention_days)))
    result = run_maintenance(committed, clock, settings, "test")

    assert result.ok, result.errors
    assert result.removed["checkins"] == 2
    assert name in result.details["partitions"]["dropped"]
    with committed.engine.connect() as connection:
        assert connection.scalar(text("SELECT to_regclass(:r)"), {"r": name}) is None
        connection.execute(text("CHECKPOINT"))
        assert small[1:33] not in _file_bytes(connection, heap_path)
        assert toasted[1:33] not in _file_bytes(connection, toast_path)
        remaining = connection.scalar(
            text("SELECT count(*) FROM checkins WHERE arrival < :cutoff"), {"cutoff": clock.now()}
        )
    assert remaining == 0


@pytest.mark.postgres
def test_postgres_boundary_day_is_deleted_and_rewritten(
    committed: Database, place: Venue, clock: FrozenClock, settings: Settings
) -> None:
    day = (clock.now() - dt.timedelta(days=2)).date()
    partitions.ensure_partitions(committed.engine, clock, settings)
    morning = partitions.day_start(day) + dt.timedelta(hours=8)
    expired_envelope, kept_envelope = factories.stand_in_envelope(), factories.stand_in_envelope()
    expired = add_checkin(committed.engine, place, morning, envelope=expired_envelope)
    kept = add_checkin(
        committed.engine, place, morning + dt.timedelta(hours=10), envelope=kept_envelope
    )
    name = partitions.partition_name(day)
    with committed.engine.connect() as connection:
        _, before = _relation_bytes(connection, name)
    assert expired_envelope[1:33] in before

    clock.set(morning + dt.timedelta(days=settings.retention_days, hours=1))
    result = run_maintenance(committed, clock, settings, "test")

    assert result.ok, result.errors
    assert result.removed["checkins"] == 1
    assert name in result.details["partitions"]["rewritten"]
    assert not checkin_exists(committed.engine, expired)
    assert checkin_exists(committed.engine, kept)
    with committed.engine.connect() as connection:
        _, after = _relation_bytes(connection, name)
    assert expired_envelope[1:33] not in after
    assert kept_envelope[1:33] in after, "the search would have found a remaining envelope"


# --- scale: partitions ahead, nothing held back ------------------------------------------


@pytest.mark.postgres
def test_postgres_partitions_exist_ahead_and_expired_ones_are_gone(
    committed: Database, clock: FrozenClock, settings: Settings
) -> None:
    for step in (dt.timedelta(days=90), dt.timedelta(days=3)):
        clock.advance(step)
        result = run_maintenance(committed, clock, settings, "test")
        assert result.ok, result.errors
        with committed.engine.connect() as connection:
            days = set(partitions.day_partitions(connection))
        first, last = partitions.wanted_days(clock, settings)
        wanted = {first + dt.timedelta(days=n) for n in range((last - first).days + 1)}
        assert wanted <= days
        assert last == (clock.now() + dt.timedelta(days=partitions.DAYS_AHEAD)).date()
        assert not {day for day in days if day < first}, "expired days are dropped"


@pytest.mark.postgres
def test_postgres_rows_in_the_default_partition_move_to_their_new_day(
    committed: Database, place: Venue, clock: FrozenClock, settings: Settings
) -> None:
    far_day = dt.date(2031, 1, 15)
    arrival = partitions.day_start(far_day) + dt.timedelta(hours=12)
    visit = add_checkin(committed.engine, place, arrival)

    def home() -> str:
        with committed.engine.connect() as connection:
            return str(
                connection.scalar(
                    text("SELECT tableoid::regclass::text FROM checkins WHERE id = :id"),
                    {"id": visit.id},
                )
            )

    assert home() == partitions.DEFAULT_PARTITION
    report = partitions.ensure_partitions(committed.engine, FrozenClock(arrival), settings)
    assert partitions.partition_name(far_day) in report.created
    assert report.moved_from_default == 1
    assert home() == partitions.partition_name(far_day)
    assert checkin_exists(committed.engine, visit)


@pytest.mark.postgres
def test_postgres_checkins_table_is_partitioned_by_arrival_with_a_default(
    database: Database,
) -> None:
    with database.engine.connect() as connection:
        assert partitions.is_partitioned(connection)
        key = connection.scalar(text("SELECT pg_get_partkeydef(to_regclass('checkins'))"))
        default = connection.scalar(
            text(
                "SELECT c.relname FROM pg_partitioned_table p JOIN pg_class c "
                "ON c.oid = p.partdefid WHERE p.partrelid = to_regclass('checkins')"
            )
        )
        indexes = set(
            connection.scalars(
                text(
                    "SELECT indexname FROM pg_indexes WHERE tablename = 'checkins' "
                    "AND schemaname = current_schema()"
                )
            ).all()
        )
    assert key == "RANGE (arrival)"
    assert default == partitions.DEFAULT_PARTITION
    assert indexes == {
        "pk_checkins",
        "uq_checkins_idempotency",
        "ix_checkins_area_open",
        "ix_checkins_location_arrival",
    }


def test_a_big_purge_removes_every_expired_visit_in_batches(
    committed: Database, place: Venue, clock: FrozenClock, settings: Settings
) -> None:
    expired_rows = 5_000
    _bulk_expired(committed, place, clock, settings, expired_rows)
    fresh = add_checkin(committed.engine, place, clock.now())

    result = run_maintenance(committed, clock, settings, "test")

    assert result.ok, result.errors
    assert result.removed["checkins"] == expired_rows
    assert count_checkins(committed.engine) == 1
    assert checkin_exists(committed.engine, fresh)


def _bulk_expired(
    committed: Database, place: Venue, clock: FrozenClock, settings: Settings, rows: int
) -> None:
    """Expired visits spread over three days before the cut-off."""
    start = clock.now() - dt.timedelta(days=settings.retention_days + 3)
    if committed.dialect == "postgresql":
        partitions.ensure_partitions(committed.engine, FrozenClock(start), settings)
    step = dt.timedelta(days=3) / rows
    with Session(committed.engine) as session:
        session.add_all(
            factories.build_checkin(
                place.area,
                place.key,
                arrival=start + n * step,
                envelope=factories.stand_in_envelope(),  # sealing 20,000 adds nothing here
            )
            for n in range(rows)
        )
        session.commit()


def test_checkins_arriving_during_a_big_purge_all_succeed(
    committed: Database, place: Venue, clock: FrozenClock, settings: Settings
) -> None:
    expired_rows = 20_000
    _bulk_expired(committed, place, clock, settings, expired_rows)
    other_place = factories.add_venue(committed.engine, name="Café am Markt", now=clock.now())
    purge_started = threading.Event()
    purge_done = threading.Event()
    failures: list[BaseException] = []
    inserted: list[int] = []
    during_purge: list[int] = []

    def guest_checkins(target: Venue) -> None:
        total = during = 0
        while not purge_done.is_set():
            running = purge_started.is_set() and not purge_done.is_set()
            try:
                with Session(committed.engine) as session:
                    factories.checkin(session, target.area, target.key, arrival=clock.now())
                    session.commit()
            except BaseException as exc:  # every failure is the finding
                failures.append(exc)
                return
            total += 1
            during += running
            # A few ms between one guest's check-ins (still ~600/s for three guests): a
            # thread that re-takes SQLite's write lock the instant it frees it starves
            # the others' sleeping busy handlers, which no real request loop does.
            time.sleep(0.005)
        inserted.append(total)
        during_purge.append(during)

    guests = [
        threading.Thread(target=guest_checkins, args=(target,))
        for target in (place, other_place, place)
    ]
    for guest in guests:
        guest.start()
    purge_started.set()
    try:
        result = run_maintenance(committed, clock, settings, "test")
    finally:
        purge_done.set()
        for guest in guests:
            guest.join(timeout=120)

    assert failures == []
    assert result.ok, result.errors
    assert result.removed["checkins"] == expired_rows
    assert len(during_purge) == 3 and sum(during_purge) >= 1
    assert count_checkins(committed.engine) == sum(inserted), "every guest's check-in is kept"


@pytest.mark.postgres
def test_postgres_boundary_day_leaves_no_bytes_even_with_an_older_snapshot_open(
    committed: Database, place: Venue, clock: FrozenClock, settings: Settings
) -> None:
    """An open snapshot elsewhere in the database (an ANALYZE, a long report) makes
    VACUUM FULL keep a deleted row; the rebuilt partition must not."""
    day = (clock.now() - dt.timedelta(days=2)).date()
    partitions.ensure_partitions(committed.engine, clock, settings)
    morning = partitions.day_start(day) + dt.timedelta(hours=8)
    expired_envelope, kept_envelope = factories.stand_in_envelope(), factories.stand_in_envelope()
    add_checkin(committed.engine, place, morning, envelope=expired_envelope)
    add_checkin(committed.engine, place, morning + dt.timedelta(hours=10), envelope=kept_envelope)
    name = partitions.partition_name(day)

    with committed.engine.connect() as reader:
        reader.execution_options(isolation_level="REPEATABLE READ")
        reader.execute(text("SELECT count(*) FROM job_runs"))  # snapshot taken, held open
        clock.set(morning + dt.timedelta(days=settings.retention_days, hours=1))
        result = run_maintenance(committed, clock, settings, "test")
        assert result.ok, result.errors
        with committed.engine.connect() as connection:
            _, after = _relation_bytes(connection, name)
        reader.rollback()

    assert result.removed["checkins"] == 1
    assert expired_envelope[1:33] not in after
    assert kept_envelope[1:33] in after, "the search would have found a remaining envelope"


def test_a_declined_request_loses_its_notes_with_its_reason_after_retention(
    committed: Database, place: Venue, clock: FrozenClock, settings: Settings
) -> None:
    """The owner's reason and the office's answers are free text: blanked like the reason."""
    engine = committed.engine
    now = clock.now()
    retention = dt.timedelta(days=settings.retention_days)
    _, old_declined = _office_and_request(
        engine, place, clock, state=TraceRequestState.DECLINED, declined_at=now - retention - SECOND
    )
    _, recent_declined = _office_and_request(
        engine, place, clock, state=TraceRequestState.DECLINED, declined_at=now - retention + SECOND
    )
    with Session(engine) as session:
        for request_id in (old_declined, recent_declined):
            session.add(
                TraceRequestNote(
                    trace_request_id=request_id,
                    kind=TraceRequestNoteKind.DECLINE_REASON,
                    text="Herr M. war nicht da",
                    created_at=now - retention,
                )
            )
        session.commit()

    result = run_maintenance(committed, clock, settings, "test")

    assert result.ok, result.errors
    assert result.removed["trace_requests_redacted"] == 1
    with Session(engine) as session:
        notes = {
            note.trace_request_id: note.text for note in session.scalars(select(TraceRequestNote))
        }
        old = session.get(TraceRequest, old_declined)
        assert old is not None and old.reason == REDACTED
    assert notes == {old_declined: REDACTED, recent_declined: "Herr M. war nicht da"}


@pytest.mark.sqlite_only
def test_sqlite_purge_deletes_expired_visits_whatever_their_table_order(
    committed: Database, place: Venue, clock: FrozenClock, settings: Settings
) -> None:
    """The SQLite purge deletes by rowid ranges: visits stored out of arrival order (a
    late staff entry, a fresh visit before old ones) are still each deleted on time,
    and a visit one second inside the retention period stays."""
    cutoff = clock.now() - dt.timedelta(days=settings.retention_days)
    fresh_first = add_checkin(committed.engine, place, clock.now() - dt.timedelta(hours=1))
    _bulk_expired(committed, place, clock, settings, 3_000)
    just_kept = add_checkin(committed.engine, place, cutoff + SECOND)
    late_entry = add_checkin(committed.engine, place, cutoff - dt.timedelta(days=5))
    other_place = factories.add_venue(committed.engine, name="Café am Markt", now=clock.now())
    late_elsewhere = add_checkin(committed.engine, other_place, cutoff - SECOND)

    result = run_maintenance(committed, clock, settings, "test")

    assert result.ok, result.errors
    assert result.removed["checkins"] == 3_002
    assert count_checkins(committed.engine) == 2
    assert checkin_exists(committed.engine, fresh_first)
    assert checkin_exists(committed.engine, just_kept)
    assert not checkin_exists(committed.engine, late_entry)
    assert not checkin_exists(committed.engine, late_elsewhere)


@pytest.mark.sqlite_only
@pytest.mark.parametrize(("budget", "batches"), [(100.0, 3), (1e-9, 15)], ids=["fast", "slow"])
def test_sqlite_range_batches_follow_the_time_budget(
    committed: Database,
    place: Venue,
    clock: FrozenClock,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    budget: float,
    batches: int,
) -> None:
    """Batches are sized by time, not rows: ranges that finish well within the budget
    double (1,000, 2,000, 4,000 rowids: 4,000 visits in 3 write transactions), ranges
    that overrun it halve down to the least (1,000, 500, 250, then 200 each: 15)."""
    _bulk_expired(committed, place, clock, settings, 4_000)
    monkeypatch.setattr(sqlite_batches, "SQLITE_BATCH_SECONDS", budget)
    counted: list[int] = []

    removed = purge_expired_checkins(
        committed.engine, clock, settings, between_batches=lambda: counted.append(1)
    )

    assert removed.rows == 4_000 and count_checkins(committed.engine) == 0
    assert len(counted) == batches + 1  # and the final sweep through the index


class _PauseClock:
    """Stands in for sqlite_batches' `time`: a monotonic clock moved by the test, and
    the sleeps asked of it recorded instead of slept."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.mark.sqlite_only
@pytest.mark.parametrize(("outside_the_lock", "slept"), [(0.0, 0.02), (0.012, 0.008), (0.03, None)])
def test_sqlite_batches_leave_the_write_lock_free_for_the_pause_counted_from_the_commit(
    committed: Database,
    place: Venue,
    clock: FrozenClock,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    outside_the_lock: float,
    slept: float | None,
) -> None:
    """Guests can commit from the moment a batch commits: during the checkpoint and
    between the batches too. The pause tops that time up to SQLITE_BATCH_PAUSE_SECONDS
    instead of being slept after it (a quarter of a 1,000,000-row purge), and is not
    slept at all once the time outside the write lock was long enough."""
    _bulk_expired(committed, place, clock, settings, 3_000)
    fake = _PauseClock()
    monkeypatch.setattr(sqlite_batches, "time", fake)

    def between_batches() -> None:
        fake.now += outside_the_lock  # as long as a checkpoint that copies a batch back

    removed = purge_expired_checkins(
        committed.engine, clock, settings, between_batches=between_batches
    )

    assert removed.rows == 3_000 and count_checkins(committed.engine) == 0
    if slept is None:
        assert fake.sleeps == []
    else:
        assert fake.sleeps and all(math.isclose(s, slept) for s in fake.sleeps), fake.sleeps
