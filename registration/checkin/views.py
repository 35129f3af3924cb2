"""The guest's pages: the check-in form behind each QR code, the confirmation, check-out.

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
import functools
import gzip
import posixpath
import re
import secrets
import uuid
from pathlib import Path
from typing import Any

import brotli  # type: ignore[import-untyped]  # Flask-Compress's brotli ships no type hints
from flask import Response, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from werkzeug.wrappers import Response as WerkzeugResponse

import crypto
from registration import i18n, metrics
from registration.checkin import contact_form, display, lookup, rules, storage
from registration.checkin.checkout import check_out, verified_checkin
from registration.checkin.errors import (
    CheckInNotFoundError,
    CheckInUnavailableError,
    EntranceCodeRequiredError,
    InvalidRequestError,
)
from registration.checkin.occupancy import full_notice_occupancy
from registration.checkin.pages import bp
from registration.checkin.web import (
    checkin_limits,
    checkout_limit,
    counts_refusals,
)
from registration.extensions import limiter
from registration.models import CheckIn, CheckInSource
from registration.request_guard import bounded_int
from registration.session import get_clock, get_session, get_settings
from registration.static_files import STATIC_FOLDER
from registration.templating import current_language

# The modules that register guest pages on `bp` besides this one; importing them here
# puts every page on the blueprint the app factory registers.
PAGES = (display,)

__all__ = ["PAGES", "bp"]

CHECKIN_COOKIE = "gr_checkin"
# The page gives up on a request after this long and keeps the check-in in its outbox.
REQUEST_TIMEOUT_SECONDS = 8
# rules.admission_for reads no more of an entrance code (`?t=`) than this.
ENTRANCE_CODE_MAX_LENGTH = 64


def privacy_facts(context: lookup.AreaContext) -> dict[str, Any]:
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
    return {
        "controller": controller,
        "notice": notice,
        "office_name": context.office_name,
        "retention_days": settings.retention_days,
        "key_fingerprint": (
            crypto.format_short_fingerprint(bytes.fromhex(context.key.key_id))
            if context.key is not None
            else ""
        ),
    }


def _admission(context: lookup.AreaContext) -> tuple[str | None, bool]:
    """In rotating mode: an admission (posted, or for a fresh entrance code), else (None, refused)."""
    location = context.location
    try:
        admission = rules.admission_for(
            get_clock(),
            checkin_mode=location.checkin_mode,
            rotating_secret=location.rotating_secret,
            area_code=context.area.code,
            arrival=get_clock().now(),
            admission=request.form.get("admission", "") if request.method == "POST" else "",
            entrance_code=request.args.get("t", ""),
        )
    except EntranceCodeRequiredError:
        return None, True
    # The form is stored at once with the arrival "now", so its admission is never late.
    return (admission.token if admission is not None else None), False


def _page_config(context: lookup.AreaContext, admission: str | None) -> dict[str, Any]:
    """Everything checkin.js needs, passed as a non-executable JSON block (CSP: no inline script)."""
    settings = get_settings()
    return {
        "apiBase": url_for("api.create_checkin"),
        "serviceWorker": url_for("checkin.service_worker"),
        "retentionDays": settings.retention_days,
        "requestTimeoutSeconds": REQUEST_TIMEOUT_SECONDS,
        "areaCode": context.area.code,
        "areaName": context.area.name,
        "locationCode": context.location.code,
        "locationName": context.location.name,
        "key": lookup.current_key_description(context.key) if context.key else None,
        "admission": admission,
        "defaultStayMinutes": context.location.default_stay_minutes,
        "language": current_language(),
        # The browser formats dates with this locale and a 24-hour clock (English: en-GB).
        "dateLocale": i18n.date_locale(current_language()).replace("_", "-"),
        "rules": contact_form.client_rules(settings.contact_required),
        "texts": _client_texts(),
    }


_IMPORT = re.compile(r'(?:\bfrom|^import)\s*"(\.{1,2}/[^"]+)"', re.MULTILINE)


@functools.cache
def module_graph(entry: str, folder: Path = STATIC_FOLDER) -> tuple[str, ...]:
    """`entry` and every module it imports, directly or not, as static paths.

    The guest page names them all in `<link rel="modulepreload">`, so a phone asks
    for every script in one round trip instead of one round per level of imports
    (three on this page: 2 s each on a slow 3G line).
    """
    found: list[str] = []
    waiting = [entry]
    while waiting:
        module = waiting.pop(0)
        if module in found:
            continue
        found.append(module)
        source = (folder / module).read_text(encoding="utf-8")
        base = posixpath.dirname(module)
        waiting.extend(posixpath.normpath(posixpath.join(base, m)) for m in _IMPORT.findall(source))
    return tuple(found)


def _client_texts() -> dict[str, str]:
    """The page script's texts in the request's language, translated once per language
    and process: some forty look-ups in the catalogs were a fifth of the page's time."""
    return dict(_client_texts_in(str(get_locale())))


