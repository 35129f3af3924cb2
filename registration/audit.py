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

from flask_babel import format_datetime
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from registration.clock import Clock, to_berlin
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


# --- how people read an entry ------------------------------------------------------------

ACTION_SENTENCES: dict[str, Any] = {
    # accounts
    "account.2fa_enabled": _l("Switched on two-factor authentication."),
    "account.2fa_disabled": _l("Switched off two-factor authentication."),
    "account.recovery_codes_renewed": _l("Created new recovery codes."),
    "account.password_changed": _l("Changed the password."),
    "account.password_reset": _l("Set a new password with a reset link."),
    "account.logged_out_everywhere": _l("Logged out on all devices."),
    "business.created": _l("Registered the business."),
    "office.login": _l("Logged in."),
    "office.created": _l("The operator set up the health office."),
    "office.postal_codes.added": _l("The operator added postal codes to the health office."),
    "office.user.added": _l("Added an account to the health office."),
    "operator.added": _l("Added an operator account."),
    "operator.login": _l("The operator logged in."),
    # staff
    "staff.invited": _l("Invited a staff member."),
    "staff.joined": _l("A staff member accepted the invitation."),
    "staff.invitation_revoked": _l("Withdrew an invitation."),
    "staff.removed": _l("Removed a staff member."),
    # locations and areas
    "location.created": _l("Created the location."),
    "location.changed": _l("Changed the location's details."),
    "location.office_changed": _l("The postal code changed, and with it the health office."),
    "location.archived": _l("Archived the location."),
    "location.restored": _l("Used the location again."),
    "location.display_renewed": _l("Renewed the link of the entrance screen."),
    "areas.created": _l("Added areas."),
    "area.archived": _l("Archived an area; its posters stopped working."),
    "area.restored": _l("Restored an area; its posters work again."),
    "checkin.staff_entry": _l("Typed in a paper form (staff entry)."),
    "checkins.checked_out_all": _l("Checked out everyone still present."),
    # trace requests
    "office.request.created": _l("The health office asked for guest data."),
    "office.request.refused": _l("Refused a request for a location outside the jurisdiction."),
    "office.request.aborted": _l("The health office withdrew the request."),
    "office.request.closed": _l("The request was closed."),
    "office.request.expired": _l("The request expired."),
    "office.request.answered": _l("The health office answered the business's question."),
    "request.released": _l("Released the guest data to the health office."),
    "request.declined": _l("Declined the request."),
    "request.queried": _l("Asked the health office a question about the request."),
    "office.package.built": _l("Sealed the export package."),
    "office.package.downloaded": _l("The health office downloaded the export package."),
    # keys
    "office.key.registered": _l("Registered a new key (waiting for a second person)."),
    "office.key.confirmed": _l("A second person confirmed the key; it is active."),
    "office.key.retired": _l("Retired the previous key."),
    "office.key.discarded": _l("Discarded a key that was never confirmed."),
}
"""One sentence per audit action, for both portals' audit pages. Every action the code
writes needs one (tests/registration/test_audit_texts.py finds them all); a few are
written by parts of the service that are merged separately (operator accounts, the
entrance screen)."""

_DETAIL_LABELS: dict[str, Any] = {
    "added": _l("added"),
    "area": _l("area no."),
    "areas": _l("areas"),
    "automatic": _l("automatic"),
    "count": _l("number"),
    "download": _l("download no."),
    "from_office": _l("previous health office"),
    "from_zip": _l("previous postal code"),
    "invitation": _l("invitation no."),
    "key_id": _l("key"),
    "label": _l("name"),
    "location_id": _l("location no."),
    "locations_assigned": _l("locations assigned"),
    "name": _l("name"),
    "package_id": _l("package"),
    "persons": _l("persons"),
    "reason": _l("reason"),
    "records": _l("visits"),
    "replaced_by": _l("replaced by"),
    "role": _l("role"),
    "sha256": _l("SHA-256"),
    "to_office": _l("new health office"),
    "to_zip": _l("new postal code"),
    "user": _l("account no."),
    "user_id": _l("account no."),
    "visits": _l("visits"),
    "why": _l("why"),
    "window_end": _l("window to"),
    "window_start": _l("window from"),
    "zip_changed": _l("postal code changed"),
}
# Ids that another detail already names in words (the office's name beside its id).
_HIDDEN_DETAILS = frozenset({"from_office_id", "to_office_id"})
_VALUE_TEXTS: dict[str, Any] = {
    "outside_jurisdiction": _l("outside the jurisdiction"),
    "retention_passed": _l("the retention period passed"),
    "package_expired": _l("the export package expired"),
    "business_owner": _l("business owner"),
    "business_staff": _l("staff"),
    "health_office_staff": _l("health-office staff"),
    "health_office_admin": _l("health-office administrator"),
}
_NOTHING = "\N{EN DASH}"
_LONG_VALUES = frozenset({"sha256", "key_id", "replaced_by", "package_id"})


def action_sentence(action: str) -> str:
    """The entry's action as a sentence in the reader's language; an unknown code (an
    entry from a newer version) is still shown, as itself."""
    sentence = ACTION_SENTENCES.get(action)
    return str(sentence) if sentence is not None else action


def _detail_value(key: str, value: Any) -> str:
    if value is None:
        return _NOTHING
    if isinstance(value, bool):
        return str(_l("yes") if value else _l("no"))
    if isinstance(value, list | tuple):
        return ", ".join(_detail_value(key, item) for item in value) or _NOTHING
    if isinstance(value, dict):
        return ", ".join(f"{name}: {_detail_value(name, item)}" for name, item in value.items())
    text = str(value)
    if key.startswith("window_"):
        try:
            return str(format_datetime(to_berlin(dt.datetime.fromisoformat(text)), "short"))
        except ValueError:
            return text
    if key in _LONG_VALUES and len(text) > 16:
        return f"{text[:16]}…"
    translated = _VALUE_TEXTS.get(text)
    return str(translated) if translated is not None else text


def details_text(details: dict[str, Any] | None) -> str:
    """An entry's details as a line people read ("visits: 3; automatic: no"), not JSON."""
    parts = []
    for key, value in (details or {}).items():
        if key in _HIDDEN_DETAILS:
            continue
        label = _DETAIL_LABELS.get(key)
        parts.append(f"{label if label is not None else key}: {_detail_value(key, value)}")
    return "; ".join(parts)
