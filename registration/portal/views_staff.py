"""The owner's staff: invite, remove, withdraw an invitation."""

from __future__ import annotations

from flask import abort, flash, render_template
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response

from registration.accounts import services as accounts
from registration.accounts.access import acting_user, business_id_of, owner_required
from registration.accounts.errors import AlreadyMemberError
from registration.mail import MailError
from registration.models import Role, StaffInvitation, User
from registration.portal import listings
from registration.portal.blueprint import Page, bp, see_other
from registration.portal.forms import ButtonForm, InviteForm
from registration.session import get_clock, get_session, get_settings


@bp.get("/staff")
@owner_required
def staff() -> Page:
    user = acting_user()
    session = get_session()
    business_id = business_id_of(user)
    return render_template(
        "portal/staff.html",
        members=listings.members_of(session, business_id),
        invitations=listings.open_invitations(session, get_clock(), business_id),
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
            return see_other("portal.staff")
        else:
            flash(
                _("Invitation sent to %(email)s.", email=accounts.normalise_email(form.email.data)),
                "success",
            )
            return see_other("portal.staff")
    business_id = business_id_of(user)
    return render_template(
        "portal/staff.html",
        members=listings.members_of(session, business_id),
        invitations=listings.open_invitations(session, get_clock(), business_id),
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
    return see_other("portal.staff")


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
    return see_other("portal.staff")
