"""The owner's locations and areas: create (a double click creates one), change,
archive and restore; the location page every member sees.
"""

from __future__ import annotations

import hmac

from flask import abort, flash, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response

from registration.accounts.access import (
    acting_user,
    business_member_required,
    owned_area,
    owned_location,
    owner_required,
)
from registration.models import CheckInMode, Location, Role, User, new_public_code
from registration.portal import locations, posters
from registration.portal.blueprint import Page, bp, see_other
from registration.portal.errors import PortalError
from registration.portal.forms import (
    AreasForm,
    ButtonForm,
    ConfirmActionForm,
    LocationForm,
    NewLocationForm,
)
from registration.session import get_clock, get_session, get_settings

# --- locations -----------------------------------------------------------------------


def _creation_token(user: User, code: str | None = None) -> str:
    """A one-time token for the new-location form; its code becomes the location's code."""
    code = code or new_public_code()
    return f"{code}.{_creation_signature(user, code)}"


def _creation_signature(user: User, code: str) -> str:
    message = f"{user.id}:{code}".encode()
    return get_settings().keyed_hash("location-form", message).hex()[:32]


def _code_from_token(user: User, token: str) -> str | None:
    code, _, signature = token.partition(".")
    if not (1 <= len(code) <= 64) or not hmac.compare_digest(
        signature, _creation_signature(user, code)
    ):
        return None
    return code


def _details(form: LocationForm) -> locations.LocationDetails:
    return locations.LocationDetails(
        name=form.name.data,
        street=form.street.data,
        house_number=form.house_number.data,
        zip_code=form.zip_code.data,
        city=form.city.data,
        default_stay_minutes=form.default_stay_minutes.data,
        capacity=form.capacity.data,
        checkin_mode=CheckInMode(form.checkin_mode.data),
    )


@bp.route("/locations/new", methods=["GET", "POST"])
@owner_required
def new_location() -> Page:
    user = acting_user()
    session = get_session()
    form = NewLocationForm()
    if request.method == "GET":
        form.creation_token.data = _creation_token(user)
    if form.validate_on_submit():
        code = _code_from_token(user, form.creation_token.data)
        if code is None:
            abort(400)
        previous = locations.find_location_by_code(session, code)
        if previous is not None:
            return _repeated_creation(user, previous)
        try:
            names = locations.parse_area_spec(form.areas.data or "")
        except PortalError as error:
            form.areas.errors.append(error.message)
        else:
            business = user.business
            if business is None:
                abort(403)
            try:
                location = locations.create_location(
                    session,
                    get_clock(),
                    business=business,
                    created_by=user,
                    details=_details(form),
                    area_spec=", ".join(names),
                    code=code,
                )
            except IntegrityError:
                session.rollback()  # the same form submitted twice at once: show the first
                previous = locations.find_location_by_code(session, code)
                if previous is None:
                    raise
                return _repeated_creation(user, previous)
            _flash_office(location)
            flash(_("The location “%(name)s” was created.", name=location.name), "success")
            return see_other("portal.location", location_id=location.id)
    return render_template("portal/location_form.html", form=form, location=None), (
        422 if form.errors else 200
    )


def _repeated_creation(user: User, previous: Location) -> Response:
    if previous.business_id != user.business_id:
        abort(409)
    return see_other("portal.location", location_id=previous.id)


def _flash_office(location: Location) -> None:
    if location.health_office_id is None:
        flash(
            _(
                "No health office is registered for postal code %(zip)s yet. Guests cannot "
                "check in at this location until the operator adds one.",
                zip=location.zip_code,
            ),
            "error",
        )


@bp.get("/locations/<int:location_id>")
@business_member_required
def location(location_id: int) -> Page:
    user = acting_user()
    session = get_session()
    place = owned_location(session, user, location_id)
    office = locations.responsible_office(session, place)
    return render_template(
        "portal/location.html",
        location=place,
        office=office,
        can_check_in=locations.can_check_in(session, place),
        office_changes=locations.office_changes(session, place),
        areas=locations.active_areas(place),
        archived_areas=locations.archived_areas(place),
        areas_form=AreasForm(),
        button=ButtonForm(),
        is_owner=user.role == Role.BUSINESS_OWNER,
        checkin_url=lambda area: posters.checkin_url(get_settings(), area),
        rotating=place.checkin_mode == CheckInMode.ROTATING,
        display_url=get_settings().public_base_url.rstrip("/")
        + url_for("checkin.display", secret=place.display_secret),
        renew_form=ConfirmActionForm(),
    )


