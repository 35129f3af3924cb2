"""Account creation and the flows that run through a mailed link: sign-up with
address verification, password reset, staff invitations; and office accounts made by
the operator. Every account mail is sent from here.

Services take their session, clock and settings and commit themselves; views only
translate outcomes into pages. Anything a stranger can ask ("does this e-mail have an
account?") gets the same answer and costs the same time either way.

`remove_staff`, `revoke_invitation` (invitations.py) and `normalise_email`
(validation.py) are re-exported: the business portal calls them as `accounts.*`.
"""

from __future__ import annotations

import datetime as dt
import hmac
from typing import Any

from sqlalchemy.orm import Session

from registration.accounts import throttling, tokens
from registration.accounts.access import OFFICE_ROLES
from registration.accounts.deferred_mail import send_after_response
from registration.accounts.errors import EmailTakenError, InvalidLinkError, LoginFailedError
from registration.accounts.invitations import one_line, renew_invitation
from registration.accounts.invitations import remove_staff as remove_staff
from registration.accounts.invitations import revoke_invitation as revoke_invitation
from registration.accounts.login import find_user
from registration.accounts.passwords import hash_password, verify_password
from registration.accounts.sessions import end_other_login_sessions
from registration.accounts.validation import normalise_email as normalise_email
from registration.audit import record_event
from registration.clock import Clock
from registration.config import Settings
from registration.mail import public_url, render_mail, send_mail
from registration.models import Business, Role, StaffInvitation, User
from registration.names import BUSINESS_NAME_LENGTH, DISPLAY_NAME_LENGTH, clean_name

VERIFY_MAX_AGE = dt.timedelta(hours=48)
RESET_MAX_AGE = dt.timedelta(hours=1)


def _send_account_mail(
    settings: Settings, to: str, template: str, language: str, **context: Any
) -> None:
    """Render one account mail (`accounts/mail/<template>.txt`) in `language` and send it."""
    subject, body = render_mail(f"accounts/mail/{template}.txt", language, context)
    send_mail(settings, to, subject, body)


def _queue_account_mail(
    settings: Settings, to: str, template: str, language: str, **context: Any
) -> None:
    """Render one account mail now and send it after the response (deferred_mail): for
    mails a stranger can trigger, so the response time does not say whether they went."""
    subject, body = render_mail(f"accounts/mail/{template}.txt", language, context)
    send_after_response(settings, to, subject, body)


# --- sign-up and verification ------------------------------------------------------


def sign_up(
    session: Session,
    clock: Clock,
    settings: Settings,
    *,
    business_name: str,
    email: str,
    password: str,
    display_name: str,
    language: str,
) -> User | None:
    """Create a business and its owner, then mail a verification link.

    When the address already has an account nothing is created and that address gets a
    notice instead, so the sign-up page never tells a stranger which e-mails exist.
    """
    email = normalise_email(email)
    existing = find_user(session, email)
    if existing is not None:
        hash_password(password)  # the same work as a real sign-up
        _queue_account_mail(
            settings,
            existing.email,
            "signup_notice",
            existing.language,
            link=public_url(settings, "accounts.request_reset"),
        )
        return None
    business = Business(
        name=clean_name(business_name, max_length=BUSINESS_NAME_LENGTH), contact_email=email
    )
    user = User(
        email=email,
        password_hash=hash_password(password),
        display_name=clean_name(display_name, max_length=DISPLAY_NAME_LENGTH),
        role=Role.BUSINESS_OWNER,
        business=business,
        language=language,
        created_at=clock.now(),
    )
    session.add_all([business, user])
    session.flush()
    record_event(session, clock, action="business.created", actor=user, business_id=business.id)
    session.commit()
    send_verification_mail(clock, settings, user)
    return user


def send_verification_mail(clock: Clock, settings: Settings, user: User) -> None:
    token = tokens.issue_token(
        settings.derive_key("token"), "verify-email", {"u": user.id, "e": user.email}, clock.now()
    )
    _queue_account_mail(
        settings,
        user.email,
        "verify_email",
        user.language,
        link=public_url(settings, "accounts.verify", token=token),
    )


def resend_verification(session: Session, clock: Clock, settings: Settings, email: str) -> None:
    """Send the link again to an unverified account; silent for anything else."""
    user = find_user(session, email)
    if user is not None and user.email_verified_at is None and user.disabled_at is None:
        send_verification_mail(clock, settings, user)


def verify_email(session: Session, clock: Clock, settings: Settings, token: str) -> User:
    try:
        subject = tokens.read_token(
            settings.derive_key("token"), "verify-email", token, clock.now(), VERIFY_MAX_AGE
        )
    except tokens.TokenError as exc:
        raise InvalidLinkError from exc
    user = session.get(User, subject.get("u")) if isinstance(subject.get("u"), int) else None
    if user is None or user.email != subject.get("e"):
        raise InvalidLinkError
    if user.email_verified_at is None:
        user.email_verified_at = clock.now()
        session.commit()
    return user


def add_office_user(
    session: Session,
    clock: Clock,
    *,
    health_office_id: int,
    email: str,
    role: Role,
    display_name: str,
    password: str,
) -> User:
    """An office account the operator creates and hands over in person.

    The caller has checked the address and password with `validation`; the address
    counts as verified (the operator knows the person) and TOTP is set up at the first
    log-in, which health-office accounts cannot skip.
    """
    email = normalise_email(email)
    if role not in OFFICE_ROLES:
        raise ValueError(f"not a health-office role: {role}")
    if find_user(session, email) is not None:
        raise EmailTakenError
    user = User(
        email=email,
        password_hash=hash_password(password),
        display_name=clean_name(display_name, max_length=DISPLAY_NAME_LENGTH)
        or email.split("@")[0],
        role=role,
        health_office_id=health_office_id,
        email_verified_at=clock.now(),
        created_at=clock.now(),
    )
    session.add(user)
    session.flush()
    record_event(
        session,
        clock,
        action="office.user.added",
        actor_label="cli",
        health_office_id=health_office_id,
        details={"user_id": user.id, "role": user.role.value},
    )
    session.commit()
    return user


