"""Why an account action was refused; views turn these into translated messages."""

from __future__ import annotations


class AccountError(Exception):
    """Base for refusals the user can act on."""


class LoginFailedError(AccountError):
    """Unknown e-mail, wrong password, disabled, or a throttled stranger: deliberately one error."""


class EmailNotVerifiedError(AccountError):
    """Right password, but the address was never confirmed."""


class SecondFactorFailedError(AccountError):
    """The TOTP or recovery code did not match (or was used before)."""


class InvalidLinkError(AccountError):
    """A link from a mail is forged, expired or was already used."""


class EmailTakenError(AccountError):
    """The e-mail belongs to an existing account (only said to someone holding an invitation)."""


class AlreadyMemberError(AccountError):
    """The invited address already belongs to this business."""


class TwoFactorRequiredError(AccountError):
    """Health-office accounts cannot switch their second factor off."""
