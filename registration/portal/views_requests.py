"""The owner's inbox of health-office requests with the release, and the audit list."""

from __future__ import annotations

from flask import abort, flash, render_template
from flask_babel import gettext as _
from sqlalchemy import select

from registration.accounts.access import acting_user, business_id_of, owner_required
from registration.models import Location, TraceRequest, TraceRequestState
from registration.portal import listings
from registration.portal.blueprint import Page, bp, see_other
from registration.portal.forms import ReleaseForm
from registration.session import get_clock, get_session, get_settings
from registration.tracing.errors import ReleaseNotPossibleError
from registration.tracing.release import release_trace_request


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


@bp.get("/requests/<int:request_id>")
@owner_required
def trace_request(request_id: int) -> Page:
    return render_template(
        "portal/request.html",
        trace_request=_own_request(request_id),
        form=ReleaseForm(),
        states=TraceRequestState,
    )


@bp.post("/requests/<int:request_id>/release")
@owner_required
def release(request_id: int) -> Page:
    user = acting_user()
    wanted = _own_request(request_id)
    form = ReleaseForm()
    if not form.validate_on_submit():
        return render_template(
            "portal/request.html", trace_request=wanted, form=form, states=TraceRequestState
        ), 422
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
