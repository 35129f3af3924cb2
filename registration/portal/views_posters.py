"""Posters and QR codes for the areas: PDF posters per location or area, SVG and PNG
codes for the owner's own print; in rotating mode the entrance sign instead.

A location in rotating mode refuses printed codes (the guest page asks for the screen's
changing code), so its poster and QR links answer with a page that says why and offers
the entrance sign, instead of a poster whose codes would only show an error.
"""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from werkzeug.wrappers import Response

from registration import offices
from registration.accounts.access import (
    acting_user,
    business_member_required,
    owned_area,
    owned_location,
)
from registration.i18n import LANGUAGE_NAMES
from registration.models import CheckInMode, Location
from registration.portal import locations, paper_list, posters
from registration.portal.blueprint import bp
from registration.session import get_session, get_settings


def _poster_format() -> posters.PosterFormat:
    return posters.FORMATS.get(request.args.get("format", "a4"), posters.A4)


def _second_language() -> str:
    """The language printed below the German (`?second=`; English if none or unknown)."""
    asked = request.args.get("second", posters.DEFAULT_SECOND_LANGUAGE)
    return asked if asked in posters.SECOND_LANGUAGES else posters.DEFAULT_SECOND_LANGUAGE


@bp.context_processor
def poster_languages() -> dict[str, Any]:
    """The poster form's choice of a second language, each named in itself."""
    return {
        "poster_languages": [(code, LANGUAGE_NAMES[code]) for code in posters.SECOND_LANGUAGES],
        "default_poster_language": posters.DEFAULT_SECOND_LANGUAGE,
    }


def _download(data: bytes, mimetype: str, filename: str, *, inline: bool = False) -> Response:
    response = Response(data, mimetype=mimetype)
    disposition = "inline" if inline else "attachment"
    response.headers["Content-Disposition"] = f'{disposition}; filename="{filename}"'
    return response


def _printed_codes_refused(place: Location) -> tuple[str, int] | None:
    """The explanation page for a location whose check-in needs the entrance screen."""
    if place.checkin_mode != CheckInMode.ROTATING:
        return None
    return render_template("portal/posters_rotating.html", location=place), 409


def _sealing_key_id(place: Location) -> str | None:
    if place.health_office_id is None:
        return None
    key = offices.active_key(get_session(), place.health_office_id)
    return key.key_id if key is not None else None


@bp.get("/locations/<int:location_id>/posters.pdf")
@business_member_required
def location_posters(location_id: int) -> Response | tuple[str, int]:
    place = owned_location(get_session(), acting_user(), location_id)
    if refused := _printed_codes_refused(place):
        return refused
    poster_format = _poster_format()
    data = posters.poster_pdf(
        get_settings(),
        place,
        locations.active_areas(place),
        poster_format,
        sealing_key_id=_sealing_key_id(place),
        second_language=_second_language(),
    )
    return _download(data, "application/pdf", f"gastregister-{place.id}-{poster_format.name}.pdf")


@bp.get("/areas/<int:area_id>/poster.pdf")
@business_member_required
def area_poster(area_id: int) -> Response | tuple[str, int]:
    area = owned_area(get_session(), acting_user(), area_id)
    if refused := _printed_codes_refused(area.location):
        return refused
    poster_format = _poster_format()
    data = posters.poster_pdf(
        get_settings(),
        area.location,
        [area],
        poster_format,
        sealing_key_id=_sealing_key_id(area.location),
        second_language=_second_language(),
    )
    return _download(
        data, "application/pdf", f"gastregister-area-{area.id}-{poster_format.name}.pdf"
    )


@bp.get("/areas/<int:area_id>/qr.svg")
@business_member_required
def area_qr_svg(area_id: int) -> Response | tuple[str, int]:
    area = owned_area(get_session(), acting_user(), area_id)
    if refused := _printed_codes_refused(area.location):
        return refused
    data = posters.qr_svg(posters.checkin_url(get_settings(), area))
    return _download(data, "image/svg+xml", f"gastregister-area-{area.id}.svg")


@bp.get("/areas/<int:area_id>/qr.png")
@business_member_required
def area_qr_png(area_id: int) -> Response | tuple[str, int]:
    area = owned_area(get_session(), acting_user(), area_id)
    if refused := _printed_codes_refused(area.location):
        return refused
    data = posters.qr_png(posters.checkin_url(get_settings(), area))
    return _download(data, "image/png", f"gastregister-area-{area.id}.png")


@bp.get("/locations/<int:location_id>/entrance-sign.pdf")
@business_member_required
def entrance_sign(location_id: int) -> Response:
    """The A4 sign for the door: "scan the code on the screen", with no code of its own."""
    place = owned_location(get_session(), acting_user(), location_id)
    data = posters.entrance_sign_pdf(get_settings(), place)
    return _download(data, "application/pdf", f"gastregister-{place.id}-entrance.pdf")


@bp.get("/locations/<int:location_id>/paper-list.pdf")
@business_member_required
def paper_guest_list(location_id: int) -> Response:
    """The paper list for guests without a phone; staff type it in with the staff entry."""
    session = get_session()
    place = owned_location(session, acting_user(), location_id)
    office = locations.responsible_office(session, place)
    data = paper_list.paper_list_pdf(
        get_settings(),
        place,
        locations.active_areas(place),
        office_name=office.name if office is not None else "",
    )
    return _download(data, "application/pdf", f"gastregister-{place.id}-paper-list.pdf")
