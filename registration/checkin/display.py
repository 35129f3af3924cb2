"""The entrance screen of a location: one QR code per open area, refreshed every step.

In rotating mode each code carries the current entrance code, so a photo of the
screen stops working within a minute. The screen is opened with the location's
display secret and shows codes only.
"""

from __future__ import annotations

import io
from typing import Any

import qrcode
import qrcode.image.svg
from flask import Response, render_template, url_for
from sqlalchemy import select

from registration.checkin import rotating
from registration.checkin.errors import CheckInNotFoundError
from registration.checkin.pages import bp
from registration.models import Area, CheckInMode, Location
from registration.session import get_clock, get_session


def _display_location(secret: str) -> Location:
    location = get_session().scalar(
        select(Location).where(Location.display_secret == secret, Location.archived_at.is_(None))
    )
    if location is None or not 1 <= len(secret) <= 64:
        raise CheckInNotFoundError
    return location


def _open_areas(location: Location) -> list[Area]:
    return [area for area in location.areas if area.archived_at is None]


def entrance_url(location: Location, area: Area) -> str:
    """The URL in the QR code: with a rotating code in rotating mode."""
    url = url_for("checkin.page", code=area.code, _external=True)
    if location.checkin_mode == CheckInMode.ROTATING:
        step = rotating.time_step(get_clock().now())
        url += "?t=" + rotating.entrance_code(location.rotating_secret, area.code, step)
    return url


@bp.get("/display/<secret>")
def display(secret: str) -> Any:
    """The screen at the entrance: one QR code per area, refreshed every 30 seconds."""
    location = _display_location(secret)
    return render_template(
        "checkin/display.html",
        location=location,
        areas=_open_areas(location),
        secret=secret,
        step=rotating.time_step(get_clock().now()),
        refresh_seconds=rotating.STEP_SECONDS,
    )


@bp.get("/display/<secret>/qr/<area_code>.svg")
def display_qr(secret: str, area_code: str) -> Response:
    """The current QR code of one area as SVG (never cached: it changes every step)."""
    location = _display_location(secret)
    area = next((a for a in _open_areas(location) if a.code == area_code), None)
    if area is None:
        raise CheckInNotFoundError
    image = qrcode.make(
        entrance_url(location, area),
        image_factory=qrcode.image.svg.SvgPathImage,
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        box_size=10,
        border=2,
    )
    buffer = io.BytesIO()
    image.save(buffer)
    response = Response(buffer.getvalue(), mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "no-store"
    return response
