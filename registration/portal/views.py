"""The business portal under /portal: locations, areas, posters, live view, staff, requests.

Every object is looked up through the caller's business (404 otherwise); owners manage
locations, staff and releases, staff see live counts and type in paper entries. Every
form repeats safely: a double click never creates a second location, area or release.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response

from registration.accounts import services as accounts
from registration.accounts.access import (
    acting_user,
    business_id_of,
    business_member_required,
    owned_area,
    owned_location,
    owner_required,
)
from registration.accounts.errors import AlreadyMemberError
from registration.audit import record_event
from registration.checkin.web import counts_refusals
from registration.clock import to_berlin
from registration.errors import ApiError
from registration.mail import MailError
from registration.models import (
    CheckInMode,
    CheckInSource,
    Location,
    Role,
    StaffInvitation,
    TraceRequest,
    TraceRequestState,
    User,
    new_public_code,
)
from registration.offices import active_key
from registration.portal import posters, services
from registration.portal.errors import PortalError
from registration.portal.forms import (
    AreasForm,
    ButtonForm,
    ConfirmActionForm,
    InviteForm,
    LocationForm,
    NewLocationForm,
    ReleaseForm,
)
from registration.session import get_clock, get_session, get_settings
from registration.tracing.errors import ReleaseNotPossibleError
from registration.tracing.release import release_trace_request

bp = Blueprint("portal", __name__, url_prefix="/portal", template_folder="templates")

Page = str | Response | tuple[str, int]


def _see_other(endpoint: str, **values: Any) -> Response:
    return redirect(url_for(endpoint, **values), code=303)


# --- dashboard ---------------------------------------------------------------------


@bp.get("/")
@business_member_required
def dashboard() -> Page:
    user = acting_user()
    session = get_session()
    business_id = business_id_of(user)
    locations = services.locations_of(session, business_id)
    rows = []
    for location in locations:
        services.responsible_office(session, location)
        rows.append(
            {
                "location": location,
                "counts": services.live_counts(session, get_clock(), location),
                "can_check_in": services.can_check_in(session, location),
            }
        )
    return render_template(
        "portal/dashboard.html",
        user=user,
        rows=rows,
        archived=services.locations_of(session, business_id, archived=True),
        waiting=services.waiting_requests(session, business_id)
        if user.role == Role.BUSINESS_OWNER
        else 0,
        is_owner=user.role == Role.BUSINESS_OWNER,
    )


# --- locations -----------------------------------------------------------------------


def _creation_token(user: User, code: str | None = None) -> str:
    """A one-time token for the new-location form; its code becomes the location's code."""
    code = code or new_public_code()
    return f"{code}.{_creation_signature(user, code)}"


def _creation_signature(user: User, code: str) -> str:
    key = get_settings().derive_key("location-form")
    message = f"{user.id}:{code}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def _code_from_token(user: User, token: str) -> str | None:
    code, _, signature = token.partition(".")
    if not (1 <= len(code) <= 64) or not hmac.compare_digest(
        signature, _creation_signature(user, code)
    ):
        return None
    return code


