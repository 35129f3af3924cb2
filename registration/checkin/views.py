"""The guest's pages: the check-in form behind each QR code, the confirmation, the entrance screen.

With JavaScript the page seals in the browser and talks to the JSON API (api.py);
these views then only serve the page. Without JavaScript the same form is posted
here, validated, sealed in memory with crypto.seal_contact_record and stored as an
envelope; the typed values are only ever shown back to the guest who typed them.

The no-JavaScript confirmation keeps the check-out token in an HttpOnly cookie
scoped to the area's path, not in the URL: a URL lands in the browser history, in
access logs and in screenshots people share, while this cookie is sent only to
this area's pages, cannot be read by scripts, and survives a reload or a closed
tab until the automatic check-out.
"""

from __future__ import annotations

import datetime as dt
import io
import secrets
import uuid
from typing import Any, cast

import qrcode
import qrcode.image.svg
from flask import Blueprint, Flask, Response, redirect, render_template, request, url_for
from flask.blueprints import BlueprintSetupState
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response as WerkzeugResponse

import crypto
from registration import metrics
from registration.checkin import contact_form, rotating, services
from registration.checkin.errors import (
    CheckInError,
    CheckInNotFoundError,
    CheckInUnavailableError,
    EntranceCodeRequiredError,
    InvalidRequestError,
)
from registration.checkin.web import (
    area_key,
    area_limit,
    checkin_error_response,
    checkout_limit,
    client_limit,
    counts_refusals,
    guest_requests,
    setup_app,
)
from registration.extensions import limiter
from registration.models import Area, CheckIn, CheckInMode, CheckInSource, Location
from registration.session import get_clock, get_session, get_settings

bp = Blueprint("checkin", __name__, template_folder="templates")
guest_requests(bp)
bp.register_error_handler(CheckInError, checkin_error_response)

CHECKIN_COOKIE = "gr_checkin"


@bp.record_once
def _setup(state: BlueprintSetupState) -> None:
    setup_app(cast(Flask, state.app))


def privacy_facts(context: services.AreaContext) -> dict[str, Any]:
    """DSGVO Art. 13: who is responsible, why, who receives the data, when it is deleted."""
    settings = get_settings()
    location = context.location
    controller = settings.privacy_controller or ", ".join(
        part
        for part in (
            context.business_name,
            f"{location.street} {location.house_number}".strip(),
            f"{location.zip_code} {location.city}".strip(),
        )
        if part
    )
    notice = [part.strip() for part in settings.privacy_notice.split("\n\n") if part.strip()]
    office = context.location.health_office
    return {
        "controller": controller,
        "notice": notice,
        "office_name": office.name if office is not None else "",
        "retention_days": settings.retention_days,
    }


def _admission(context: services.AreaContext) -> tuple[str | None, bool]:
    """In rotating mode: an admission for a fresh entrance code, else (None, refused)."""
    location = context.location
    if location.checkin_mode != CheckInMode.ROTATING:
        return None, False
    now = get_clock().now()
    code = request.args.get("t", "")
    posted = request.form.get("admission", "") if request.method == "POST" else ""
    if posted and rotating.admission_is_valid(
        location.rotating_secret, context.area.code, posted, now, now
    ):
        return posted, False
    if code and rotating.entrance_code_is_fresh(
        location.rotating_secret, context.area.code, code[:64], now
    ):
        return rotating.issue_admission(location.rotating_secret, context.area.code, now), False
    return None, True


def _page_config(context: services.AreaContext, admission: str | None) -> dict[str, Any]:
    """Everything checkin.js needs, passed as a non-executable JSON block (CSP: no inline script)."""
    settings = get_settings()
    return {
        "apiBase": url_for("api.create_checkin"),
        "areaCode": context.area.code,
        "areaName": context.area.name,
        "locationCode": context.location.code,
        "locationName": context.location.name,
        "key": services.current_key_description(context.key) if context.key else None,
        "admission": admission,
        "defaultStayMinutes": context.location.default_stay_minutes,
        "language": request.accept_languages.best_match(["de", "en"]) or "de",
        "rules": contact_form.client_rules(settings.contact_required),
        "texts": _client_texts(),
    }


