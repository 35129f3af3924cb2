"""Rotating entrance codes: a QR code on a screen that changes every 30 seconds.

A static QR code can be photographed and posted online, and then anyone anywhere can
"check in" (the zoo incident). In rotating mode the check-in page only opens with a
code derived from the location's secret and the current 30-second step, so a photo
stops working after about a minute. Because filling the form takes longer than
that, a page opened with a fresh code receives an *admission*: a signed timestamp
that a submission must carry and whose age is checked against the claimed arrival.

Both values are HMAC-SHA-256 outputs under `Location.rotating_secret`, with a label
per purpose so that one can never stand in for the other.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re

from crypto import b64url_encode

STEP_SECONDS = 30
CODE_LENGTH = 16  # base64url characters: 96 bits, plenty for a 60-second lifetime
ADMISSION_LIFETIME = dt.timedelta(minutes=30)
CLOCK_SKEW = dt.timedelta(minutes=2)
# issue_admission's form: seconds since the epoch, a dot, a base64url HMAC-SHA-256.
ADMISSION_PATTERN = re.compile(r"[0-9]{1,12}\.[A-Za-z0-9_-]{43}", re.ASCII)


def time_step(moment: dt.datetime) -> int:
    return int(moment.timestamp()) // STEP_SECONDS


def _mac(secret: bytes, label: bytes, *parts: bytes) -> bytes:
    message = label + b"".join(len(part).to_bytes(2, "big") + part for part in parts)
    return hmac.new(secret, message, hashlib.sha256).digest()


def entrance_code(secret: bytes, area_code: str, step: int) -> str:
    """The code shown on the entrance screen for one area during one time step."""
    return b64url_encode(
        _mac(secret, b"gastregister/entrance-code", area_code.encode(), _step(step))
    )[:CODE_LENGTH]


def _step(step: int) -> bytes:
    return step.to_bytes(8, "big", signed=True)


def entrance_code_is_fresh(secret: bytes, area_code: str, code: str, now: dt.datetime) -> bool:
    """True for the code of the current or the previous step (30 to 60 seconds old at most)."""
    current = time_step(now)
    # Compare against both candidates without an early exit.
    matches = [
        hmac.compare_digest(entrance_code(secret, area_code, step).encode(), code.encode())
        for step in (current, current - 1)
    ]
    return any(matches)


def issue_admission(secret: bytes, area_code: str, now: dt.datetime) -> str:
    """A signed 'this phone saw a fresh entrance code at `now`' for the page to submit."""
    issued = str(int(now.timestamp()))
    mac = _mac(secret, b"gastregister/admission", area_code.encode(), issued.encode())
    return f"{issued}.{b64url_encode(mac)}"


def admission_is_valid(
    secret: bytes, area_code: str, admission: str, arrival: dt.datetime, now: dt.datetime
) -> bool:
    """The admission is genuine, not from the future, and at most 30 minutes before arrival."""
    issued_text, _, mac_text = admission.partition(".")
    if not issued_text.isdigit() or len(issued_text) > 12:
        return False
    expected = b64url_encode(
        _mac(secret, b"gastregister/admission", area_code.encode(), issued_text.encode())
    )
    if not hmac.compare_digest(expected.encode(), mac_text.encode("ascii", "replace")):
        return False
    issued = dt.datetime.fromtimestamp(int(issued_text), dt.UTC)
    return (
        issued <= now + CLOCK_SKEW
        and arrival - ADMISSION_LIFETIME <= issued <= arrival + CLOCK_SKEW
    )
