"""Signed, expiring tokens for links in mails (verify an address, reset a password).

A token carries a subject and the time it was issued, signed by itsdangerous with a
key from `Settings.derive_key("token")` and the purpose as salt, so a token for one
purpose never opens another. Nothing is stored: a reset token also binds a
fingerprint of the current password hash and session version, so it stops working
once it was used. Issue and check take times from the caller's clock, so tests can
stand at the expiry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from itsdangerous import BadData, TimestampSigner, URLSafeTimedSerializer

MAX_TOKEN_LENGTH = 1024
CLOCK_SKEW = dt.timedelta(minutes=5)


class TokenError(ValueError):
    """The token is malformed, forged, for another purpose, or expired."""


class _ClockSigner(TimestampSigner):
    """A timestamp signer that reads the time from the caller, not from `time.time()`."""

    def __init__(self, *args: Any, now: dt.datetime, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._now = now

    def get_timestamp(self) -> int:
        return int(self._now.timestamp())


def _serializer(key: bytes, purpose: str, now: dt.datetime) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        key,
        salt=purpose,
        signer=_ClockSigner,
        signer_kwargs={"now": now, "digest_method": hashlib.sha256, "key_derivation": "hmac"},
    )


def issue_token(key: bytes, purpose: str, subject: dict[str, Any], now: dt.datetime) -> str:
    return str(_serializer(key, purpose, now).dumps(subject))


def read_token(
    key: bytes, purpose: str, token: str, now: dt.datetime, max_age: dt.timedelta
) -> dict[str, Any]:
    """The subject of a valid token; TokenError for anything else.

    itsdangerous refuses any token signed "in the future"; reading at now + CLOCK_SKEW
    with max_age + CLOCK_SKEW accepts exactly issued ∈ [now - max_age, now + CLOCK_SKEW],
    so a server whose clock runs a little ahead does not break its own links.
    """
    if len(token) > MAX_TOKEN_LENGTH:
        raise TokenError("malformed")
    serializer = _serializer(key, purpose, now + CLOCK_SKEW)
    try:
        subject = serializer.loads(token, max_age=int((max_age + CLOCK_SKEW).total_seconds()))
    except BadData as exc:
        raise TokenError(str(exc)) from exc
    if not isinstance(subject, dict):
        raise TokenError("malformed")
    return subject


def fingerprint(*parts: object) -> str:
    """A short digest of account state a token must still match when it is used."""
    return hashlib.sha256("\x00".join(str(part) for part in parts).encode()).hexdigest()[:24]