def _client_texts() -> dict[str, str]:
    return {
        "sent": _("Your check-in has been received."),
        "checkedInTitle": _("You are checked in"),
        "checkedOutTitle": _("You are checked out"),
        "autoDepartureLabel": _("Automatic check-out"),
        "departureLabel": _("Check-out"),
        "queued": _("Saved on your phone, will be sent as soon as there is a connection."),
        "sending": _("Sending…"),
        "checkedOut": _("You are checked out. Thank you for your visit!"),
        "checkoutQueued": _("Check-out saved on your phone, will be sent."),
        "errorSummary": _("Please correct the following:"),
        "failed": _("This check-in could not be accepted. Please ask the staff."),
        "tooMany": _("Too many check-ins from here. Please wait a moment and try again."),
        "rememberedNote": _("Filled in with the details saved on this phone."),
        "forgotten": _("Your details have been removed from this phone."),
        "person": _("Person %(number)s"),
        "removePerson": _("Remove person %(number)s"),
        "personAdded": _("Person %(number)s added."),
        "personRemoved": _("Person removed."),
    }


def _checkin_cookie(code: str) -> tuple[uuid.UUID, str] | None:
    raw = request.cookies.get(CHECKIN_COOKIE, "")
    checkin_id, _, token = raw.partition(".")
    try:
        return uuid.UUID(checkin_id), token
    except ValueError:
        return None


def _current_checkin(code: str, area_id: int) -> tuple[CheckIn, str] | None:
    """This phone's open check-in at this area, from the no-JS cookie."""
    found = _checkin_cookie(code)
    if found is None:
        return None
    try:
        checkin = services.verified_checkin(get_session(), found[0], found[1])
    except CheckInNotFoundError:
        return None
    now = get_clock().now()
    if checkin.area_id != area_id or checkin.departure is not None or checkin.auto_departure <= now:
        return None
    return checkin, found[1]


def _render_page(
    context: services.AreaContext,
    *,
    form: contact_form.ContactForm | None = None,
    idempotency_key: str | None = None,
    admission: str | None = None,
    status: int = 200,
) -> tuple[str, int]:
    session, clock = get_session(), get_clock()
    occupancy = services.occupancy(session, clock, context.location)
    form = form or contact_form.ContactForm()
    return (
        render_template(
            "checkin/page.html",
            context=context,
            location=context.location,
            area=context.area,
            privacy=privacy_facts(context),
            occupancy=occupancy,
            form=form,
            errors=form.errors,
            error_by_field=form.error_by_field,
            labels=contact_form.labels(),
            limits=contact_form.INPUT_LIMITS,
            contact_required=get_settings().contact_required,
            idempotency_key=idempotency_key or secrets.token_urlsafe(24),
            admission=admission,
            config=_page_config(context, admission),
            current=_current_checkin(context.area.code, context.area.id),
        ),
        status,
    )


@bp.get("/c/<code>")
def page(code: str) -> Any:
    """The check-in page behind an area's QR code."""
    context = services.find_area(get_session(), code)
    admission, refused = _admission(context)
    if refused:
        return _render_refused(context)
    if not context.can_check_in:
        return render_template("checkin/unavailable.html", context=context), 503
    return _render_page(context, admission=admission)


def _render_refused(context: services.AreaContext) -> tuple[str, int]:
    error = EntranceCodeRequiredError()
    return (
        render_template("checkin/entrance_code.html", context=context, message=str(error.message)),
        error.status,
    )


