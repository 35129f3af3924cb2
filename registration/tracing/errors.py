"""Why a step of a trace request was refused, each with a stable code and a readable message.

The lifecycle raises these; the office portal flashes them or answers with their
HTTP status, the business portal shows the message. Messages are lazy translations,
so the same error reads German in the portal and English on request, and none of
them ever contains contact data.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

from registration.errors import DomainError


class TraceRequestError(DomainError):
    """Base class of this package's refusals (registration.errors.DomainError)."""

    code = "trace_request_error"


class RequestValidationError(TraceRequestError):
    """A trace request that may not be made as asked (window, case reference, areas)."""

    code = "invalid_request"

    def __init__(self, field: str, message: Any) -> None:
        super().__init__(message, code=f"invalid_{field}")
        self.field = field


class OutsideJurisdictionError(TraceRequestError):
    """The location is not in the office's jurisdiction (shown as 404, and audited)."""

    code = "outside_jurisdiction"
    status = 404

    def __init__(self) -> None:
        super().__init__(_l("This location does not exist or is not in your jurisdiction."))


class InvalidTransitionError(TraceRequestError):
    """The request is not in a state that allows this step."""

    code = "invalid_state"
    status = 409


class ReleaseNotPossibleError(InvalidTransitionError):
    """The request is not waiting for a release (already released, aborted, expired...).

    The owner's portal shows the message; a second click on "release" ends here.
    """

    def __init__(self) -> None:
        super().__init__(_l("This request is not waiting for a release."))


class PackageUnavailableError(TraceRequestError):
    """No export package can be downloaded for this request (now)."""

    code = "package_unavailable"
    status = 409
