"""Domain errors of the health-office side, each with a stable code and a readable message.

Services raise these; views turn them into a flashed message or an HTTP error, the
CLI into a message on stderr and an exit code. Messages are lazy translations, so
the same error reads German in the portal and can be shown in English on request,
and none of them ever contains contact data. The errors of a trace request's steps
belong to the lifecycle both portals share (registration.tracing.errors).
"""

from __future__ import annotations

from registration.errors import DomainError


class HealthOfficeError(DomainError):
    """Base class of this package's refusals (registration.errors.DomainError)."""

    code = "health_office_error"


class KeyRegistrationError(HealthOfficeError):
    """A public key that cannot be registered or confirmed."""

    code = "invalid_key"
