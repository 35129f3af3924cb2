"""The business portal under /portal: locations, areas, posters, live view, staff, requests.

Every object is looked up through the caller's business (404 otherwise); owners manage
locations, staff and releases, staff see live counts and type in paper entries. Every
form repeats safely: a double click never creates a second location, area or release.
"""

from __future__ import annotations

from flask import render_template

from registration.accounts.access import acting_user, business_id_of, business_member_required
from registration.models import Role
from registration.portal import (
    listings,
    live_counts,
    locations,
    views_history,
    views_live,
    views_locations,
    views_posters,
    views_requests,
    views_staff,
    views_staff_entry,
)
from registration.portal.blueprint import Page, bp
from registration.session import get_clock, get_session

# The modules that register the portal's pages on `bp`; importing them here is what
# puts every page on the blueprint the app factory registers.
PAGES = (
    views_history,
    views_live,
    views_locations,
    views_posters,
    views_requests,
    views_staff,
    views_staff_entry,
)

__all__ = ["PAGES", "bp"]


@bp.get("/")
@business_member_required
def dashboard() -> Page:
    """The portal's home: each location with its live counts, and requests waiting."""
    user = acting_user()
    session = get_session()
    business_id = business_id_of(user)
    rows = []
    for location in locations.locations_of(session, business_id):
        locations.responsible_office(session, location)
        rows.append(
            {
                "location": location,
                "counts": live_counts.live_counts(session, get_clock(), location),
                "can_check_in": locations.can_check_in(session, location),
            }
        )
    return render_template(
        "portal/dashboard.html",
        user=user,
        rows=rows,
        archived=locations.locations_of(session, business_id, archived=True),
        waiting=listings.waiting_requests(session, business_id)
        if user.role == Role.BUSINESS_OWNER
        else 0,
        is_owner=user.role == Role.BUSINESS_OWNER,
    )
