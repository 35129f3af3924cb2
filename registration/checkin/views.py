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
import posixpath
import re
import secrets
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import brotli  # type: ignore[import-untyped]  # Flask-Compress's brotli ships no type hints
from flask import (
    Response,
    current_app,
    get_template_attribute,
    redirect,
    render_template,
    request,
    url_for,
)
from flask import session as cookie_session
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf.csrf import generate_csrf
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup, escape
from werkzeug.wrappers import Response as WerkzeugResponse

import crypto
from registration import i18n, metrics
from registration.checkin import contact_form, display, lookup, page_cache, rules, storage
from registration.checkin.checkout import check_out, verified_checkin
from registration.checkin.errors import (
    CheckInNotFoundError,
    CheckInUnavailableError,
    EntranceCodeRequiredError,
    InvalidRequestError,
    UnknownAreaError,
)
from registration.checkin.occupancy import full_notice
from registration.checkin.pages import bp
from registration.checkin.short_cache import ShortCache
from registration.checkin.web import (
    checkin_limits,
    checkout_limit,
    counts_refusals,
    no_rate_limit,
)
from registration.extensions import limiter
from registration.models import CheckIn, CheckInSource
from registration.request_guard import bounded_int
from registration.session import get_clock, get_db, get_session, get_settings
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


def privacy_facts(page: lookup.GuestPageArea) -> dict[str, Any]:
    """DSGVO Art. 13: who is responsible, why, who receives the data, when it is deleted."""
    settings = get_settings()
    controller = settings.privacy_controller or ", ".join(
        part
        for part in (
            page.business_name,
            f"{page.street} {page.house_number}".strip(),
            f"{page.zip_code} {page.city}".strip(),
        )
        if part
    )
    notice = [part.strip() for part in settings.privacy_notice.split("\n\n") if part.strip()]
    return {
        "controller": controller,
        "notice": notice,
        "office_name": page.office_name,
        "retention_days": settings.retention_days,
        "key_fingerprint": (
            crypto.format_short_fingerprint(bytes.fromhex(page.key.key_id))
            if page.key is not None
            else ""
        ),
    }


def _admission(page: lookup.GuestPageArea) -> tuple[str | None, bool]:
    """In rotating mode: an admission (posted, or for a fresh entrance code), else (None, refused)."""
    try:
        admission = rules.admission_for(
            get_clock(),
            checkin_mode=page.checkin_mode,
            rotating_secret=page.rotating_secret,
            area_code=page.area_code,
            arrival=get_clock().now(),
            admission=request.form.get("admission", "") if request.method == "POST" else "",
            entrance_code=request.args.get("t", ""),
        )
    except EntranceCodeRequiredError:
        return None, True
    # The form is stored at once with the arrival "now", so its admission is never late.
    return (admission.token if admission is not None else None), False


def _page_config(page: lookup.GuestPageArea, admission: str | None) -> dict[str, Any]:
    """Everything checkin.js needs, passed as a non-executable JSON block (CSP: no inline script)."""
    settings = get_settings()
    return {
        "apiBase": url_for("api.create_checkin"),
        "serviceWorker": url_for("checkin.service_worker"),
        "retentionDays": settings.retention_days,
        "requestTimeoutSeconds": REQUEST_TIMEOUT_SECONDS,
        "areaCode": page.area_code,
        "areaName": page.area_name,
        "locationCode": page.location_code,
        "locationName": page.location_name,
        "key": lookup.current_key_description(page.key) if page.key else None,
        "admission": admission,
        "defaultStayMinutes": page.default_stay_minutes,
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
    if not raw:
        return None
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
    page: lookup.GuestPageArea,
    *,
    form: contact_form.ContactForm | None = None,
    idempotency_key: str | None = None,
    admission: str | None = None,
    status: int = 200,
) -> tuple[page_cache.PageSkeleton, dict[str, str], int]:
    """The check-in page as a skeleton and its slots' values for this request.

    An empty form (every GET) comes from the app's PageCache; a posted form shown again
    (errors, a person added) is rendered for this request alone. A message flashed for
    the next page is shown by a page rendered for this request, too.
    """
    if form is None and not cookie_session.get("_flashes"):
        key = (page, current_language(), request.script_root)
        skeleton = _page_cache().skeleton(key, functools.partial(_page_template, page, None))
    else:
        skeleton = page_cache.PageSkeleton.render(functools.partial(_page_template, page, form))
    return skeleton, page_slots(page, idempotency_key, admission), status


def _page_template(
    page: lookup.GuestPageArea,
    form: contact_form.ContactForm | None,
    slots: Mapping[str, Markup],
) -> str:
    """The page's template with `slots` (page_cache's markers) where per-request values go."""
    form = form or contact_form.ContactForm()
    return render_template(
        "checkin/page.html",
        page=page,
        privacy=privacy_facts(page),
        form=form,
        errors=form.errors,
        error_by_field=form.error_by_field,
        labels=contact_form.labels(),
        limits=contact_form.INPUT_LIMITS,
        contact_required=get_settings().contact_required,
        config=_page_config(page, slots["admission_json"]),
        modules=module_graph("js/checkin.js"),
        slots=slots,
        return_path=slots["return_path"],
    )