@functools.lru_cache(maxsize=8)
def _client_texts_in(_language: str) -> dict[str, str]:
    """_client_texts for `_language`, the request's (the cache key; gettext reads it)."""
    return {
        "sent": _("Your check-in has been received."),
        "checkedInTitle": _("You are checked in"),
        "checkedOutTitle": _("You are checked out"),
        "autoDepartureLabel": _("Automatic check-out"),
        "departureLabel": _("Check-out"),
        "queuedBackground": _(
            "Saved on your phone. It will be sent by itself as soon as your phone has a"
            " connection again, even if you close this page."
        ),
        "queuedReopen": _(
            "Saved on your phone. Please open this page again when you have a connection."
        ),
        "sending": _("Sending…"),
        "checkedOut": _("You are checked out. Thank you for your visit!"),
        "checkoutQueuedBackground": _(
            "Check-out saved on your phone. It will be sent by itself as soon as your phone"
            " has a connection again."
        ),
        "checkoutQueuedReopen": _(
            "Check-out saved on your phone. Please open this page again when you have a connection."
        ),
        "errorSummary": _("Please correct the following:"),
        "failed": _("This check-in could not be accepted. Please ask the staff."),
        "notLoaded": _(
            "The page has not finished loading. Please try again when you have a connection."
        ),
        "notDelivered": _("Not delivered"),
        "checkinNotDelivered": _("Check-in not delivered:"),
        "checkoutNotDelivered": _("Check-out not delivered:"),
        "staleKeyRefused": _(
            "The health office changed its key before this check-in could be sent."
            " Please check in again."
        ),
        "dismiss": _("Dismiss"),
        "checkOut": _("Check out"),
        "automatic": _("(automatic)"),
        "open": _("checked in"),
        "over": _("over"),
        "waiting": _("waiting to be sent"),
        "visitsCleared": _("The list has been cleared."),
        "tooMany": _("Too many check-ins from here. Please wait a moment and try again."),
        "rememberedNote": _("Filled in with the details saved on this phone."),
        "forgotten": _("Your details have been removed from this phone."),
        "person": _("Person %(number)s"),
        "removePerson": _("Remove person %(number)s"),
        "personAdded": _("Person %(number)s added."),
        "personRemoved": _("Person removed."),
        "addCompanion": _("Add %(name)s"),
        "companionAdded": _("%(name)s added."),
    }


@bp.get("/sw.js")
def service_worker() -> Response:
    """The guest's service worker (static/js/service-worker.js), at a stable URL.

    Its scope is the whole site, so it wakes up on a visit to any page and delivers
    what waits in the outbox. The script only imports the module under its versioned
    static URL: a new release changes these bytes, and the browser updates the worker.
    """
    module = url_for("static", filename="js/service-worker.js")
    response = Response(f'import "{module}";\n', mimetype="text/javascript")
    response.headers["Cache-Control"] = "no-cache"
    return response


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
        checkin = verified_checkin(get_session(), found[0], found[1])
    except CheckInNotFoundError:
        return None
    now = get_clock().now()
    if checkin.area_id != area_id or checkin.departure is not None or checkin.auto_departure <= now:
        return None
    return checkin, found[1]