def add_operator(
    session: Session, clock: Clock, *, email: str, display_name: str, password: str
) -> User:
    """An operator account (the town's IT), created on the command line and audited.

    It belongs to no business and no health office, sees counts only, and like an
    office account must set up TOTP at its first log-in. The caller has checked the
    address and password with `validation`.
    """
    email = normalise_email(email)
    if find_user(session, email) is not None:
        raise EmailTakenError
    user = User(
        email=email,
        password_hash=hash_password(password),
        display_name=display_name.strip() or email.split("@")[0],
        role=Role.OPERATOR,
        email_verified_at=clock.now(),
        created_at=clock.now(),
    )
    session.add(user)
    session.flush()
    record_event(
        session,
        clock,
        action="operator.added",
        actor_label="cli",
        details={"user_id": user.id},
    )
    session.commit()
    return user


# --- password reset ----------------------------------------------------------------


def _reset_fingerprint(user: User) -> str:
    return tokens.fingerprint(user.password_hash, user.session_version)


def request_password_reset(session: Session, clock: Clock, settings: Settings, email: str) -> None:
    """Mail a one-hour reset link when the account exists; the page says the same either way.

    Both cases do the same work — one look-up, one token, one rendered mail — and the
    mail leaves after the response, so the time of the answer does not tell a stranger
    which addresses have an account either.
    """
    user = find_user(session, email)
    known = user is not None and user.disabled_at is None
    token = tokens.issue_token(
        settings.derive_key("token"),
        "reset-password",
        {"u": user.id, "f": _reset_fingerprint(user)} if user is not None and known else {"u": 0},
        clock.now(),
    )
    language = user.language if user is not None and known else "de"
    subject, body = render_mail(
        "accounts/mail/reset_password.txt",
        language,
        {"link": public_url(settings, "accounts.reset", token=token)},
    )
    if user is not None and known:
        send_after_response(settings, user.email, subject, body)


def user_for_reset_token(session: Session, clock: Clock, settings: Settings, token: str) -> User:
    try:
        subject = tokens.read_token(
            settings.derive_key("token"), "reset-password", token, clock.now(), RESET_MAX_AGE
        )
    except tokens.TokenError as exc:
        raise InvalidLinkError from exc
    user = session.get(User, subject.get("u")) if isinstance(subject.get("u"), int) else None
    if user is None or user.disabled_at is not None:
        raise InvalidLinkError
    if not hmac.compare_digest(str(subject.get("f", "")), _reset_fingerprint(user)):
        raise InvalidLinkError
    return user


def reset_password(
    session: Session, clock: Clock, settings: Settings, token: str, new_password: str
) -> User:
    """Set the new password, end every session, clear the failure count; the link is
    then spent."""
    user = user_for_reset_token(session, clock, settings, token)
    user.password_hash = hash_password(new_password)
    end_other_login_sessions(session, user, keep=None)
    throttling.forget_failures(user)
    if user.email_verified_at is None:
        user.email_verified_at = clock.now()  # the link proved the mailbox
    record_event(
        session,
        clock,
        action="account.password_reset",
        actor=user,
        business_id=user.business_id,
        health_office_id=user.health_office_id,
    )
    session.commit()
    return user


# --- password change ---------------------------------------------------------------


def change_password(
    session: Session,
    clock: Clock,
    settings: Settings,
    user: User,
    current: str,
    new_password: str,
    *,
    keep_session: object,
) -> None:
    """Set a new password after checking the current one; the user's other sessions
    end (all but `keep_session`), the change is audited and the user gets a notice.

    A wrong current password counts like a failed log-in (accounts.throttling), so a
    borrowed session cannot be used to guess it quickly. The caller has checked the new
    password against `validation.password_problems`.
    """
    if not verify_password(user.password_hash, current):
        throttling.record_failure(session, clock, settings, user)
        raise LoginFailedError
    user.password_hash = hash_password(new_password)
    end_other_login_sessions(session, user, keep=keep_session)
    record_event(
        session,
        clock,
        action="account.password_changed",
        actor=user,
        business_id=user.business_id,
        health_office_id=user.health_office_id,
    )
    session.commit()
    _queue_account_mail(
        settings,
        user.email,
        "password_changed",
        user.language,
        when=clock.now(),
        link=public_url(settings, "accounts.request_reset"),
    )


# --- staff invitations -------------------------------------------------------------


def invite_staff(
    session: Session,
    clock: Clock,
    settings: Settings,
    *,
    business: Business,
    invited_by: User,
    email: str,
) -> StaffInvitation:
    """Mail an invitation link, in the inviting owner's language (see renew_invitation)."""
    invitation, token = renew_invitation(
        session, clock, business=business, invited_by=invited_by, email=email
    )
    email = invitation.email
    _send_account_mail(
        settings,
        email,
        "invitation",
        invited_by.language,  # the invited person has no account, so no language yet
        business=one_line(business.name),
        link=public_url(settings, "accounts.accept_invitation", token=token),
    )
    return invitation
