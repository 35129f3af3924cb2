"""The live view: counts of guests present (page and polling JSON) and closing time."""

from __future__ import annotations

from flask import flash, jsonify, render_template
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from registration.accounts.access import acting_user, business_member_required, owned_location
from registration.portal import live_counts
from registration.portal.blueprint import Page, bp, see_other
from registration.portal.forms import ConfirmActionForm
from registration.session import get_clock, get_session


@bp.get("/locations/<int:location_id>/live")
@business_member_required
def live(location_id: int) -> Page:
    place = owned_location(get_session(), acting_user(), location_id)
    counts = live_counts.live_counts(get_session(), get_clock(), place)
    return render_template(
        "portal/live.html", location=place, counts=counts, form=ConfirmActionForm()
    )


@bp.get("/locations/<int:location_id>/live.json")
@business_member_required
def live_json(location_id: int) -> Response:
    """Counts only, for the live view's polling script; never names or contact data."""
    place = owned_location(get_session(), acting_user(), location_id)
    return jsonify(live_counts.live_counts(get_session(), get_clock(), place).as_json())


@bp.post("/locations/<int:location_id>/checkout-all")
@business_member_required
def checkout_all(location_id: int) -> Page:
    user = acting_user()
    session = get_session()
    place = owned_location(session, user, location_id)
    form = ConfirmActionForm()
    if form.validate_on_submit():
        count = live_counts.check_out_everyone(session, get_clock(), place, by=user)
        flash(_("Checked out: %(count)s visits.", count=count), "success")
    else:
        flash(_("Please confirm by ticking the box."), "error")
    return see_other("portal.live", location_id=place.id)
