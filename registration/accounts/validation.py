"""What a new account's e-mail address and password must satisfy.

One place for these rules, so the sign-up pages, invitations and the operator's
`health-office add-user` command refuse and accept exactly the same input, each
with the same translated reason.
"""

from __future__ import annotations

from flask_babel import gettext as _

from registration.mail import is_plausible_address, normalise_address

PASSWORD_MIN_LENGTH = 10
PASSWORD_MAX_LENGTH = 200


def normalise_email(raw: str) -> str:
    return normalise_address(raw)


def is_plausible_email(email: str) -> bool:
    return is_plausible_address(email)


def email_problems(raw: str) -> list[str]:
    """Translated reasons an address is refused (empty when it is acceptable)."""
    if not is_plausible_email(normalise_email(raw)):
        return [_("Please enter a valid e-mail address.")]
    return []


def password_problems(password: str, email: str = "") -> list[str]:
    """Translated reasons a new password is refused (empty when it is acceptable)."""
    problems = []
    if len(password) < PASSWORD_MIN_LENGTH:
        problems.append(
            _("The password must have at least %(count)s characters.", count=PASSWORD_MIN_LENGTH)
        )
    if len(password) > PASSWORD_MAX_LENGTH:
        problems.append(
            _("The password may have at most %(count)s characters.", count=PASSWORD_MAX_LENGTH)
        )
    if email and password.strip().lower() == email.strip().lower():
        problems.append(_("The password must not be your e-mail address."))
    return problems
