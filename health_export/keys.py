"""A health office's keys on the server: registration with four eyes, and the keys it must
still hold. Which key guests seal to (`active_key`) is a rule of the shared core
(registration.offices), because the guest page and the business portal apply it too.
"""

from __future__ import annotations

import datetime as dt
import re

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

import crypto
from health_export.errors import KeyRegistrationError
from registration.audit import record_event
from registration.clock import Clock
from registration.models import HealthOfficeKey, KeyState, User

_KEY_ID = re.compile(r"[0-9a-f]{64}")


def register_key(
    session: Session,
    clock: Clock,
    *,
    office_id: int,
    registered_by: User,
    public_key: str,
    key_id: str,
    label: str = "",
) -> HealthOfficeKey:
    """Register the PUBLIC part of a key pair as pending; a second person confirms it.

    The browser sends only the SPKI (base64url) and the key id it read from the key
    file; both are checked here, so a typo or a doctored page cannot register a key
    whose fingerprint differs from the one the admin compared.
    """
    spki, computed = _checked_public_key(public_key, key_id)
    existing = session.scalar(select(HealthOfficeKey).where(HealthOfficeKey.key_id == computed))
    if existing is not None:
        if existing.health_office_id != office_id:
            raise KeyRegistrationError(
                _l("This key is registered to another health office."), code="key_taken"
            )
        raise KeyRegistrationError(_l("This key is already registered."), code="key_known")
    key = HealthOfficeKey(
        health_office_id=office_id,
        key_id=computed,
        public_spki=spki,
        state=KeyState.PENDING,
        label=label.strip()[:100],
        registered_by_id=registered_by.id,
        created_at=clock.now(),
    )
    session.add(key)
    session.flush()
    record_event(
        session,
        clock,
        action="office.key.registered",
        actor=registered_by,
        health_office_id=office_id,
        details={"key_id": computed, "label": key.label},
    )
    return key


def _checked_public_key(public_key: str, key_id: str) -> tuple[bytes, str]:
    """The SPKI and its key id (hex), once the text decodes to a P-256 key of that id."""
    try:
        spki = crypto.b64url_decode(public_key.strip())
    except ValueError:
        raise KeyRegistrationError(
            _l("The public key is not valid base64url text."), code="bad_encoding"
        ) from None
    try:
        crypto.load_public_spki(spki)
    except crypto.KeyFormatError:
        raise KeyRegistrationError(
            _l("This is not a P-256 public key in the Gastregister format."), code="not_p256"
        ) from None
    computed = crypto.key_id(spki).hex()
    if not _KEY_ID.fullmatch(key_id.strip()) or computed != key_id.strip():
        raise KeyRegistrationError(
            _l("The key id does not match the public key (SHA-256 of the key)."),
            code="key_id_mismatch",
        )
    return spki, computed


def confirm_key(
    session: Session, clock: Clock, key: HealthOfficeKey, *, confirmed_by: User
) -> HealthOfficeKey:
    """Four eyes: a second person confirms the fingerprint; the key becomes active.

    The previously active key is retired: guests seal to the new key from now on, and
    the old one stays listed until the records sealed to it have been deleted.
    """
    if key.state is not KeyState.PENDING:
        raise KeyRegistrationError(_l("Only a pending key can be confirmed."), code="not_pending")
    if key.registered_by_id == confirmed_by.id:
        raise KeyRegistrationError(
            _l("A second person must confirm the key: you registered it yourself."),
            code="same_person",
            status=403,
        )
    now = clock.now()
    for previous in session.scalars(
        select(HealthOfficeKey).where(
            HealthOfficeKey.health_office_id == key.health_office_id,
            HealthOfficeKey.state == KeyState.ACTIVE,
        )
    ):
        previous.state = KeyState.RETIRED
        previous.retired_at = now
        record_event(
            session,
            clock,
            action="office.key.retired",
            actor=confirmed_by,
            health_office_id=key.health_office_id,
            details={"key_id": previous.key_id, "replaced_by": key.key_id},
        )
    key.state = KeyState.ACTIVE
    key.confirmed_by_id = confirmed_by.id
    key.activated_at = now
    session.flush()
    record_event(
        session,
        clock,
        action="office.key.confirmed",
        actor=confirmed_by,
        health_office_id=key.health_office_id,
        details={"key_id": key.key_id},
    )
    return key


def discard_pending_key(
    session: Session, clock: Clock, key: HealthOfficeKey, *, discarded_by: User
) -> None:
    """A pending key whose fingerprint did not match is removed before anyone seals to it."""
    if key.state is not KeyState.PENDING:
        raise KeyRegistrationError(_l("Only a pending key can be discarded."), code="not_pending")
    record_event(
        session,
        clock,
        action="office.key.discarded",
        actor=discarded_by,
        health_office_id=key.health_office_id,
        details={"key_id": key.key_id},
    )
    session.delete(key)
    session.flush()


def listed_keys(
    session: Session, health_office_id: int, *, now: dt.datetime, retention_days: int
) -> list[HealthOfficeKey]:
    """Keys the office must still hold: pending, active, and retired ones whose records live.

    A key retired at T sealed its last record just before T; that record is deleted
    at T + retention, after which the key no longer opens anything on the server.
    """
    cutoff = now - dt.timedelta(days=retention_days)
    keys = session.scalars(
        select(HealthOfficeKey)
        .where(HealthOfficeKey.health_office_id == health_office_id)
        .order_by(HealthOfficeKey.created_at.desc(), HealthOfficeKey.id.desc())
    )
    return [
        key
        for key in keys
        if key.state is not KeyState.RETIRED
        or (key.retired_at is not None and key.retired_at > cutoff)
    ]


def office_key(session: Session, health_office_id: int, key_pk: int) -> HealthOfficeKey | None:
    """A key of this office by primary key; another office's key is None (404)."""
    key: HealthOfficeKey | None = session.scalar(
        select(HealthOfficeKey).where(
            HealthOfficeKey.id == key_pk, HealthOfficeKey.health_office_id == health_office_id
        )
    )
    return key
