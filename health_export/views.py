"""The health-office portal under /amt: requests, downloads, decryption, keys, audit log.

Every route needs a health-office account that logged in with its second factor
(the accounts log-in completes only after TOTP for these roles). Objects of
another office — requests, keys, locations outside the jurisdiction — answer 404
exactly like ids that do not exist, so nothing can be probed. Views do HTTP and
templates only; the rules live in registration.tracing (the request lifecycle that
both portals share) and keys.py.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from werkzeug.wrappers import Response

import crypto
from health_export import export_layout
from health_export import keys as key_service
from health_export.errors import HealthOfficeError
from registration.accounts.access import OFFICE_ROLES, signed_in_user
from registration.clock import BERLIN
from registration.extensions import login_manager
from registration.models import (
    AuditEvent,
    HealthOffice,
    KeyState,
    Role,
    TraceRequest,
    TraceRequestState,
    User,
)
from registration.offices import active_key, location_in_jurisdiction, search_locations
from registration.session import get_clock, get_session, get_settings
from registration.tracing.errors import RequestValidationError, TraceRequestError
from registration.tracing.packages import (
    MEDIA_TYPE,
    current_package,
    download_package,
    package_filename,
)
from registration.tracing.requests import (
    abort_trace_request,
    close_trace_request,
    count_matching,
    create_trace_request,
    office_request,
    office_requests,
    refuse_outside_jurisdiction,
)

bp = Blueprint("office", __name__, url_prefix="/amt", template_folder="templates")

Page = str | Response | tuple[str, int]
AUDIT_PAGE_SIZE = 100


STATE_LABELS = {
    TraceRequestState.REQUESTED: _l("requested, waiting for release"),
    TraceRequestState.RELEASED: _l("released, ready to download"),
    TraceRequestState.DOWNLOADED: _l("downloaded"),
    TraceRequestState.CLOSED: _l("closed"),
    TraceRequestState.ABORTED: _l("withdrawn"),
    TraceRequestState.EXPIRED: _l("expired"),
}
KEY_STATE_LABELS = {
    KeyState.PENDING: _l("pending, needs a second person"),
    KeyState.ACTIVE: _l("active"),
    KeyState.RETIRED: _l("retired"),
}
ACTION_LABELS = {
    "office.request.created": _l("Request created"),
    "office.request.refused": _l("Request refused (outside the jurisdiction)"),
    "office.request.aborted": _l("Request withdrawn"),
    "office.request.closed": _l("Request closed"),
    "office.request.expired": _l("Request expired"),
    "office.package.built": _l("Export package made"),
    "office.package.downloaded": _l("Export package downloaded"),
    "office.key.registered": _l("Key registered"),
    "office.key.confirmed": _l("Key confirmed and activated"),
    "office.key.retired": _l("Key retired"),
    "office.key.discarded": _l("Pending key discarded"),
    "request.released": _l("Data released"),
}


@bp.context_processor
def office_helpers() -> dict[str, Any]:
    """Labels for states and audit actions, and fingerprints as people compare them."""

    def fingerprint(key_id_hex: str) -> str:
        return crypto.format_fingerprint(bytes.fromhex(key_id_hex))

    def state_label(state: TraceRequestState) -> str:
        return str(STATE_LABELS[state])

    def key_state_label(state: KeyState) -> str:
        return str(KEY_STATE_LABELS[state])

    def action_label(action: str) -> str:
        label = ACTION_LABELS.get(action)
        return str(label) if label is not None else action

    return {
        "fingerprint": fingerprint,
        "state_label": state_label,
        "key_state_label": key_state_label,
        "action_label": action_label,
    }


@bp.before_request
def require_office_member() -> Any:
    """One gate for every /amt route, so a new route cannot forget it."""
    user = signed_in_user()
    if user is None:
        return login_manager.unauthorized()
    if user.role not in OFFICE_ROLES or user.health_office_id is None:
        abort(403)
    if user.totp_enabled_at is None:
        abort(403)
    return None


def _user() -> User:
    user = signed_in_user()
    if user is None or user.health_office_id is None:
        abort(401)
    return user


def _office(user: User) -> HealthOffice:
    office = get_session().get(HealthOffice, user.health_office_id)
    if office is None:
        abort(403)
    return office


def _require_admin(user: User) -> None:
    if user.role is not Role.HEALTH_OFFICE_ADMIN:
        abort(403)


def _own_request(user: User, request_id: int) -> TraceRequest:
    trace_request = office_request(get_session(), _office(user).id, request_id)
    if trace_request is None:
        abort(404)
    return trace_request


def _fail(error: TraceRequestError) -> None:
    """Domain errors that are not form errors: 404s stay 404s, the rest are flashed."""
    if error.status == 404:
        abort(404)
    flash(str(error), "error")


# --- dashboard and locations -------------------------------------------------------------


@bp.get("/")
def dashboard() -> Page:
    user = _user()
    office = _office(user)
    session = get_session()
    return render_template(
        "office/dashboard.html",
        office=office,
        user=user,
        active_key=active_key(session, office.id),
        requests=office_requests(session, office.id),
    )


@bp.get("/locations")
def locations() -> Page:
    user = _user()
    office = _office(user)
    query = request.args.get("q", "").strip()[:100]
    found = search_locations(get_session(), office.id, query) if query else []
    return render_template("office/locations.html", office=office, query=query, found=found)


# --- trace requests --------------------------------------------------------------------


def _parse_local(value: str) -> dt.datetime | None:
    """A `datetime-local` value, read as Europe/Berlin time."""
    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is not None:
        return None
    return moment.replace(tzinfo=BERLIN).astimezone(dt.UTC)


def _location_or_404(user: User, location_id: int) -> Any:
    office = _office(user)
    session = get_session()
    location = location_in_jurisdiction(session, office.id, location_id)
    if location is None:
        refuse_outside_jurisdiction(
            session, get_clock(), office_id=office.id, user=user, location_id=location_id
        )
        abort(404)
    return location


def _form_defaults() -> dict[str, str]:
    now = get_clock().now().astimezone(BERLIN).replace(second=0, microsecond=0, tzinfo=None)
    return {
        "window_start": (now - dt.timedelta(hours=4)).isoformat(timespec="minutes"),
        "window_end": now.isoformat(timespec="minutes"),
        "case_reference": "",
        "reason": "",
    }


@bp.get("/requests/new")
def new_request() -> Page:
    user = _user()
    location_id = request.args.get("location", type=int)
    if location_id is None:
        return redirect(url_for("office.locations"), code=303)
    location = _location_or_404(user, location_id)
    return render_template(
        "office/request_form.html",
        location=location,
        values=_form_defaults(),
        chosen=set(),
        errors={},
        max_days=get_settings().trace_window_max_days,
    )


@bp.post("/requests")
def create_request() -> Page:
    user = _user()
    office = _office(user)
    location_id = request.form.get("location_id", type=int)
    if location_id is None:
        abort(400)
    location = _location_or_404(user, location_id)
    values = {
        name: request.form.get(name, "")
        for name in ("window_start", "window_end", "case_reference", "reason")
    }
    area_ids = [int(value) for value in request.form.getlist("areas") if value.isdigit()]
    errors: dict[str, str] = {}
    window_start = _parse_local(values["window_start"])
    window_end = _parse_local(values["window_end"])
    if window_start is None:
        errors["window_start"] = _("Enter a date and time.")
    if window_end is None:
        errors["window_end"] = _("Enter a date and time.")
    if window_start is not None and window_end is not None:
        try:
            trace_request = create_trace_request(
                get_session(),
                get_clock(),
                get_settings(),
                office_id=office.id,
                requested_by=user,
                location_id=location.id,
                window_start=window_start,
                window_end=window_end,
                case_reference=values["case_reference"],
                reason=values["reason"],
                area_ids=area_ids,
            )
        except RequestValidationError as error:
            errors[error.field] = str(error)
        else:
            flash(_("The request was sent to the business."), "success")
            return redirect(url_for("office.request_detail", request_id=trace_request.id), code=303)
    return render_template(
        "office/request_form.html",
        location=location,
        values=values,
        chosen=set(area_ids),
        errors=errors,
        max_days=get_settings().trace_window_max_days,
    ), 422


@bp.get("/requests/<int:request_id>")
def request_detail(request_id: int) -> Page:
    user = _user()
    trace_request = _own_request(user, request_id)
    session = get_session()
    package = current_package(session, trace_request)
    events = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.trace_request_id == trace_request.id)
        .order_by(AuditEvent.id)
    ).all()
    return render_template(
        "office/request_detail.html",
        trace_request=trace_request,
        package=package,
        events=events,
        matching=count_matching(session, trace_request)
        if trace_request.state is TraceRequestState.REQUESTED
        else None,
        now=get_clock().now(),
        State=TraceRequestState,
    )


@bp.post("/requests/<int:request_id>/abort")
def abort_request(request_id: int) -> Response:
    user = _user()
    trace_request = _own_request(user, request_id)
    try:
        abort_trace_request(
            get_session(), get_clock(), get_settings(), trace_request, aborted_by=user
        )
        flash(_("The request was withdrawn."), "success")
    except TraceRequestError as error:
        _fail(error)
    return redirect(url_for("office.request_detail", request_id=request_id), code=303)


@bp.post("/requests/<int:request_id>/close")
def close_request(request_id: int) -> Response:
    user = _user()
    trace_request = _own_request(user, request_id)
    try:
        close_trace_request(
            get_session(), get_clock(), get_settings(), trace_request, closed_by=user
        )
        flash(_("The request is closed."), "success")
    except TraceRequestError as error:
        _fail(error)
    return redirect(url_for("office.request_detail", request_id=request_id), code=303)


@bp.get("/requests/<int:request_id>/package")
def download(request_id: int) -> Response:
    """The export package: only for the requesting office, every download audited."""
    user = _user()
    trace_request = _own_request(user, request_id)
    try:
        package = download_package(
            get_session(), get_clock(), get_settings(), trace_request, user=user
        )
    except TraceRequestError as error:
        from registration.errors import ApiError

        raise ApiError(error.status, error.code, str(error)) from None
    response = Response(package.content, mimetype=MEDIA_TYPE)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{package_filename(trace_request)}"'
    )
    response.headers["X-Package-Sha256"] = package.sha256
    return response


@bp.get("/requests/<int:request_id>/decrypt")
def decrypt_request(request_id: int) -> Page:
    user = _user()
    trace_request = _own_request(user, request_id)
    return render_template(
        "office/decrypt.html",
        trace_request=trace_request,
        export_layout=export_layout.client_layout(),
    )


@bp.get("/decrypt")
def decrypt_any() -> Page:
    _user()
    return render_template(
        "office/decrypt.html", trace_request=None, export_layout=export_layout.client_layout()
    )


# --- keys --------------------------------------------------------------------------------


@bp.get("/keys")
def keys() -> Page:
    user = _user()
    office = _office(user)
    settings = get_settings()
    listed = key_service.listed_keys(
        get_session(), office.id, now=get_clock().now(), retention_days=settings.retention_days
    )
    return render_template("office/keys.html", office=office, keys=listed, user=user)


@bp.get("/keys/new")
def new_key() -> Page:
    user = _user()
    _require_admin(user)
    return render_template("office/key_new.html", office=_office(user))


@bp.post("/keys")
def register_key() -> Page:
    user = _user()
    _require_admin(user)
    office = _office(user)
    session = get_session()
    try:
        key_service.register_key(
            session,
            get_clock(),
            office_id=office.id,
            registered_by=user,
            public_key=request.form.get("public_key", ""),
            key_id=request.form.get("key_id", ""),
            label=request.form.get("label", ""),
        )
    except HealthOfficeError as error:
        session.rollback()
        flash(str(error), "error")
        return render_template("office/key_new.html", office=office), 422
    session.commit()
    flash(
        _("The key is registered. A second person must now compare and confirm its fingerprint."),
        "success",
    )
    return redirect(url_for("office.keys"), code=303)


def _own_key(user: User, key_pk: int) -> Any:
    key = key_service.office_key(get_session(), _office(user).id, key_pk)
    if key is None:
        abort(404)
    return key


@bp.post("/keys/<int:key_pk>/confirm")
def confirm_key(key_pk: int) -> Response:
    user = _user()
    key = _own_key(user, key_pk)
    session = get_session()
    if request.form.get("fingerprint_checked") != "yes":
        flash(_("Please confirm that you compared the fingerprint."), "error")
        return redirect(url_for("office.keys"), code=303)
    try:
        key_service.confirm_key(session, get_clock(), key, confirmed_by=user)
    except HealthOfficeError as error:
        session.rollback()
        if error.status == 403:
            abort(403, description=str(error))
        flash(str(error), "error")
        return redirect(url_for("office.keys"), code=303)
    session.commit()
    flash(_("The key is active. Guests' data is now sealed to it."), "success")
    return redirect(url_for("office.keys"), code=303)


@bp.post("/keys/<int:key_pk>/discard")
def discard_key(key_pk: int) -> Response:
    user = _user()
    _require_admin(user)
    key = _own_key(user, key_pk)
    session = get_session()
    try:
        key_service.discard_pending_key(session, get_clock(), key, discarded_by=user)
    except HealthOfficeError as error:
        session.rollback()
        flash(str(error), "error")
        return redirect(url_for("office.keys"), code=303)
    session.commit()
    flash(_("The pending key was discarded."), "success")
    return redirect(url_for("office.keys"), code=303)


# --- audit log ---------------------------------------------------------------------------


@bp.get("/audit")
def audit_log() -> Page:
    """The office's own entries, newest first (admins only)."""
    user = _user()
    _require_admin(user)
    office = _office(user)
    before = request.args.get("before", type=int)
    statement = select(AuditEvent).where(AuditEvent.health_office_id == office.id)
    if before is not None:
        statement = statement.where(AuditEvent.id < before)
    events = list(
        get_session().scalars(statement.order_by(AuditEvent.id.desc()).limit(AUDIT_PAGE_SIZE + 1))
    )
    more = len(events) > AUDIT_PAGE_SIZE
    events = events[:AUDIT_PAGE_SIZE]
    return render_template(
        "office/audit.html",
        office=office,
        events=events,
        next_before=events[-1].id if more and events else None,
    )
