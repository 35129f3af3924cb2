"""Staff entry: the page where staff type in paper forms, and the JSON endpoint that
stores one (sealed in the staff member's browser; no plain contact data reaches us).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import jsonify, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

import crypto
from registration.accounts.access import acting_user, business_member_required, owned_location
from registration.checkin import contact_form
from registration.checkin.errors import CheckInError
from registration.checkin.lookup import current_key_description
from registration.checkin.web import counts_refusals
from registration.clock import to_berlin
from registration.errors import ApiError
from registration.models import Area, Location
from registration.offices import active_key
from registration.portal import locations
from registration.portal.blueprint import Page, bp
from registration.portal.staff_entry import (
    check_staff_entry_times,
    parse_local_time,
    store_staff_entry,
)
from registration.session import get_clock, get_session, get_settings


def _staff_entry_texts() -> dict[str, Any]:
    return {
        "person": _("Person %(number)s"),
        "removePerson": _("Remove person %(number)s"),
        "personAdded": _("Person %(number)s added."),
        "personRemoved": _("Person removed."),
        "saved": _("Saved and sealed for the health office. You can type in the next form."),
        "failed": _("The entry could not be saved. Please check the times and try again."),
        "sealing": _("Sealing…"),
        "noKey": _("Nothing can be sealed: this location has no health office with a key."),
        "timeMessages": {
            "departureBeforeArrival": _("The departure must be after the arrival."),
        },
    }


@bp.get("/locations/<int:location_id>/staff-entry")
@business_member_required
def staff_entry(location_id: int) -> Page:
    session = get_session()
    place = owned_location(session, acting_user(), location_id)
    key = None
    if place.health_office_id is not None and place.archived_at is None:
        key = active_key(session, place.health_office_id)
    settings = get_settings()
    areas = locations.active_areas(place)
    now_local = to_berlin(get_clock().now()).strftime("%Y-%m-%dT%H:%M")
    config = {
        "endpoint": url_for("portal.save_staff_entry", location_id=place.id),
        "locationCode": place.code,
        "areas": {str(area.id): area.code for area in areas},
        "key": current_key_description(key) if key else None,
        "rules": contact_form.client_rules(settings.contact_required),
        "texts": _staff_entry_texts(),
    }
    return render_template(
        "portal/staff_entry.html",
        location=place,
        areas=areas,
        config=config,
        now_local=now_local,
        labels=contact_form.labels(),
        limits=contact_form.INPUT_LIMITS,
        contact_required=settings.contact_required,
        retention_period_days=settings.retention_days,
    )


@bp.post("/locations/<int:location_id>/staff-entry")
@business_member_required
@counts_refusals
def save_staff_entry(location_id: int) -> Response:
    """Store one typed-in paper form, sealed in the staff member's browser (JSON in, JSON out)."""
    user = acting_user()
    session = get_session()
    place = owned_location(session, user, location_id)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", _("The entry could not be read."))
    area = _chosen_area(place, body.get("areaId"))
    arrival, departure = _typed_times(body)
    persons = body.get("persons")
    try:
        receipt = store_staff_entry(
            session,
            get_clock(),
            get_settings(),
            by=user,
            area=area,
            # decode_envelope refuses a non-string as malformed, like any bad text
            envelope=crypto.decode_envelope(body.get("envelope")),  # type: ignore[arg-type]
            persons=persons if isinstance(persons, int) else 0,
            arrival=arrival,
            departure=departure,
            idempotency_key=str(body.get("idempotencyKey", "")),
        )
    except crypto.SealedRecordError as error:
        raise ApiError(422, "invalid_envelope", _("The sealed record is not valid.")) from error
    except CheckInError as error:
        raise ApiError(error.status, error.code, str(error.message), extra=error.extra) from error
    response = jsonify({"id": str(receipt.id), "created": receipt.created})
    response.status_code = 201 if receipt.created else 200
    return response


def _chosen_area(place: Location, area_id: object) -> Area:
    """The open area of this location the staff member chose; 422 for any other id."""
    area = next(
        (a for a in locations.active_areas(place) if isinstance(area_id, int) and a.id == area_id),
        None,
    )
    if area is None:
        raise ApiError(
            422,
            "invalid",
            _("Please choose an area."),
            extra={"fields": {"areaId": _("Please choose an area.")}},
        )
    return area


def _typed_times(body: dict[str, Any]) -> tuple[dt.datetime, dt.datetime | None]:
    """Arrival and departure as typed (Berlin time), or 422 with a reason per field."""
    arrival = parse_local_time(body.get("arrival"))
    departure_text = body.get("departure") or None
    departure = parse_local_time(departure_text)
    problems = check_staff_entry_times(
        get_clock(),
        get_settings(),
        arrival,
        departure,
        departure_given=departure_text is not None,
    )
    if problems or arrival is None:
        raise ApiError(
            422, "invalid", next(iter(problems.values()), None), extra={"fields": problems}
        )
    return arrival, departure
