"""Domain errors of the health-office side, each with a stable code and a readable message.

Services raise these; views turn them into a flashed message or an HTTP error, the
CLI into a message on stderr and an exit code. Messages are lazy translations, so
the same error reads German in the portal and can be shown in English on request,
and none of them ever contains contact data. The errors of a trace request's steps
belong to the lifecycle both portals share (registration.tracing.errors).
"""

from __future__ import annotations

from typing import Any


class HealthOfficeError(Exception):
    """Base class: `code` is stable (tests, logs), `message` is for people."""

    code = "health_office_error"
    status = 422

    def __init__(self, message: Any, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(str(code or self.code))
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def __str__(self) -> str:
        return str(self.message)


class KeyRegistrationError(HealthOfficeError):
    """A public key that cannot be registered or confirmed."""

    code = "invalid_key"


class PackageFormatError(Exception):
    """An export package file that cannot be read: wrong format, truncated or altered.

    Raised by the parser that the offline CLI uses, so the message is plain English
    text without Flask; `kind` is stable: not_a_package, unsupported_version,
    truncated, integrity, malformed.
    """

    MESSAGES = {  # noqa: RUF012 - a constant table, never mutated
        "not_a_package": "This file is not a Gastregister export package.",
        "unsupported_version": "This export package uses a format version that is not supported.",
        "truncated": "The export package is incomplete (truncated). Download it again.",
        "integrity": (
            "The export package failed its integrity check (SHA-256): it was changed "
            "after it was made. Download it again."
        ),
        "malformed": "The export package is damaged and cannot be read. Download it again.",
    }

    def __init__(self, kind: str) -> None:
        super().__init__(self.MESSAGES[kind])
        self.kind = kind