@bp.route("/locations/<int:location_id>/edit", methods=["GET", "POST"])
@owner_required
def edit_location(location_id: int) -> Page:
    user = acting_user()
    session = get_session()
    place = owned_location(session, user, location_id)
    form = LocationForm(obj=place)
    if request.method == "GET":
        form.checkin_mode.data = place.checkin_mode.value
    if form.validate_on_submit():
        locations.update_location(
            session, get_clock(), place, changed_by=user, details=_details(form)
        )
        _flash_office(place)
        flash(_("Changes saved."), "success")
        return see_other("portal.location", location_id=place.id)
    return render_template("portal/location_form.html", form=form, location=place), (
        422 if form.errors else 200
    )


@bp.post("/locations/<int:location_id>/archive")
@owner_required
def archive_location(location_id: int) -> Response:
    user = acting_user()
    place = owned_location(get_session(), user, location_id)
    if ButtonForm().validate_on_submit():
        locations.set_archived(get_session(), get_clock(), place, archived=True, changed_by=user)
        flash(_("The location is archived. Its QR codes no longer accept check-ins."), "success")
    return see_other("portal.location", location_id=place.id)


@bp.post("/locations/<int:location_id>/restore")
@owner_required
def restore_location(location_id: int) -> Response:
    user = acting_user()
    place = owned_location(get_session(), user, location_id)
    if ButtonForm().validate_on_submit():
        locations.set_archived(get_session(), get_clock(), place, archived=False, changed_by=user)
        flash(_("The location is active again."), "success")
    return see_other("portal.location", location_id=place.id)


@bp.post("/locations/<int:location_id>/display/renew")
@owner_required
def renew_display(location_id: int) -> Response:
    """A new entrance-screen address; asks for a ticked box first, since the screen goes blank."""
    user = acting_user()
    place = owned_location(get_session(), user, location_id)
    if ConfirmActionForm().validate_on_submit():
        locations.renew_display_secret(get_session(), get_clock(), place, renewed_by=user)
        flash(
            _(
                "The entrance screen has a new address. Open it on the screen at the "
                "entrance; the old address no longer works."
            ),
            "success",
        )
    else:
        flash(_("Please confirm by ticking the box."), "error")
    return see_other("portal.location", location_id=place.id)


# --- areas -----------------------------------------------------------------------------


@bp.post("/locations/<int:location_id>/areas")
@owner_required
def add_areas(location_id: int) -> Page:
    user = acting_user()
    session = get_session()
    place = owned_location(session, user, location_id)
    form = AreasForm()
    if form.validate_on_submit():
        try:
            names = locations.parse_area_spec(form.areas.data)
            created = locations.add_areas(session, get_clock(), place, names, added_by=user)
        except PortalError as error:
            form.areas.errors.append(error.message)
        else:
            if created:
                flash(_("%(count)s areas added.", count=len(created)), "success")
            else:
                flash(_("These areas exist already; nothing was added."), "success")
            return see_other("portal.location", location_id=place.id)
    flash(" ".join(str(e) for errors in form.errors.values() for e in errors), "error")
    return see_other("portal.location", location_id=place.id)


@bp.get("/areas/<int:area_id>/archive")
@owner_required
def confirm_archive_area(area_id: int) -> Page:
    """Archiving stops the area's printed posters: the owner confirms it on this page."""
    area = owned_area(get_session(), acting_user(), area_id)
    if area.archived_at is not None:
        return see_other("portal.location", location_id=area.location_id)
    return render_template("portal/area_archive.html", area=area, button=ButtonForm())


@bp.post("/areas/<int:area_id>/archive")
@owner_required
def archive_area(area_id: int) -> Response:
    user = acting_user()
    area = owned_area(get_session(), user, area_id)
    if ButtonForm().validate_on_submit():
        locations.archive_area(get_session(), get_clock(), area, archived_by=user)
        flash(
            _("The area “%(name)s” is archived; its QR code no longer works.", name=area.name),
            "success",
        )
    return see_other("portal.location", location_id=area.location_id)


@bp.post("/areas/<int:area_id>/restore")
@owner_required
def restore_area(area_id: int) -> Response:
    """An archived area comes back with the same code: its printed posters work again."""
    user = acting_user()
    area = owned_area(get_session(), user, area_id)
    if ButtonForm().validate_on_submit():
        try:
            locations.restore_area(get_session(), get_clock(), area, restored_by=user)
        except PortalError as error:
            flash(error.message, "error")
        else:
            flash(
                _("The area “%(name)s” is active again; its posters work again.", name=area.name),
                "success",
            )
    return see_other("portal.location", location_id=area.location_id)