def _render_page(
    context: lookup.AreaContext,
    *,
    form: contact_form.ContactForm | None = None,
    idempotency_key: str | None = None,
    admission: str | None = None,
    status: int = 200,
) -> tuple[str, int]:
    session, clock = get_session(), get_clock()
    present = full_notice_occupancy(session, clock, context.location)
    form = form or contact_form.ContactForm()
    return (
        render_template(
            "checkin/page.html",
            context=context,
            location=context.location,
            area=context.area,
            privacy=privacy_facts(context),
            occupancy=present,
            form=form,
            errors=form.errors,
            error_by_field=form.error_by_field,
            labels=contact_form.labels(),
            limits=contact_form.INPUT_LIMITS,
            contact_required=get_settings().contact_required,
            idempotency_key=idempotency_key or secrets.token_urlsafe(24),
            admission=admission,
            config=_page_config(context, admission),
            modules=module_graph("js/checkin.js"),
            current=_current_checkin(context.area.code, context.area.id),
        ),
        status,
    )


@bp.get("/c/<code>")
def page(code: str) -> Any:
    """The check-in page behind an area's QR code."""
    context = lookup.find_area(get_session(), code)
    admission, refused = _admission(context)
    if refused:
        return _render_refused(context)
    if not context.can_check_in:
        return render_template("checkin/unavailable.html", context=context), 503
    html, status = _render_page(context, admission=admission)
    if _reflects_only_our_text(admission):
        return _compressed(html, status)
    return html, status


def _reflects_only_our_text(admission: str | None) -> bool:
    """True if nothing a third party chose is on the page: no query, or a fresh entrance code.

    The page holds secrets (the CSRF token) and links back to itself with its query
    (the language switch). Compressing a page that echoes text an attacker picks next
    to a secret lets the attacker read the secret from the compressed sizes (BREACH);
    without such text, compression reveals nothing.
    """
    query = request.query_string.decode("latin-1")
    if not query:
        return True
    entrance_code = request.args.get("t", "")
    return (
        admission is not None
        and query == f"t={entrance_code}"
        and len(entrance_code) <= ENTRANCE_CODE_MAX_LENGTH
        and entrance_code.replace("-", "").replace("_", "").isalnum()
    )


def _compressed(html: str, status: int) -> Response:
    """The guest page compressed (brotli or gzip): a third of the first load on a slow phone."""
    body = html.encode()
    response = Response(body, status=status, mimetype="text/html")
    encoding = request.accept_encodings.best_match(["br", "gzip"])
    if encoding == "br":
        response.set_data(brotli.compress(body, quality=5))
    elif encoding == "gzip":
        response.set_data(gzip.compress(body, compresslevel=6))
    if encoding:
        response.headers["Content-Encoding"] = encoding
    response.vary.add("Accept-Encoding")
    return response


def _render_refused(context: lookup.AreaContext) -> tuple[str, int]:
    error = EntranceCodeRequiredError()
    return (
        render_template("checkin/entrance_code.html", context=context, message=str(error.message)),
        error.status,
    )


def _edit_persons(form: contact_form.ContactForm, action: str) -> bool:
    """Add or remove a companion's fields (the no-JS page's buttons); False for a submission.

    An edited form is shown again without error messages: it was not submitted yet.
    """
    if action == "add_person":
        if len(form.persons) < contact_form.MAX_ADDITIONAL_PERSONS:
            fields = ("firstName", "lastName", *contact_form.PERSON_ADDRESS_FIELDS)
            form.persons.append(contact_form.Person(values=dict.fromkeys(fields, "")))
    elif action.startswith("remove_person:"):
        index = bounded_int(action.removeprefix("remove_person:"))
        if index is not None and index < len(form.persons):
            del form.persons[index]
    else:
        return False
    form.errors = []
    return True


