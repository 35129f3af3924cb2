"""Account rules: sign-up, log-in with lock-out, second factor, resets, invitations.

Services take their session, clock and settings and commit themselves; views only
translate outcomes into pages. Anything a stranger can ask ("does this e-mail have an
account?") gets the same answer and costs the same time either way.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

import pyotp
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from registration.accounts import tokens
from registration.accounts.errors import (
    AlreadyMemberError,
    EmailNotVerifiedError,
    EmailTakenError,
    InvalidLinkError,
    LoginFailedError,
    SecondFactorFailedError,
    TwoFactorRequiredError,
)
from registration.accounts.passwords import hash_password, needs_rehash, verify_password

# normalise_email stays importable from here: the business portal reaches it as accounts.*
from registration.accounts.validation import normalise_email as normalise_email
from registration.audit import record_event
from registration.clock import Clock
from registration.config import Settings
from registration.mail import send_mail
from registration.models import Business, RecoveryCode, Role, StaffInvitation, User

LOGIN_FAILURE_LIMIT = 5
LOCK_DURATION = dt.timedelta(minutes=15)
VERIFY_MAX_AGE = dt.timedelta(hours=48)
RESET_MAX_AGE = dt.timedelta(hours=1)
INVITATION_LIFETIME = dt.timedelta(days=7)
RECOVERY_CODE_COUNT = 10
TOTP_ISSUER = "Gastregister"
TOTP_PERIOD = 30

OFFICE_ROLES = frozenset({Role.HEALTH_OFFICE_STAFF, Role.HEALTH_OFFICE_ADMIN})
BUSINESS_ROLES = frozenset({Role.BUSINESS_OWNER, Role.BUSINESS_STAFF})

_RECOVERY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def find_user(session: Session, email: str) -> User | None:
    user: User | None = session.scalar(select(User).where(User.email == normalise_email(email)))
    return user


def _link(settings: Settings, path: str) -> str:
    """Links in mails always use the configured public address, never the request's Host."""
    return settings.public_base_url.rstrip("/") + path


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
        with force_locale(existing.language):
            send_mail(
                settings,
                existing.email,
                _("Gastregister: sign-up with your address"),
                _(
                    "Someone tried to sign up at Gastregister with this e-mail address, "
                    "which already has an account. If that was you, log in or reset your "
                    "password here:\n\n%(link)s\n\nIf not, you can ignore this mail.",
                    link=_link(settings, "/konto/reset"),
                ),
            )
        return None
    business = Business(name=business_name.strip(), contact_email=email)
    user = User(
        email=email,
        password_hash=hash_password(password),
        display_name=display_name.strip(),
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
    with force_locale(user.language):
        send_mail(
            settings,
            user.email,
            _("Gastregister: please confirm your e-mail address"),
            _(
                "Welcome to Gastregister.\n\nPlease confirm your e-mail address by opening "
                "this link within 48 hours:\n\n%(link)s\n\nIf you did not sign up, you can "
                "ignore this mail.",
                link=_link(settings, f"/konto/verify/{token}"),
            ),
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
        display_name=display_name.strip() or email.split("@")[0],
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


# --- log-in ------------------------------------------------------------------------


def authenticate(session: Session, clock: Clock, email: str, password: str) -> User:
    """The user for a right e-mail and password, counting failures towards a lock.

    Unknown e-mail, wrong password, disabled and locked accounts all raise the same
    LoginFailedError after the same password-hashing work.
    """
    now = clock.now()
    user = find_user(session, email)
    password_ok = verify_password(user.password_hash if user else None, password)
    if user is None or user.disabled_at is not None:
        raise LoginFailedError
    if user.locked_until is not None and user.locked_until > now:
        raise LoginFailedError
    if not password_ok:
        _count_failure(session, now, user)
        raise LoginFailedError
    user.failed_login_count = 0
    user.locked_until = None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    session.commit()
    if user.email_verified_at is None:
        raise EmailNotVerifiedError
    return user


def _count_failure(session: Session, now: dt.datetime, user: User) -> None:
    user.failed_login_count += 1
    if user.failed_login_count >= LOGIN_FAILURE_LIMIT:
        user.locked_until = now + LOCK_DURATION
        user.failed_login_count = 0
    session.commit()


def is_locked(user: User, now: dt.datetime) -> bool:
    return user.locked_until is not None and user.locked_until > now


def needs_second_factor(user: User) -> bool:
    return user.totp_enabled_at is not None


def must_set_up_second_factor(user: User) -> bool:
    """Health-office accounts may not work without TOTP."""
    return user.role in OFFICE_ROLES and user.totp_enabled_at is None


def complete_login(session: Session, clock: Clock, user: User) -> None:
    user.last_login_at = clock.now()
    if user.role in OFFICE_ROLES:
        record_event(
            session,
            clock,
            action="office.login",
            actor=user,
            health_office_id=user.health_office_id,
        )
    session.commit()


# --- second factor -----------------------------------------------------------------


def new_totp_secret() -> str:
    return str(pyotp.random_base32())


def totp_uri(secret: str, email: str) -> str:
    return str(pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=TOTP_ISSUER))


def matching_totp_step(
    secret: str, code: str, now: dt.datetime, last_step: int | None
) -> int | None:
    """The time step a code belongs to (±1 step of drift), never one used before."""
    code = re.sub(r"\s+", "", code)
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = int(now.timestamp()) // TOTP_PERIOD
    for step in (current - 1, current, current + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(str(totp.at(step * TOTP_PERIOD)), code):
            return step
    return None


def _recovery_hash(code: str) -> str:
    normalised = re.sub(r"[^A-Z0-9]", "", code.upper())
    return hashlib.sha256(b"gastregister/recovery/" + normalised.encode()).hexdigest()


def _new_recovery_codes(user: User) -> list[str]:
    codes = []
    for _index in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    user.recovery_codes = [RecoveryCode(code_hash=_recovery_hash(code)) for code in codes]
    return codes


def enable_totp(session: Session, clock: Clock, user: User, secret: str, code: str) -> list[str]:
    """Switch TOTP on once the user proved their app shows the right code; returns recovery codes."""
    step = matching_totp_step(secret, code, clock.now(), None)
    if step is None:
        raise SecondFactorFailedError
    user.totp_secret = secret
    user.totp_enabled_at = clock.now()
    user.totp_last_step = step
    codes = _new_recovery_codes(user)
    record_event(
        session,
        clock,
        action="account.2fa_enabled",
        actor=user,
        business_id=user.business_id,
        health_office_id=user.health_office_id,
    )
    session.commit()
    return codes


def regenerate_recovery_codes(session: Session, user: User) -> list[str]:
    codes = _new_recovery_codes(user)
    session.commit()
    return codes


def check_second_factor(session: Session, clock: Clock, user: User, code: str) -> None:
    """Accept a fresh TOTP code or an unused recovery code; failures count towards the lock."""
    now = clock.now()
    if is_locked(user, now) or user.totp_secret is None:
        raise SecondFactorFailedError
    step = matching_totp_step(user.totp_secret, code, now, user.totp_last_step)
    if step is not None:
        user.totp_last_step = step
        user.failed_login_count = 0
        session.commit()
        return
    wanted = _recovery_hash(code)
    for recovery in user.recovery_codes:
        if recovery.used_at is None and hmac.compare_digest(recovery.code_hash, wanted):
            recovery.used_at = now
            user.failed_login_count = 0
            session.commit()
            return
    _count_failure(session, now, user)
    raise SecondFactorFailedError


def unused_recovery_codes(user: User) -> int:
    return sum(1 for code in user.recovery_codes if code.used_at is None)


def disable_totp(session: Session, clock: Clock, user: User, password: str) -> None:
    if user.role in OFFICE_ROLES:
        raise TwoFactorRequiredError
    if not verify_password(user.password_hash, password):
        raise LoginFailedError
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    user.recovery_codes = []
    record_event(
        session, clock, action="account.2fa_disabled", actor=user, business_id=user.business_id
    )
    session.commit()


# --- password reset ----------------------------------------------------------------


def _reset_fingerprint(user: User) -> str:
    return tokens.fingerprint(user.password_hash, user.session_version)


def request_password_reset(session: Session, clock: Clock, settings: Settings, email: str) -> None:
    """Mail a one-hour reset link when the account exists; the page says the same either way."""
    user = find_user(session, email)
    if user is None or user.disabled_at is not None:
        hash_password("not-a-real-password")  # the same work as building a real link
        return
    token = tokens.issue_token(
        settings.derive_key("token"),
        "reset-password",
        {"u": user.id, "f": _reset_fingerprint(user)},
        clock.now(),
    )
    with force_locale(user.language):
        send_mail(
            settings,
            user.email,
            _("Gastregister: reset your password"),
            _(
                "Somebody asked to reset the password of your Gastregister account. "
                "Open this link within one hour to choose a new one:\n\n%(link)s\n\n"
                "If that was not you, ignore this mail; your password stays unchanged.",
                link=_link(settings, f"/konto/reset/{token}"),
            ),
        )


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
    """Set the new password, end every other session, lift a lock; the link is then spent."""
    user = user_for_reset_token(session, clock, settings, token)
    user.password_hash = hash_password(new_password)
    user.session_version += 1
    user.failed_login_count = 0
    user.locked_until = None
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


def change_password(session: Session, user: User, current: str, new_password: str) -> None:
    if not verify_password(user.password_hash, current):
        raise LoginFailedError
    user.password_hash = hash_password(new_password)
    user.session_version += 1
    session.commit()


# --- staff invitations -------------------------------------------------------------


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(b"gastregister/invitation/" + token.encode()).digest()


def invite_staff(
    session: Session,
    clock: Clock,
    settings: Settings,
    *,
    business: Business,
    invited_by: User,
    email: str,
) -> StaffInvitation:
    """Mail an invitation link; inviting the same address again renews the open invitation
    instead of creating a second one (so a double click sends two mails, not two rows)."""
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
    with force_locale(invited_by.language):
        send_mail(
            settings,
            email,
            _("Gastregister: invitation from %(business)s", business=_one_line(business.name)),
            _(
                "%(business)s invites you to help with the guest registration at "
                "Gastregister (live occupancy and entering paper forms).\n\nAccept the "
                "invitation within 7 days here:\n\n%(link)s",
                business=_one_line(business.name),
                link=_link(settings, f"/konto/invitation/{token}"),
            ),
        )
    return invitation


def _one_line(text: str) -> str:
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
    session: Session,
    clock: Clock,
    token: str,
    *,
    display_name: str,
    password: str,
    language: str,
) -> User:
    invitation = open_invitation(session, clock, token)
    if find_user(session, invitation.email) is not None:
        raise EmailTakenError
    now = clock.now()
    user = User(
        email=invitation.email,
        password_hash=hash_password(password),
        display_name=display_name.strip(),
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


@dataclass(frozen=True)
class PendingLogin:
    """What the session remembers between password and second factor."""

    user_id: int
    session_version: int
    started: dt.datetime

    def as_session(self) -> dict[str, Any]:
        return {
            "u": self.user_id,
            "v": self.session_version,
            "t": int(self.started.timestamp()),
        }

    @classmethod
    def from_session(cls, raw: object) -> PendingLogin | None:
        if not isinstance(raw, dict):
            return None
        try:
            return cls(
                int(raw["u"]), int(raw["v"]), dt.datetime.fromtimestamp(int(raw["t"]), dt.UTC)
            )
        except (KeyError, TypeError, ValueError):
            return None
