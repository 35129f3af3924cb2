"""Posters and QR codes for the areas: PDF posters per location or area, SVG and PNG
codes for the owner's own print.
"""

from __future__ import annotations

from typing import Any

from flask import request
from werkzeug.wrappers import Response

from registration import offices
from registration.accounts.access import (
    acting_user,
    business_member_required,
    owned_area,
    owned_location,
)
from registration.i18n import LANGUAGE_NAMES
from registration.models import Location
from registration.portal import locations, posters
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


def _sealing_key_id(place: Location) -> str | None:
    if place.health_office_id is None:
        return None
    key = offices.active_key(get_session(), place.health_office_id)
    return key.key_id if key is not None else None


@bp.get("/locations/<int:location_id>/posters.pdf")
@business_member_required
def location_posters(location_id: int) -> Response:
    place = owned_location(get_session(), acting_user(), location_id)
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
def area_poster(area_id: int) -> Response:
    area = owned_area(get_session(), acting_user(), area_id)
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
def area_qr_svg(area_id: int) -> Response:
    area = owned_area(get_session(), acting_user(), area_id)
    data = posters.qr_svg(posters.checkin_url(get_settings(), area))
    return _download(data, "image/svg+xml", f"gastregister-area-{area.id}.svg")


@bp.get("/areas/<int:area_id>/qr.png")
@business_member_required
def area_qr_png(area_id: int) -> Response:
    area = owned_area(get_session(), acting_user(), area_id)
    data = posters.qr_png(posters.checkin_url(get_settings(), area))
    return _download(data, "image/png", f"gastregister-area-{area.id}.png")