def page_slots(
    page: lookup.GuestPageArea, idempotency_key: str | None, admission: str | None
) -> dict[str, str]:
    """This request's values for the page's slots, each escaped for where it stands."""
    present = full_notice(get_session, get_clock(), page)
    current = _current_checkin(page.area_code, page.area_id)
    return {
        "csrf_token": escape(generate_csrf()),
        "idempotency_key": escape(idempotency_key or secrets.token_urlsafe(24)),
        "admission_input": (
            Markup('<input type="hidden" name="admission" value="%s">') % admission
            if admission
            else ""
        ),
        "admission_json": "null" if admission is None else htmlsafe_json_dumps(admission),
        "full_notice": _notice("full_notice", present) if present.is_full else "",
        "current_checkin": _notice("current_checkin", current, page.area_code) if current else "",
        # As url_for writes a query value, then escaped for the attribute it stands in.
        "return_path": escape(quote_plus(request.full_path.rstrip("?"), safe=_QUERY_SAFE)),
    }


# The characters werkzeug's URL builder leaves unquoted in a query value.
_QUERY_SAFE = "!$'()*,/:;?@"


def _notice(name: str, *args: Any) -> str:
    macro = get_template_attribute("checkin/_page_notices.html", name)
    return str(macro(*args))


def _page_cache() -> page_cache.PageCache:
    cache: page_cache.PageCache = current_app.extensions[page_cache.EXTENSION]
    return cache


def _page_response(
    rendered: tuple[page_cache.PageSkeleton, dict[str, str], int], *, compress: bool
) -> Response:
    """The page as HTML, compressed if `compress`: gzip from the kept pieces (no work per
    request), else brotli; gzip first, as every browser that sends br sends gzip too."""
    skeleton, values, status = rendered
    encoding = request.accept_encodings.best_match(["gzip", "br"]) if compress else None
    if encoding == "gzip":
        body, compressed = skeleton.gzip(values)
    else:
        body = compressed = skeleton.fill(values)
        if encoding == "br":
            compressed = brotli.compress(body, quality=5)
    response = Response(compressed, status=status, mimetype="text/html")
    if encoding:
        response.headers["Content-Encoding"] = encoding
        response.vary.add("Accept-Encoding")
    return response


@bp.get("/c/<code>")
@no_rate_limit
def page(code: str) -> Any:
    """The check-in page behind an area's QR code; its area as read at most
    lookup.GUEST_PAGE_STALENESS ago (by this process)."""
    if not lookup.is_code(code):
        raise UnknownAreaError
    areas: ShortCache[str, lookup.GuestPageArea]
    areas = current_app.extensions[lookup.GUEST_PAGE_AREAS_EXTENSION]
    area = areas.get(code, get_clock(), lambda _now: _read_page_area(code))
    admission, refused = _admission(area)
    if refused:
        return _render_refused(area)
    if not area.can_check_in:
        return _render_unavailable(area)
    return _page_response(
        _render_page(area, admission=admission),
        compress=_reflects_only_our_text(admission is not None),
    )


def _read_page_area(code: str) -> lookup.GuestPageArea:
    with get_db().request_connection() as connection:
        return lookup.find_guest_page_area(connection, code)


def _reflects_only_our_text(admitted: bool) -> bool:
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
        admitted
        and query == f"t={entrance_code}"
        and len(entrance_code) <= ENTRANCE_CODE_MAX_LENGTH
        and entrance_code.replace("-", "").replace("_", "").isalnum()
    )


def _render_refused(page: lookup.GuestPageArea) -> tuple[str, int]:
    error = EntranceCodeRequiredError()
    return (
        render_template(
            "checkin/entrance_code.html",
            location_name=page.location_name,
            message=str(error.message),
        ),
        error.status,
    )


def _render_unavailable(page: lookup.GuestPageArea) -> tuple[str, int]:
    return (
        render_template("checkin/unavailable.html", location_name=page.location_name),
        503,
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
    page = lookup.GuestPageArea.of(context)
    admission, refused = _admission(page)
    if refused:
        metrics.checkin_refused(EntranceCodeRequiredError.code)
        return _render_refused(page)
    if not context.can_check_in or context.key is None:
        metrics.checkin_refused(CheckInUnavailableError.code)
        return _render_unavailable(page)
    idempotency_key = request.form.get("idempotencyKey", "")
    if not rules.IDEMPOTENCY_KEY_PATTERN.fullmatch(idempotency_key):
        idempotency_key = secrets.token_urlsafe(24)
    form = contact_form.read_contact_form(request.form, settings.contact_required)
    if _edit_persons(form, request.form.get("action", "")):
        return _page_response(
            _render_page(page, form=form, idempotency_key=idempotency_key, admission=admission),
            compress=False,
        )
    if form.errors:
        metrics.checkin_refused(InvalidRequestError.code)
        return _page_response(
            _render_page(
                page, form=form, idempotency_key=idempotency_key, admission=admission, status=422
            ),
            compress=False,
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
