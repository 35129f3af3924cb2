"""Staff invitations: an owner invites by e-mail, the invited person sets a password.

The link carries a random token whose hash alone is stored, so the database never
holds a working link; accepting it proves the mailbox.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from registration.accounts.errors import AlreadyMemberError, EmailTakenError, InvalidLinkError
from registration.accounts.login import find_user
from registration.accounts.passwords import hash_password
from registration.accounts.validation import normalise_email
from registration.audit import record_event
from registration.clock import Clock
from registration.models import Business, Role, StaffInvitation, User
from registration.names import DISPLAY_NAME_LENGTH, clean_name

INVITATION_LIFETIME = dt.timedelta(days=7)


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(b"gastregister/invitation/" + token.encode()).digest()


def renew_invitation(
    session: Session, clock: Clock, *, business: Business, invited_by: User, email: str
) -> tuple[StaffInvitation, str]:
    """The open invitation for this address with a fresh link token (audited).

    Inviting the same address again renews the open invitation instead of creating a
    second one, so a double click sends two mails, not two rows. The token is returned
    once, for the mail; only its hash is kept.
    """
    email = normalise_email(email)
    member = session.scalar(
        select(User).where(User.email == email, User.business_id == business.id)
    )
    if member is not None:
        raise AlreadyMemberError
    now = clock.now()
    invitation = session.scalar(
        select(StaffInvitation).where(
            StaffInvitation.business_id == business.id,
            StaffInvitation.email == email,
            StaffInvitation.accepted_at.is_(None),
        )
    )
    token = secrets.token_urlsafe(32)
    if invitation is None:
        invitation = StaffInvitation(business_id=business.id, email=email, created_at=now)
        session.add(invitation)
    invitation.token_hash = _token_hash(token)
    invitation.expires_at = now + INVITATION_LIFETIME
    session.flush()
    record_event(
        session,
        clock,
        action="staff.invited",
        actor=invited_by,
        business_id=business.id,
        details={"invitation": invitation.id},
    )
    session.commit()
    return invitation, token


def one_line(text: str) -> str:
    """A name fit for a mail subject: one line, bounded, whatever the owner typed."""
    return " ".join(text.split())[:120]


def open_invitation(session: Session, clock: Clock, token: str) -> StaffInvitation:
    if not token or len(token) > 200:
        raise InvalidLinkError
    invitation = session.scalar(
        select(StaffInvitation).where(StaffInvitation.token_hash == _token_hash(token))
    )
    if (
        invitation is None
        or invitation.accepted_at is not None
        or invitation.expires_at <= clock.now()
    ):
        raise InvalidLinkError
    return invitation


def accept_invitation(
    session: Session, clock: Clock, token: str, *, display_name: str, password: str, language: str
) -> User:
    invitation = open_invitation(session, clock, token)
    if find_user(session, invitation.email) is not None:
        raise EmailTakenError
    now = clock.now()
    user = User(
        email=invitation.email,
        password_hash=hash_password(password),
        display_name=clean_name(display_name, max_length=DISPLAY_NAME_LENGTH),
        role=Role.BUSINESS_STAFF,
        business_id=invitation.business_id,
        language=language,
        email_verified_at=now,  # the invitation link proved the mailbox
        created_at=now,
    )
    invitation.accepted_at = now
    session.add(user)
    session.flush()
    record_event(
        session,
        clock,
        action="staff.joined",
        actor=user,
        business_id=invitation.business_id,
        details={"invitation": invitation.id},
    )
    session.commit()
    return user


def revoke_invitation(
    session: Session, clock: Clock, invitation: StaffInvitation, *, revoked_by: User
) -> None:
    record_event(
        session,
        clock,
        action="staff.invitation_revoked",
        actor=revoked_by,
        business_id=invitation.business_id,
        details={"invitation": invitation.id},
    )
    session.delete(invitation)
    session.commit()


def remove_staff(session: Session, clock: Clock, member: User, *, removed_by: User) -> None:
    """Delete a staff account; its sessions end with it. Owners cannot be removed here."""
    if member.role != Role.BUSINESS_STAFF or member.business_id != removed_by.business_id:
        raise AlreadyMemberError
    record_event(
        session,
        clock,
        action="staff.removed",
        actor=removed_by,
        business_id=member.business_id,
        details={"user": member.id},
    )
    session.delete(member)
    session.commit()