@bp.post("/c/<code>")
@counts_refusals
@checkin_limits
def submit(code: str) -> Any:
    """The no-JavaScript path: validate, seal in memory, store only the envelope."""
    session, clock, settings = get_session(), get_clock(), get_settings()
    context = lookup.find_area(session, code)
    admission, refused = _admission(context)
    if refused:
        metrics.checkin_refused(EntranceCodeRequiredError.code)
        return _render_refused(context)
    if not context.can_check_in or context.key is None:
        metrics.checkin_refused(CheckInUnavailableError.code)
        return render_template("checkin/unavailable.html", context=context), 503
    idempotency_key = request.form.get("idempotencyKey", "")
    if not rules.IDEMPOTENCY_KEY_PATTERN.fullmatch(idempotency_key):
        idempotency_key = secrets.token_urlsafe(24)
    form = contact_form.read_contact_form(request.form, settings.contact_required)
    if _edit_persons(form, request.form.get("action", "")):
        return _render_page(
            context, form=form, idempotency_key=idempotency_key, admission=admission
        )
    if form.errors:
        metrics.checkin_refused(InvalidRequestError.code)
        return _render_page(
            context, form=form, idempotency_key=idempotency_key, admission=admission, status=422
        )
    persons = 1 + len(form.persons)
    arrival = clock.now().replace(microsecond=0)  # sealed (format v2) and stored alike
    record = form.record()
    # The same form sent twice (double tap, reload) is recognised by what was typed;
    # another guest's key with other values is a conflict (storage.store_checkin).
    digest = storage.form_submission_digest(
        settings, idempotency_key, area_id=context.area.id, persons=persons, record=record
    )
    envelope = crypto.seal_contact_record(
        context.key.public_spki,
        record,
        location_code=context.location.code,
        area_code=context.area.code,
        visit=crypto.VisitBinding(arrival, idempotency_key, CheckInSource.GUEST_FORM.value),
    )
    del form, record  # the typed values go now: only the envelope is kept (the promise, 1)
    receipt = storage.store_checkin(
        session,
        clock,
        settings,
        target=lookup.AreaTarget.of(context.area),
        envelope=envelope,
        persons=persons,
        source=CheckInSource.GUEST_FORM,
        arrival=arrival,
        idempotency_key=idempotency_key,
        submission_digest=digest,
        current_key=context.key,
    )
    return _confirmed(context, receipt.id, receipt.auto_departure, receipt.token)


def _confirmed(
    context: lookup.AreaContext,
    checkin_id: uuid.UUID,
    auto_departure: dt.datetime,
    token: str,
) -> WerkzeugResponse:
    response = redirect(
        url_for("checkin.confirmation", code=context.area.code, checkin_id=checkin_id), code=303
    )
    lifetime = auto_departure - get_clock().now() + dt.timedelta(hours=1)
    response.set_cookie(
        CHECKIN_COOKIE,
        f"{checkin_id}.{token}",
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
    return verified_checkin(get_session(), checkin_id, found[1]), found[1]


@bp.get("/c/<code>/checkin/<uuid:checkin_id>")
def confirmation(code: str, checkin_id: uuid.UUID) -> Any:
    """The no-JS confirmation; it needs this phone's cookie, so a shared link shows nothing."""
    context = lookup.find_area(get_session(), code)
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
    context = lookup.find_area(get_session(), code)
    _checkin, token = _cookie_checkin(code, checkin_id)
    check_out(get_session(), get_clock(), checkin_id, token)
    return redirect(
        url_for("checkin.confirmation", code=context.area.code, checkin_id=checkin_id), code=303
    )
