"""Trace requests from the office's side: ask, follow, withdraw, close, download, decrypt.

The rules live in registration.tracing, the request lifecycle both portals share.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response

from health_export import export_layout
from health_export.views.portal import Page, bp, member, office_of
from registration.clock import BERLIN
from registration.models import AuditEvent, TraceRequest, TraceRequestState, User
from registration.offices import location_in_jurisdiction
from registration.request_guard import berlin_moment, bounded_int, id_arg
from registration.session import get_clock, get_session, get_settings
from registration.tracing.errors import RequestValidationError, TraceRequestError
from registration.tracing.packages import (
    MEDIA_TYPE,
    current_package,
    download_package,
    package_filename,
)
from registration.tracing.requests import (
    NOTE_MAX,
    abort_trace_request,
    answer_trace_request,
    close_trace_request,
    count_matching,
    create_trace_request,
    office_request,
    refuse_outside_jurisdiction,
)


def _own_request(user: User, request_id: int) -> TraceRequest:
    trace_request = office_request(get_session(), office_of(user).id, request_id)
    if trace_request is None:
        abort(404)
    return trace_request


def _fail(error: TraceRequestError) -> None:
    """Domain errors that are not form errors: 404s stay 404s, the rest are flashed."""
    if error.status == 404:
        abort(404)
    flash(str(error), "error")


def _parse_local(value: str) -> dt.datetime | None:
    """A `datetime-local` value, read as Europe/Berlin time; None if it is none."""
    return berlin_moment(value)


def _location_or_404(user: User, location_id: int) -> Any:
    office = office_of(user)
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
    user = member()
    location_id = id_arg(request.args, "location")
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
    user = member()
    office = office_of(user)
    location_id = id_arg(request.form, "location_id")
    if location_id is None:
        abort(400)
    location = _location_or_404(user, location_id)
    values = {
        name: request.form.get(name, "")
        for name in ("window_start", "window_end", "case_reference", "reason")
    }
    chosen_areas = [bounded_int(value) for value in request.form.getlist("areas")]
    area_ids = [area_id for area_id in chosen_areas if area_id is not None]
    errors: dict[str, str] = {}
    if len(area_ids) != len(chosen_areas):
        errors["areas"] = _("Choose only areas of this location.")
    window_start = _parse_local(values["window_start"])
    window_end = _parse_local(values["window_end"])
    if window_start is None:
        errors["window_start"] = _("Enter a date and time.")
    if window_end is None:
        errors["window_end"] = _("Enter a date and time.")
    if window_start is not None and window_end is not None and not errors:
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
    user = member()
    return _detail_page(_own_request(user, request_id))


def _detail_page(trace_request: TraceRequest, *, answer: str = "", answer_error: str = "") -> str:
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
        answer=answer,
        answer_error=answer_error,
        note_max=NOTE_MAX,
    )


@bp.post("/requests/<int:request_id>/answer")
def answer_request(request_id: int) -> Page:
    """Answer the business's question: the request waits for its release again."""
    user = member()
    trace_request = _own_request(user, request_id)
    answer = request.form.get("answer", "")
    try:
        answer_trace_request(
            get_session(),
            get_clock(),
            get_settings(),
            trace_request,
            answered_by=user,
            answer=answer,
        )
    except RequestValidationError as error:
        shown = "".join(char for char in answer if char.isprintable() or char in "\n\t")
        return _detail_page(trace_request, answer=shown[:NOTE_MAX], answer_error=str(error)), 422
    except TraceRequestError as error:
        _fail(error)
    else:
        flash(_("Your answer was sent. The request waits for the release again."), "success")
    return redirect(url_for("office.request_detail", request_id=request_id), code=303)


@bp.post("/requests/<int:request_id>/abort")
def abort_request(request_id: int) -> Response:
    user = member()
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
    user = member()
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
    user = member()
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
    user = member()
    trace_request = _own_request(user, request_id)
    return render_template(
        "office/decrypt.html",
        trace_request=trace_request,
        export_layout=export_layout.client_layout(),
    )


@bp.get("/decrypt")
def decrypt_any() -> Page:
    member()
    return render_template(
        "office/decrypt.html", trace_request=None, export_layout=export_layout.client_layout()
    )
