"""The audit log: append-only, each entry chained by hash to the one before.

Entries hold ids, actions and request metadata, never contact data. Changing or
deleting an entry in the middle breaks every later hash, which `verify_chain`
(`gastregister audit verify`) reports. Appends are serialised (an advisory lock on
PostgreSQL; SQLite's write lock already serialises) so the chain has no forks.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from registration.clock import Clock
from registration.models import AuditEvent, User

GENESIS = "0" * 64
_ADVISORY_LOCK_KEY = 0x6772_6175  # "grau": gastregister audit


def _entry_hash(prev_hash: str, event: AuditEvent) -> str:
    payload = {
        "prev": prev_hash,
        "at": event.occurred_at.astimezone(dt.UTC).isoformat(),
        "action": event.action,
        "actor": event.actor_user_id,
        "actor_label": event.actor_label,
        "office": event.health_office_id,
        "business": event.business_id,
        "location": event.location_id,
        "request": event.trace_request_id,
        "details": event.details,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def record_event(
    session: Session,
    clock: Clock,
    *,
    action: str,
    actor: User | None = None,
    actor_label: str = "",
    health_office_id: int | None = None,
    business_id: int | None = None,
    location_id: int | None = None,
    trace_request_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append an entry in the caller's transaction; the caller commits."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
    last = session.scalar(select(AuditEvent.entry_hash).order_by(AuditEvent.id.desc()).limit(1))
    prev_hash = last or GENESIS
    event = AuditEvent(
        occurred_at=clock.now().replace(microsecond=0),
        action=action,
        actor_user_id=actor.id if actor else None,
        actor_label=actor_label or (actor.email if actor else "system"),
        health_office_id=health_office_id,
        business_id=business_id,
        location_id=location_id,
        trace_request_id=trace_request_id,
        details=details or {},
        prev_hash=prev_hash,
    )
    event.entry_hash = _entry_hash(prev_hash, event)
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True)
class ChainReport:
    checked: int
    first_broken_id: int | None

    @property
    def intact(self) -> bool:
        return self.first_broken_id is None


def verify_chain(events: Iterable[AuditEvent]) -> ChainReport:
    """Recompute every hash in id order; the first mismatch names the tampered entry.

    The oldest kept entry may point to a predecessor removed by the audit retention
    period; the chain is checked from there on.
    """
    checked = 0
    expected_prev: str | None = None
    for event in events:
        if expected_prev is not None and event.prev_hash != expected_prev:
            return ChainReport(checked, event.id)
        if _entry_hash(event.prev_hash, event) != event.entry_hash:
            return ChainReport(checked, event.id)
        expected_prev = event.entry_hash
        checked += 1
    return ChainReport(checked, None)


def all_events(session: Session, *, page_size: int = 1000) -> Iterator[AuditEvent]:
    """Every entry in id order, read in pages by id: no cursor stays open if the
    reader stops early, and memory stays flat for a long log."""
    last_id = 0
    while True:
        page = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.id > last_id)
            .order_by(AuditEvent.id)
            .limit(page_size)
        ).all()
        yield from page
        if len(page) < page_size:
            return
        last_id = page[-1].id
