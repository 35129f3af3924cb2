"""The JSON API the guest page talks to: check in with a sealed envelope, check out.

It has no cookie authority (CSRF-exempt): a check-in is authorised by the area code
(and, in rotating mode, an admission), a check-out by the secret token. The
request and answer shapes are documented in openapi.json beside this module; a
test keeps the two in step.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from pathlib import Path
from typing import Any, cast

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from flask.blueprints import BlueprintSetupState

import crypto
from registration.checkin import hot_path, lookup, rotating, rules, storage
from registration.checkin.checkout import CHECKOUT_TOKEN_PATTERN, check_out
from registration.checkin.errors import (
    CheckInError,
    EnvelopeTooLargeError,
    InvalidEnvelopeError,
    InvalidJsonError,
    InvalidRequestError,
    UnsupportedMediaTypeError,
)
from registration.checkin.occupancy import full_notice_occupancy
from registration.checkin.web import (
    checkin_error_response,
    checkin_limits,
    checkout_limit,
    counts_refusals,
    fast_lane_outcome,
    guest_requests,
    setup_app,
)
from registration.clock import Clock
from registration.config import Settings
from registration.database import Database
from registration.extensions import csrf, limiter
from registration.i18n import offer_guest_languages
from registration.models import CheckInSource
from registration.request_guard import utc_moment
from registration.session import get_clock, get_db, get_session, get_settings

bp = Blueprint("api", __name__, url_prefix="/api/v1")
guest_requests(bp)
# The check-in page shows the API's refusals to the guest, in the page's language.
offer_guest_languages(bp)
csrf.exempt(bp)

OPENAPI_PATH = Path(__file__).with_name("openapi.json")
# The members each body may have (openapi.json: additionalProperties false). A member
# we do not know is refused rather than ignored: a client that sends one expects it
# to mean something, and silently dropping it would store a check-in it did not ask for.
CHECKIN_MEMBERS = frozenset(
    {"areaCode", "idempotencyKey", "envelope", "persons", "arrival", "admission"}
)
CHECKOUT_MEMBERS = frozenset({"checkoutToken", "departure"})
# An envelope is at most ~44 000 base64url characters; anything much larger is not ours.
MAX_BODY_BYTES = 64 * 1024


AREAS_KEY = "gastregister.checkin_areas"


@bp.record_once
def _setup(state: BlueprintSetupState) -> None:
    app = cast(Flask, state.app)
    setup_app(app)
    app.extensions[AREAS_KEY] = hot_path.RememberedAreas()


def remembered_areas() -> hot_path.RememberedAreas:
    areas: hot_path.RememberedAreas = current_app.extensions[AREAS_KEY]
    return areas


bp.register_error_handler(CheckInError, checkin_error_response)


def iso(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: object, field: str) -> dt.datetime:
    """An ISO time with its offset, in UTC; 422 invalid_time for anything else, including
    a time whose UTC form lies outside the calendar (request_guard.utc_moment)."""
    if isinstance(value, str) and len(value) <= 40:
        try:
            moment = utc_moment(dt.datetime.fromisoformat(value))
        except ValueError:
            moment = None
        if moment is not None:
            return moment
    raise InvalidRequestError(extra={"fields": [{"field": field, "reason": "invalid_time"}]})


def json_body() -> dict[str, Any]:
    """The request's JSON object; 415 unless declared as JSON, 413 beyond the API's size,
    400 invalid_json otherwise.

    The declared type is required (openapi.json says so): a body a browser can send
    cross-site without a preflight (text/plain, a form) is never read as a check-in.
    """
    if request.mimetype != "application/json":
        raise UnsupportedMediaTypeError
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise EnvelopeTooLargeError
    raw = request.get_data(cache=True)
    if len(raw) > MAX_BODY_BYTES:
        raise EnvelopeTooLargeError
    # Parsed once per request: the per-area limit (web.area_key) has read it already,
    # and Flask keeps the result (None for anything the guarded JSON refuses).
    body = request.get_json(force=True, silent=True, cache=True)
    if not isinstance(body, dict):
        raise InvalidJsonError
    return body


def _unknown_members(
    body: dict[str, Any], known: frozenset[str], problems: list[dict[str, str]]
) -> None:
    problems.extend(
        {"field": name[:64], "reason": "unknown"} for name in sorted(body) if name not in known
    )


def _string(body: dict[str, Any], name: str, problems: list[dict[str, str]]) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        problems.append({"field": name, "reason": "missing" if value is None else "invalid"})
        return ""
    return value


def checkin_json(receipt: storage.CheckInReceipt, target: lookup.CheckInTarget) -> dict[str, Any]:
    return {
        "id": str(receipt.id),
        "checkoutToken": receipt.token,
        "arrival": iso(receipt.arrival),
        "autoDeparture": iso(receipt.auto_departure),
        "departure": iso(receipt.departure),
        "persons": receipt.persons,
        "location": {"code": target.location_code, "name": target.location_name},
        "area": {"code": target.area_code, "name": target.area_name},
    }


@dataclasses.dataclass(frozen=True, slots=True)
class CheckInRequest:
    """A check-in body whose every member has its shape (the rules come later)."""

    area_code: str
    idempotency_key: str
    envelope: bytes
    persons: int
    arrival: dt.datetime
    admission: str | None


def parse_checkin(body: dict[str, Any]) -> CheckInRequest:
    """The members of a check-in body; 422 naming every bad field, 413 or 400 for the
    envelope. One place for both callers: this blueprint's view and the fast lane
    (registration.checkin.fast_lane), which hands any body this refuses to the view."""
    problems: list[dict[str, str]] = []
    _unknown_members(body, CHECKIN_MEMBERS, problems)
    area_code = _string(body, "areaCode", problems)
    idempotency_key = _string(body, "idempotencyKey", problems)
    envelope_text = _string(body, "envelope", problems)
    persons = body.get("persons")
    if type(persons) is not int or not rules.MIN_PERSONS <= persons <= rules.MAX_PERSONS:
        problems.append({"field": "persons", "reason": "out_of_range"})
    if "arrival" not in body:
        problems.append({"field": "arrival", "reason": "missing"})
    admission = body.get("admission")
    if admission is not None and not (
        isinstance(admission, str) and rotating.ADMISSION_PATTERN.fullmatch(admission)
    ):
        problems.append({"field": "admission", "reason": "invalid"})
    if problems:
        raise InvalidRequestError(extra={"fields": problems})
    arrival = parse_time(body["arrival"], "arrival")
    if len(envelope_text) > crypto.MAX_ENVELOPE_TEXT_LENGTH:
        raise EnvelopeTooLargeError
    try:
        envelope = crypto.decode_envelope(envelope_text)
    except crypto.SealedRecordError as exc:
        raise InvalidEnvelopeError(extra={"kind": exc.kind.value}) from None
    return CheckInRequest(
        area_code=area_code,
        idempotency_key=idempotency_key,
        envelope=envelope,
        persons=int(persons),  # type: ignore[arg-type]  # checked to be an int above
        arrival=arrival,
        admission=admission,
    )


def store_at_known_area(
    checkin: CheckInRequest,
    database: Database,
    areas: hot_path.RememberedAreas,
    clock: Clock,
    settings: Settings,
) -> hot_path.StoredCheckIn | None:
    """hot_path.store_at_known_area for a parsed body, as this view and the fast lane
    call it (None: the full path answers)."""
    return hot_path.store_at_known_area(
        database,
        areas,
        clock,
        settings,
        area_code=checkin.area_code,
        envelope=checkin.envelope,
        persons=checkin.persons,
        arrival=checkin.arrival,
        idempotency_key=checkin.idempotency_key,
    )


@bp.post("/checkins")
@counts_refusals
@checkin_limits
def create_checkin() -> tuple[Response, int]:
    """Store a check-in sealed in the browser; a retry returns the same id and token."""
    body = json_body()
    checkin = parse_checkin(body)
    clock, settings = get_clock(), get_settings()
    lane = fast_lane_outcome(request.environ)
    if lane.failure is not None:
        # The fast lane's statement failed (a stalled database): answered here, by the
        # app's error handlers, as if this view had run it.
        raise lane.failure
    if not lane.tried:
        stored = store_at_known_area(checkin, get_db(), remembered_areas(), clock, settings)
        if stored is not None:
            return jsonify(checkin_json(stored.receipt, stored.target)), 201
    session = get_session()
    target = lookup.find_checkin_target(session, checkin.area_code)
    admitted = rules.admission_for(
        clock,
        checkin_mode=target.checkin_mode,
        rotating_secret=target.rotating_secret,
        area_code=checkin.area_code,
        arrival=checkin.arrival,
        admission=checkin.admission,
    )
    receipt = storage.store_checkin(
        session,
        clock,
        settings,
        target=target.storage,
        envelope=checkin.envelope,
        persons=checkin.persons,
        source=CheckInSource.GUEST_PAGE,
        arrival=checkin.arrival,
        idempotency_key=checkin.idempotency_key,
        current_key=target.key,
        late_admission=admitted.late_token if admitted is not None else None,
    )
    remembered_areas().remember(target)
    return jsonify(checkin_json(receipt, target)), 201 if receipt.created else 200


@bp.post("/checkins/<uuid:checkin_id>/checkout")
@limiter.limit(checkout_limit)
def checkout(checkin_id: uuid.UUID) -> Response:
    """Check out with the secret token; idempotent, and 404 alike for unknown id or token."""
    body = json_body()
    problems: list[dict[str, str]] = []
    _unknown_members(body, CHECKOUT_MEMBERS, problems)
    token = body.get("checkoutToken")
    if not isinstance(token, str) or not CHECKOUT_TOKEN_PATTERN.fullmatch(token):
        problems.append({"field": "checkoutToken", "reason": "invalid"})
        token = ""
    if problems:
        raise InvalidRequestError(extra={"fields": problems})
    departure = None
    if body.get("departure") is not None:
        departure = parse_time(body["departure"], "departure")
    checkin, was_out = check_out(get_session(), get_clock(), checkin_id, token, departure=departure)
    return jsonify(
        {
            "id": str(checkin.id),
            "departure": iso(checkin.departure),
            "alreadyCheckedOut": was_out,
        }
    )


@bp.get("/areas/<code>")
def area(code: str) -> Response:
    """What the page needs to seal for an area: names, the key, mode, whether it is full."""
    session, clock = get_session(), get_clock()
    context = lookup.find_area(session, code)
    location = context.location
    present = full_notice_occupancy(session, clock, location)
    return jsonify(
        {
            "business": {"name": context.business_name},
            "location": {
                "code": location.code,
                "name": location.name,
                "defaultStayMinutes": location.default_stay_minutes,
                "mode": location.checkin_mode.value,
            },
            "area": {"code": context.area.code, "name": context.area.name},
            "key": lookup.current_key_description(context.key) if context.key else None,
            "full": present.is_full,
        }
    )


@bp.get("/openapi.json")
def openapi() -> Response:
    """The API description (OpenAPI 3.1), served from the file a test checks against the code."""
    response = Response(OPENAPI_PATH.read_bytes(), mimetype="application/json")
    return response
