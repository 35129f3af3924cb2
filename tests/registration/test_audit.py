"""The audit log is a hash chain: appending works, tampering anywhere is found."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from registration.audit import GENESIS, all_events, record_event, verify_chain
from registration.clock import FrozenClock
from registration.models import AuditEvent


def _append(session: Session, clock: FrozenClock, count: int) -> list[AuditEvent]:
    events = []
    for n in range(count):
        clock.advance(dt.timedelta(minutes=1))
        events.append(
            record_event(
                session,
                clock,
                action="request.created",
                actor_label="amt@example.org",
                health_office_id=1,
                location_id=n,
                details={"case": f"AZ-{n}", "window_days": n},
            )
        )
    session.commit()
    return events


def test_entries_chain_to_each_other(db_session: Session, clock: FrozenClock) -> None:
    events = _append(db_session, clock, 3)
    assert events[0].prev_hash == GENESIS
    assert events[1].prev_hash == events[0].entry_hash
    assert events[2].prev_hash == events[1].entry_hash
    report = verify_chain(all_events(db_session))
    assert report.intact
    assert report.checked == 3


def test_a_changed_entry_breaks_the_chain_there(db_session: Session, clock: FrozenClock) -> None:
    events = _append(db_session, clock, 4)
    db_session.execute(
        update(AuditEvent).where(AuditEvent.id == events[1].id).values(details={"case": "forged"})
    )
    db_session.commit()
    db_session.expire_all()
    report = verify_chain(all_events(db_session))
    assert not report.intact
    assert report.first_broken_id == events[1].id


def test_a_removed_entry_breaks_the_chain(db_session: Session, clock: FrozenClock) -> None:
    events = _append(db_session, clock, 4)
    db_session.delete(db_session.get(AuditEvent, events[2].id))
    db_session.commit()
    report = verify_chain(all_events(db_session))
    assert report.first_broken_id == events[3].id


def test_chain_checks_from_the_oldest_kept_entry(db_session: Session, clock: FrozenClock) -> None:
    """Audit retention removes the oldest entries; the rest must still verify."""
    events = _append(db_session, clock, 3)
    db_session.delete(db_session.get(AuditEvent, events[0].id))
    db_session.commit()
    remaining = db_session.scalars(select(AuditEvent).order_by(AuditEvent.id))
    assert verify_chain(remaining).intact


def test_all_events_pages_through_a_long_log(db_session: Session, clock: FrozenClock) -> None:
    _append(db_session, clock, 7)
    ids = [event.id for event in all_events(db_session, page_size=3)]
    assert ids == sorted(ids)
    assert len(ids) == 7
