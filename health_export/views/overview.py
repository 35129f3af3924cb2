"""The office's overview pages: dashboard, location search, its own audit log."""

from __future__ import annotations

from flask import render_template, request
from sqlalchemy import select

from health_export.views.portal import Page, bp, member, office_of, require_admin
from registration.models import AuditEvent
from registration.offices import active_key, search_locations
from registration.request_guard import id_arg
from registration.session import get_session
from registration.tracing.requests import office_requests

AUDIT_PAGE_SIZE = 100


@bp.get("/")
def dashboard() -> Page:
    user = member()
    office = office_of(user)
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
    user = member()
    office = office_of(user)
    query = request.args.get("q", "").strip()[:100]
    found = search_locations(get_session(), office.id, query) if query else []
    return render_template("office/locations.html", office=office, query=query, found=found)


@bp.get("/audit")
def audit_log() -> Page:
    """The office's own entries, newest first (admins only)."""
    user = member()
    require_admin(user)
    office = office_of(user)
    before = id_arg(request.args, "before")
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
