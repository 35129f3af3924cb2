"""Signed, expiring tokens for links in mails (verify an address, reset a password).

A token carries its purpose, a subject and the time it was issued, signed with the
deployment's secret key. Nothing is stored: a reset token also binds a fingerprint of
the current password hash and session version, so it stops working once it was used.
Issue and check take times from the caller's clock, so tests can stand at the expiry.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
from typing import Any

_SIGNATURE_BYTES = 20


class TokenError(ValueError):
    """The token is malformed, forged, for another purpose, or expired."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise TokenError("malformed") from exc


def _signature(secret: str, purpose: str, body: str) -> bytes:
    key = hashlib.sha256(b"gastregister/token/" + secret.encode()).digest()
    mac = hmac.new(key, purpose.encode() + b"\x00" + body.encode("ascii"), hashlib.sha256)
    return mac.digest()[:_SIGNATURE_BYTES]


def issue_token(secret: str, purpose: str, subject: dict[str, Any], now: dt.datetime) -> str:
    body = _b64(
        json.dumps({"s": subject, "t": int(now.timestamp())}, separators=(",", ":")).encode()
    )
    return body + "." + _b64(_signature(secret, purpose, body))


def read_token(
    secret: str, purpose: str, token: str, now: dt.datetime, max_age: dt.timedelta
) -> dict[str, Any]:
    """The subject of a valid token; TokenError for anything else."""
    if len(token) > 1024 or token.count(".") != 1:
        raise TokenError("malformed")
    body, _, signature = token.partition(".")
    try:
        body.encode("ascii")
    except UnicodeEncodeError as exc:
        raise TokenError("malformed") from exc
    if not hmac.compare_digest(_unb64(signature), _signature(secret, purpose, body)):
        raise TokenError("bad signature")
    try:
        payload = json.loads(_unb64(body))
        issued = dt.datetime.fromtimestamp(int(payload["t"]), dt.UTC)
        subject = payload["s"]
    except (ValueError, KeyError, TypeError) as exc:
        raise TokenError("malformed") from exc
    if not isinstance(subject, dict):
        raise TokenError("malformed")
    if now - issued > max_age or issued - now > dt.timedelta(minutes=5):
        raise TokenError("expired")
    return subject


def fingerprint(*parts: object) -> str:
    """A short digest of account state a token must still match when it is used."""
    digest = hashlib.sha256("\x00".join(str(part) for part in parts).encode()).digest()
    return _b64(digest[:12])