def _details(form: LocationForm) -> services.LocationDetails:
    return services.LocationDetails(
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
        previous = services.find_location_by_code(session, code)
        if previous is not None:
            return _repeated_creation(user, previous)
        try:
            names = services.parse_area_spec(form.areas.data or "")
        except PortalError as error:
            form.areas.errors.append(error.message)
        else:
            business = user.business
            if business is None:
                abort(403)
            try:
                location = services.create_location(
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
                previous = services.find_location_by_code(session, code)
                if previous is None:
                    raise
                return _repeated_creation(user, previous)
            _flash_office(location)
            flash(_("The location “%(name)s” was created.", name=location.name), "success")
            return _see_other("portal.location", location_id=location.id)
    return render_template("portal/location_form.html", form=form, location=None), (
        422 if form.errors else 200
    )


def _repeated_creation(user: User, previous: Location) -> Response:
    if previous.business_id != user.business_id:
        abort(409)
    return _see_other("portal.location", location_id=previous.id)


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
    office = services.responsible_office(session, place)
    return render_template(
        "portal/location.html",
        location=place,
        office=office,
        can_check_in=services.can_check_in(session, place),
        areas=services.active_areas(place),
        areas_form=AreasForm(),
        button=ButtonForm(),
        is_owner=user.role == Role.BUSINESS_OWNER,
        checkin_url=lambda area: posters.checkin_url(get_settings(), area),
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
        services.update_location(
            session, get_clock(), place, changed_by=user, details=_details(form)
        )
        _flash_office(place)
        flash(_("Changes saved."), "success")
        return _see_other("portal.location", location_id=place.id)
    return render_template("portal/location_form.html", form=form, location=place), (
        422 if form.errors else 200
    )


@bp.post("/locations/<int:location_id>/archive")
@owner_required
def archive_location(location_id: int) -> Response:
    user = acting_user()
    place = owned_location(get_session(), user, location_id)
    if ButtonForm().validate_on_submit():
        services.set_archived(get_session(), get_clock(), place, archived=True, changed_by=user)
        flash(_("The location is archived. Its QR codes no longer accept check-ins."), "success")
    return _see_other("portal.location", location_id=place.id)


@bp.post("/locations/<int:location_id>/restore")
@owner_required
def restore_location(location_id: int) -> Response:
    user = acting_user()
    place = owned_location(get_session(), user, location_id)
    if ButtonForm().validate_on_submit():
        services.set_archived(get_session(), get_clock(), place, archived=False, changed_by=user)
        flash(_("The location is active again."), "success")
    return _see_other("portal.location", location_id=place.id)


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
            names = services.parse_area_spec(form.areas.data)
            created = services.add_areas(session, get_clock(), place, names, added_by=user)
        except PortalError as error:
            form.areas.errors.append(error.message)
        else:
            if created:
                flash(_("%(count)s areas added.", count=len(created)), "success")
            else:
                flash(_("These areas exist already; nothing was added."), "success")
            return _see_other("portal.location", location_id=place.id)
    flash(" ".join(str(e) for errors in form.errors.values() for e in errors), "error")
    return _see_other("portal.location", location_id=place.id)


@bp.post("/areas/<int:area_id>/archive")
@owner_required
def archive_area(area_id: int) -> Response:
    user = acting_user()
    area = owned_area(get_session(), user, area_id)
    if ButtonForm().validate_on_submit():
        services.archive_area(get_session(), get_clock(), area, archived_by=user)
        flash(
            _("The area “%(name)s” is archived; its QR code no longer works.", name=area.name),
            "success",
        )
    return _see_other("portal.location", location_id=area.location_id)


# --- posters and QR codes ------------------------------------------------------------


def _poster_format() -> posters.PosterFormat:
    return posters.FORMATS.get(request.args.get("format", "a4"), posters.A4)


def _download(data: bytes, mimetype: str, filename: str, *, inline: bool = False) -> Response:
    response = Response(data, mimetype=mimetype)
    disposition = "inline" if inline else "attachment"
    response.headers["Content-Disposition"] = f'{disposition}; filename="{filename}"'
    return response


@bp.get("/locations/<int:location_id>/posters.pdf")
@business_member_required
def location_posters(location_id: int) -> Response:
    place = owned_location(get_session(), acting_user(), location_id)
    poster_format = _poster_format()
    data = posters.poster_pdf(get_settings(), place, services.active_areas(place), poster_format)
    return _download(data, "application/pdf", f"gastregister-{place.id}-{poster_format.name}.pdf")


@bp.get("/areas/<int:area_id>/poster.pdf")
@business_member_required
def area_poster(area_id: int) -> Response:
    area = owned_area(get_session(), acting_user(), area_id)
    poster_format = _poster_format()
    data = posters.poster_pdf(get_settings(), area.location, [area], poster_format)
    return _download(
        data, "application/pdf", f"gastregister-area-{area.id}-{poster_format.name}.pdf"
    )


@bp.get("/areas/<int:area_id>/qr.svg")
@business_member_required
def area_qr_svg(area_id: int) -> Response:
    area = owned_area(get_session(), acting_user(), area_id)
    data = posters.qr_svg(posters.checkin_url(get_settings(), area))
    return _download(data, "image/svg+xml", f"gastregister-area-{area.id}.svg")


@bp.get("/areas/<int:area_id>/qr.png")
@business_member_required
def area_qr_png(area_id: int) -> Response:
    area = owned_area(get_session(), acting_user(), area_id)
    data = posters.qr_png(posters.checkin_url(get_settings(), area))
    return _download(data, "image/png", f"gastregister-area-{area.id}.png")


# --- live view -------------------------------------------------------------------------


@bp.get("/locations/<int:location_id>/live")
@business_member_required
def live(location_id: int) -> Page:
    place = owned_location(get_session(), acting_user(), location_id)
    counts = services.live_counts(get_session(), get_clock(), place)
    return render_template(
        "portal/live.html", location=place, counts=counts, form=ConfirmActionForm()
    )


@bp.get("/locations/<int:location_id>/live.json")
@business_member_required
def live_json(location_id: int) -> Response:
    """Counts only, for the live view's polling script; never names or contact data."""
    place = owned_location(get_session(), acting_user(), location_id)
    return jsonify(services.live_counts(get_session(), get_clock(), place).as_json())


@bp.post("/locations/<int:location_id>/checkout-all")
@business_member_required
def checkout_all(location_id: int) -> Page:
    user = acting_user()
    session = get_session()
    place = owned_location(session, user, location_id)
    form = ConfirmActionForm()
    if form.validate_on_submit():
        count = services.check_out_everyone(session, get_clock(), place, by=user)
        flash(_("Checked out: %(count)s visits.", count=count), "success")
    else:
        flash(_("Please confirm by ticking the box."), "error")
    return _see_other("portal.live", location_id=place.id)


# --- staff -------------------------------------------------------------------------------


@bp.get("/staff")
@owner_required
def staff() -> Page:
    user = acting_user()
    session = get_session()
    business_id = business_id_of(user)
    return render_template(
        "portal/staff.html",
        members=services.members_of(session, business_id),
        invitations=services.open_invitations(session, get_clock(), business_id),
        form=InviteForm(),
        button=ButtonForm(),
        owner_role=Role.BUSINESS_OWNER,
        me=user,
    )


@bp.post("/staff/invite")
@owner_required
def invite() -> Page:
    user = acting_user()
    session = get_session()
    form = InviteForm()
    if form.validate_on_submit():
        business = user.business
        if business is None:
            abort(403)
        try:
            accounts.invite_staff(
                session,
                get_clock(),
                get_settings(),
                business=business,
                invited_by=user,
                email=form.email.data,
            )
        except AlreadyMemberError:
            form.email.errors.append(_("This person already belongs to your business."))
        except MailError:
            flash(
                _(
                    "The invitation is saved, but the mail could not be sent. Please try again later."
                ),
                "error",
            )
            return _see_other("portal.staff")
        else:
            flash(
                _("Invitation sent to %(email)s.", email=accounts.normalise_email(form.email.data)),
                "success",
            )
            return _see_other("portal.staff")
    business_id = business_id_of(user)
    return render_template(
        "portal/staff.html",
        members=services.members_of(session, business_id),
        invitations=services.open_invitations(session, get_clock(), business_id),
        form=form,
        button=ButtonForm(),
        owner_role=Role.BUSINESS_OWNER,
        me=user,
    ), 422


def _own_member(user_id: int) -> User:
    owner = acting_user()
    member: User | None = get_session().scalar(
        select(User).where(User.id == user_id, User.business_id == business_id_of(owner))
    )
    if member is None:
        abort(404)
    return member


@bp.post("/staff/<int:user_id>/remove")
@owner_required
def remove_staff(user_id: int) -> Response:
    owner = acting_user()
    member = _own_member(user_id)
    if member.role != Role.BUSINESS_STAFF:
        abort(403)
    if ButtonForm().validate_on_submit():
        accounts.remove_staff(get_session(), get_clock(), member, removed_by=owner)
        flash(_("The staff member was removed."), "success")
    return _see_other("portal.staff")


@bp.post("/staff/invitations/<int:invitation_id>/revoke")
@owner_required
def revoke_invitation(invitation_id: int) -> Response:
    owner = acting_user()
    invitation = get_session().scalar(
        select(StaffInvitation).where(
            StaffInvitation.id == invitation_id,
            StaffInvitation.business_id == business_id_of(owner),
        )
    )
    if invitation is None:
        abort(404)
    if ButtonForm().validate_on_submit():
        accounts.revoke_invitation(get_session(), get_clock(), invitation, revoked_by=owner)
        flash(_("The invitation was withdrawn."), "success")
    return _see_other("portal.staff")


# --- health-office requests and audit ----------------------------------------------------


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
        trace_requests=services.trace_requests_of(get_session(), business_id_of(user)),
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
    return _see_other("portal.trace_request", request_id=wanted.id)


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
        events=services.audit_events_of(session, business_id),
        location_names=names,
    )


# --- staff entry (paper forms, guests without a phone) -----------------------------------


def _staff_entry_texts() -> dict[str, Any]:
    return {
        "person": _("Person %(number)s"),
        "removePerson": _("Remove person %(number)s"),
        "personAdded": _("Person %(number)s added."),
        "personRemoved": _("Person removed."),
        "saved": _("Saved and sealed for the health office. You can type in the next form."),
        "failed": _("The entry could not be saved. Please check the times and try again."),
        "sealing": _("Sealing…"),
        "noKey": _("Nothing can be sealed: this location has no health office with a key."),
        "timeMessages": {
            "departureBeforeArrival": _("The departure must be after the arrival."),
        },
    }


@bp.get("/locations/<int:location_id>/staff-entry")
@business_member_required
def staff_entry(location_id: int) -> Page:
    from registration.checkin import contact_form
    from registration.checkin.lookup import current_key_description

    session = get_session()
    place = owned_location(session, acting_user(), location_id)
    key = None
    if place.health_office_id is not None and place.archived_at is None:
        key = active_key(session, place.health_office_id)
    settings = get_settings()
    areas = services.active_areas(place)
    now_local = to_berlin(get_clock().now()).strftime("%Y-%m-%dT%H:%M")
    config = {
        "endpoint": url_for("portal.save_staff_entry", location_id=place.id),
        "locationCode": place.code,
        "areas": {str(area.id): area.code for area in areas},
        "key": current_key_description(key) if key else None,
        "rules": contact_form.client_rules(settings.contact_required),
        "texts": _staff_entry_texts(),
    }
    return render_template(
        "portal/staff_entry.html",
        location=place,
        areas=areas,
        config=config,
        now_local=now_local,
        labels=contact_form.labels(),
        limits=contact_form.INPUT_LIMITS,
        contact_required=settings.contact_required,
        retention_period_days=settings.retention_days,
    )


@bp.post("/locations/<int:location_id>/staff-entry")
@business_member_required
@counts_refusals
def save_staff_entry(location_id: int) -> Response:
    """Store one typed-in paper form, sealed in the staff member's browser (JSON in, JSON out)."""
    import crypto
    from registration.checkin.errors import CheckInError
    from registration.checkin.lookup import AreaTarget
    from registration.checkin.storage import store_checkin

    user = acting_user()
    session = get_session()
    place = owned_location(session, user, location_id)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", _("The entry could not be read."))
    area_id = body.get("areaId")
    area = next(
        (a for a in services.active_areas(place) if isinstance(area_id, int) and a.id == area_id),
        None,
    )
    if area is None:
        raise ApiError(
            422,
            "invalid",
            _("Please choose an area."),
            extra={"fields": {"areaId": _("Please choose an area.")}},
        )
    arrival = services.parse_local_time(body.get("arrival"))
    departure_text = body.get("departure") or None
    departure = services.parse_local_time(departure_text)
    problems = services.check_staff_entry_times(
        get_clock(),
        get_settings(),
        arrival,
        departure,
        departure_given=departure_text is not None,
    )
    if problems or arrival is None:
        raise ApiError(
            422, "invalid", next(iter(problems.values()), None), extra={"fields": problems}
        )
    persons = body.get("persons")

    def record_staff_entry() -> None:
        record_event(
            session,
            get_clock(),
            action="checkin.staff_entry",
            actor=user,
            business_id=place.business_id,
            location_id=place.id,
            details={"persons": persons},
        )

    try:
        envelope = crypto.decode_envelope(body.get("envelope"))  # type: ignore[arg-type]
        receipt = store_checkin(
            session,
            get_clock(),
            get_settings(),
            target=AreaTarget.of(area),
            envelope=envelope,
            persons=persons if isinstance(persons, int) else 0,
            source=CheckInSource.STAFF_ENTRY,
            arrival=arrival,
            departure=departure,
            idempotency_key=str(body.get("idempotencyKey", "")),
            on_created=record_staff_entry,
        )
    except crypto.SealedRecordError as error:
        raise ApiError(422, "invalid_envelope", _("The sealed record is not valid.")) from error
    except CheckInError as error:
        raise ApiError(error.status, error.code, str(error.message), extra=error.extra) from error
    response = jsonify({"id": str(receipt.id), "created": receipt.created})
    response.status_code = 201 if receipt.created else 200
    return response