@bp.post("/c/<code>")
@counts_refusals
@limiter.limit(client_limit)
@limiter.limit(area_limit, key_func=area_key, scope="checkin-area")
def submit(code: str) -> Any:
    """The no-JavaScript path: validate, seal in memory, store only the envelope."""
    session, clock, settings = get_session(), get_clock(), get_settings()
    context = services.find_area(session, code)
    admission, refused = _admission(context)
    if refused:
        metrics.checkin_refused(EntranceCodeRequiredError.code)
        return _render_refused(context)
    if not context.can_check_in or context.key is None:
        metrics.checkin_refused(CheckInUnavailableError.code)
        return render_template("checkin/unavailable.html", context=context), 503
    idempotency_key = request.form.get("idempotencyKey", "")
    if not services.IDEMPOTENCY_KEY_PATTERN.fullmatch(idempotency_key):
        idempotency_key = secrets.token_urlsafe(24)
    form = contact_form.read_contact_form(request.form, settings.contact_required)
    action = request.form.get("action", "")
    if action == "add_person":
        if len(form.persons) < contact_form.MAX_ADDITIONAL_PERSONS:
            form.persons.append(
                contact_form.Person(
                    values=dict.fromkeys(
                        ("firstName", "lastName", *contact_form.PERSON_ADDRESS_FIELDS), ""
                    )
                )
            )
        form.errors = []
        return _render_page(
            context, form=form, idempotency_key=idempotency_key, admission=admission
        )
    if action.startswith("remove_person:"):
        index = action.removeprefix("remove_person:")
        if index.isdigit() and int(index) < len(form.persons):
            del form.persons[int(index)]
        form.errors = []
        return _render_page(
            context, form=form, idempotency_key=idempotency_key, admission=admission
        )

    previous = services.existing_checkin(session, clock, settings, idempotency_key)
    if previous is not None and previous.area_id == context.area.id:
        # The same form sent twice (double tap, reload): the first check-in stands.
        return _confirmed(context, previous, services.checkout_token(settings, idempotency_key))
    if form.errors:
        metrics.checkin_refused(InvalidRequestError.code)
        return _render_page(
            context, form=form, idempotency_key=idempotency_key, admission=admission, status=422
        )
    persons = 1 + len(form.persons)
    arrival = clock.now().replace(microsecond=0)  # sealed (format v2) and stored alike
    envelope = crypto.seal_contact_record(
        context.key.public_spki,
        form.record(),
        location_code=context.location.code,
        area_code=context.area.code,
        visit=crypto.VisitBinding(arrival, idempotency_key, CheckInSource.GUEST_FORM.value),
    )
    del form
    result = services.create_checkin(
        session,
        clock,
        settings,
        area=context.area,
        envelope=envelope,
        persons=persons,
        source=CheckInSource.GUEST_FORM,
        arrival=arrival,
        idempotency_key=idempotency_key,
        current_key=context.key,
    )
    return _confirmed(context, result.checkin, result.token)


def _confirmed(context: services.AreaContext, checkin: CheckIn, token: str) -> WerkzeugResponse:
    response = redirect(
        url_for("checkin.confirmation", code=context.area.code, checkin_id=checkin.id), code=303
    )
    lifetime = checkin.auto_departure - get_clock().now() + dt.timedelta(hours=1)
    response.set_cookie(
        CHECKIN_COOKIE,
        f"{checkin.id}.{token}",
        max_age=max(60, int(lifetime.total_seconds())),
        path=url_for("checkin.page", code=context.area.code),
        httponly=True,
        samesite="Lax",
        secure=request.is_secure,
    )
    return response


def _cookie_checkin(code: str, checkin_id: uuid.UUID) -> tuple[CheckIn, str]:
    found = _checkin_cookie(code)
    if found is None or found[0] != checkin_id:
        raise CheckInNotFoundError
    return services.verified_checkin(get_session(), checkin_id, found[1]), found[1]


@bp.get("/c/<code>/checkin/<uuid:checkin_id>")
def confirmation(code: str, checkin_id: uuid.UUID) -> Any:
    """The no-JS confirmation; it needs this phone's cookie, so a shared link shows nothing."""
    context = services.find_area(get_session(), code)
    checkin, _token = _cookie_checkin(code, checkin_id)
    if checkin.area_id != context.area.id:
        raise CheckInNotFoundError
    return render_template(
        "checkin/confirmation.html",
        context=context,
        location=context.location,
        area=context.area,
        checkin=checkin,
        now=get_clock().now(),
    )


@bp.post("/c/<code>/checkin/<uuid:checkin_id>/checkout")
@limiter.limit(checkout_limit)
def checkout(code: str, checkin_id: uuid.UUID) -> Any:
    """Check out (no-JS button); idempotent. The token comes from the cookie only."""
    context = services.find_area(get_session(), code)
    _checkin, token = _cookie_checkin(code, checkin_id)
    services.checkout(get_session(), get_clock(), checkin_id, token)
    return redirect(
        url_for("checkin.confirmation", code=context.area.code, checkin_id=checkin_id), code=303
    )


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
