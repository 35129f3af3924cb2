"""Domain errors of the check-in, each with an HTTP status and a stable error code.

The views turn them into an ApiError (JSON) or a page; the codes are part of the
documented API (openapi.json), so they never change meaning. No error carries guest
data: the messages are fixed texts and the extras are metadata only.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l


class CheckInError(Exception):
    """Base class: a check-in or check-out that the rules refuse."""

    status = 400
    code = "bad_request"
    message: Any = _l("The check-in could not be accepted.")

    def __init__(self, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(self.code)
        self.extra = extra or {}


class UnknownAreaError(CheckInError):
    """No active area has this code (or its location is archived)."""

    status = 404
    code = "unknown_area"
    message = _l("This check-in code is unknown. Please scan the code at your table again.")


class CheckInUnavailableError(CheckInError):
    """The location has no health office with an active key: nothing can be sealed."""

    status = 503
    code = "checkin_unavailable"
    message = _l(
        "Check-in is not available here at the moment. Please ask the staff for the paper list."
    )


class StaleKeyError(CheckInError):
    """The envelope is sealed to a key that is not (or was not at arrival) the office's key."""

    status = 409
    code = "stale_key"
    message = _l("The health office's key has changed. Your details are sealed again.")


class IdempotencyConflictError(CheckInError):
    """The same idempotency key was used before for a different check-in."""

    status = 409
    code = "idempotency_conflict"
    message = _l("This check-in was already sent with different content.")


class ArrivalOutOfRangeError(CheckInError):
    """The claimed arrival lies too far in the past or in the future."""

    status = 422
    code = "arrival_out_of_range"
    message = _l("The arrival time is not plausible. Please check in again.")


class ArrivalExpiredError(ArrivalOutOfRangeError):
    """The arrival is older than the retention period: a check-in kept on a phone for
    so long would have to be deleted already, so it is refused for good."""

    code = "arrival_expired"
    message = _l(
        "This check-in was kept on your phone for longer than the retention period and"
        " can no longer be delivered. Nothing was stored."
    )


class InvalidEnvelopeError(CheckInError):
    """The envelope is not a well-formed sealed record (kind in `extra`)."""

    status = 422
    code = "invalid_envelope"
    message = _l("The sealed contact record is not valid.")


class UnsupportedEnvelopeVersionError(InvalidEnvelopeError):
    code = "unsupported_envelope_version"
    message = _l("The sealed contact record uses a format this server does not know.")


class UnsupportedSuiteError(InvalidEnvelopeError):
    code = "unsupported_suite"
    message = _l("The sealed contact record uses an encryption this server does not accept.")


class EnvelopeTooLargeError(CheckInError):
    status = 413
    code = "too_large"
    message = _l("The submitted data is too large.")


class InvalidRequestError(CheckInError):
    """A field of the request is missing or invalid (the field names are in `extra`)."""

    status = 422
    code = "invalid"
    message = _l("Some of the input is not valid.")


class InvalidJsonError(CheckInError):
    status = 400
    code = "invalid_json"
    message = _l("The request body must be a JSON object.")


class UnsupportedMediaTypeError(CheckInError):
    """The API reads only JSON: a body of another declared type is not parsed at all."""

    status = 415
    code = "unsupported_media_type"
    message = _l("Please send the request as JSON (Content-Type: application/json).")


class EntranceCodeRequiredError(CheckInError):
    """Rotating-code mode: the page was not opened from the screen's current code."""

    status = 403
    code = "entrance_code_required"
    message = _l(
        "Please scan the QR code on the screen at the entrance; a photo of it does not work."
    )


class CheckInNotFoundError(CheckInError):
    """Unknown check-in or wrong token: the answer does not say which."""

    status = 404
    code = "not_found"
    message = None  # the service's plain 404 text, the same as for an id that is no UUID
