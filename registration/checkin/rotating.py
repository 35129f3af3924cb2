"""Rotating entrance codes: a QR code on a screen that changes every 30 seconds.

A static QR code can be photographed and posted online, and then anyone anywhere can
"check in" (the zoo incident). In rotating mode the check-in page only opens with a
code derived from the location's secret and the current 30-second step, so a photo
stops working after about a minute. Because filling the form takes longer than
that, a page opened with a fresh code receives an *admission*: a signed timestamp
that a submission must carry. Its age is checked against the server's receipt time:
within its lifetime it admits freely; a phone that went offline after scanning may
deliver later, once per admission, an arrival from within that lifetime
(admission_use; docs/ARCHITECTURE.md, "Rotating entrance codes").

Both values are HMAC-SHA-256 outputs under `Location.rotating_secret`, with a label
per purpose so that one can never stand in for the other.
"""

from __future__ import annotations

import datetime as dt
import enum
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


class AdmissionUse(enum.Enum):
    """How an admission may be used for one check-in, judged by the server's clock."""

    # Presented within ADMISSION_LIFETIME of its issue: the phone was online throughout.
    FRESH = "fresh"
    # Expired on receipt, for an arrival within its lifetime: a phone that went offline
    # after scanning and delivers from its outbox. Such an admission is spent once.
    LATE = "late"


def admission_use(
    secret: bytes, area_code: str, admission: str, arrival: dt.datetime, now: dt.datetime
) -> AdmissionUse | None:
    """How `admission` may admit a check-in arriving at `arrival`, received at `now`; None
    when it may not (forged, from the future, or the arrival lies before its issue).

    The server's receipt time decides, not the arrival the client claims: before, an
    arrival dated back to the issue let one admission admit check-ins for as long as late
    arrivals were accepted. Now an admission admits freely only within its lifetime by
    the server's clock; after that only an arrival within its lifetime, once (the caller
    records the spending: storage.store_checkin's late_admission).
    """
    issued = _issued(secret, area_code, admission)
    if issued is None or issued > now + CLOCK_SKEW or arrival < issued - CLOCK_SKEW:
        return None
    if now - issued <= ADMISSION_LIFETIME:
        return AdmissionUse.FRESH
    if arrival <= issued + ADMISSION_LIFETIME:
        return AdmissionUse.LATE
    return None


def _issued(secret: bytes, area_code: str, admission: str) -> dt.datetime | None:
    """The moment a genuine admission was issued; None for anything else."""
    issued_text, _, mac_text = admission.partition(".")
    if not issued_text.isdigit() or len(issued_text) > 12:
        return None
    expected = b64url_encode(
        _mac(secret, b"gastregister/admission", area_code.encode(), issued_text.encode())
    )
    if not hmac.compare_digest(expected.encode(), mac_text.encode("ascii", "replace")):
        return None
    return dt.datetime.fromtimestamp(int(issued_text), dt.UTC)
