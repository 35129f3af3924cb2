"""The owner's inbox of health-office requests with the release, and the audit list."""

from __future__ import annotations

from flask import abort, flash, render_template
from flask_babel import gettext as _
from sqlalchemy import select

from registration.accounts.access import acting_user, business_id_of, owner_required
from registration.models import Location, TraceRequest, TraceRequestState
from registration.portal import listings
from registration.portal.blueprint import Page, bp, see_other
from registration.portal.forms import DeclineForm, QueryForm, ReleaseForm
from registration.session import get_clock, get_session, get_settings
from registration.tracing.errors import (
    InvalidTransitionError,
    ReleaseNotPossibleError,
    RequestValidationError,
)
from registration.tracing.release import release_trace_request
from registration.tracing.requests import decline_trace_request, query_trace_request


def _own_request(request_id: int) -> TraceRequest:
    owner = acting_user()
    trace_request: TraceRequest | None = get_session().scalar(
        select(TraceRequest)
        .join(Location, TraceRequest.location_id == Location.id)
        .where(TraceRequest.id == request_id, Location.business_id == business_id_of(owner))
    )
    if trace_request is None:
        abort(404)
    return trace_request


@bp.get("/requests")
@owner_required
def requests() -> Page:
    user = acting_user()
    return render_template(
        "portal/requests.html",
        trace_requests=listings.trace_requests_of(get_session(), business_id_of(user)),
        states=TraceRequestState,
    )


def _request_page(
    trace_request: TraceRequest,
    *,
    form: ReleaseForm | None = None,
    decline_form: DeclineForm | None = None,
    query_form: QueryForm | None = None,
) -> str:
    return render_template(
        "portal/request.html",
        trace_request=trace_request,
        form=form or ReleaseForm(formdata=None),
        decline_form=decline_form or DeclineForm(formdata=None),
        query_form=query_form or QueryForm(formdata=None),
        states=TraceRequestState,
    )


@bp.get("/requests/<int:request_id>")
@owner_required
def trace_request(request_id: int) -> Page:
    return _request_page(_own_request(request_id))


@bp.post("/requests/<int:request_id>/release")
@owner_required
def release(request_id: int) -> Page:
    user = acting_user()
    wanted = _own_request(request_id)
    form = ReleaseForm()
    if not form.validate_on_submit():
        return _request_page(wanted, form=form), 422
    try:
        release_trace_request(get_session(), get_clock(), get_settings(), wanted, released_by=user)
    except ReleaseNotPossibleError as error:
        if wanted.state != TraceRequestState.RELEASED:
            flash(error.message, "error")
    else:
        flash(
            _("Released. The health office can now download the encrypted guest data."), "success"
        )
    return see_other("portal.trace_request", request_id=wanted.id)


@bp.post("/requests/<int:request_id>/decline")
@owner_required
def decline(request_id: int) -> Page:
    """Decline with a reason: final; the office sees the reason on its request page."""
    user = acting_user()
    wanted = _own_request(request_id)
    form = DeclineForm()
    if form.validate_on_submit():
        try:
            decline_trace_request(
                get_session(),
                get_clock(),
                get_settings(),
                wanted,
                declined_by=user,
                reason=form.reason.data or "",
            )
        except RequestValidationError as error:
            form.reason.errors = [error.message]
        except InvalidTransitionError as error:
            flash(error.message, "error")
            return see_other("portal.trace_request", request_id=wanted.id)
        else:
            flash(_("Declined. The health office sees your reason."), "success")
            return see_other("portal.trace_request", request_id=wanted.id)
    return _request_page(wanted, decline_form=form), 422


@bp.post("/requests/<int:request_id>/query")
@owner_required
def ask_back(request_id: int) -> Page:
    """Ask the office a question; the request waits for its answer."""
    user = acting_user()
    wanted = _own_request(request_id)
    form = QueryForm()
    if form.validate_on_submit():
        try:
            query_trace_request(
                get_session(),
                get_clock(),
                get_settings(),
                wanted,
                asked_by=user,
                question=form.question.data or "",
            )
        except RequestValidationError as error:
            form.question.errors = [error.message]
        except InvalidTransitionError as error:
            flash(error.message, "error")
            return see_other("portal.trace_request", request_id=wanted.id)
        else:
            flash(_("Your question was sent to the health office."), "success")
            return see_other("portal.trace_request", request_id=wanted.id)
    return _request_page(wanted, query_form=form), 422


@bp.get("/audit")
@owner_required
def audit() -> Page:
    user = acting_user()
    session = get_session()
    business_id = business_id_of(user)
    names = {
        place.id: place.name
        for place in session.scalars(select(Location).where(Location.business_id == business_id))
    }
    return render_template(
        "portal/audit.html",
        events=listings.audit_events_of(session, business_id),
        location_names=names,
    )
