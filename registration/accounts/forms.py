"""Account forms: CSRF-protected (Flask-WTF), validated on the server, messages translated."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError

from registration.accounts.validation import is_plausible_email, normalise_email, password_problems
from registration.names import BUSINESS_NAME_LENGTH, DISPLAY_NAME_LENGTH, typed_name


def plausible_email(_form: Any, field: Any) -> None:
    if field.data and not is_plausible_email(normalise_email(field.data)):
        raise ValidationError(_l("Please enter a valid e-mail address."))


def acceptable_password(form: Any, field: Any) -> None:
    email = getattr(getattr(form, "email", None), "data", "") or ""
    problems = password_problems(field.data or "", email)
    if problems:
        raise ValidationError(problems[0])


def _email_field() -> EmailField:
    return EmailField(
        _l("E-mail address"),
        validators=[
            DataRequired(_l("Please enter your e-mail address.")),
            Length(max=254, message=_l("The e-mail address is too long.")),
            plausible_email,
        ],
        render_kw={"autocomplete": "email", "spellcheck": "false"},
    )


def _new_password_fields(label: Any = None) -> tuple[PasswordField, PasswordField]:
    password = PasswordField(
        label or _l("Password"),
        validators=[DataRequired(_l("Please choose a password.")), acceptable_password],
        render_kw={"autocomplete": "new-password"},
        description=_l("At least 10 characters. A sentence you can remember works well."),
    )
    confirm = PasswordField(
        _l("Repeat the password"),
        validators=[
            DataRequired(_l("Please repeat the password.")),
            EqualTo("password", message=_l("The two passwords differ.")),
        ],
        render_kw={"autocomplete": "new-password"},
    )
    return password, confirm


class SignupForm(FlaskForm):  # type: ignore[misc]  # Flask-WTF is untyped
    business_name = StringField(
        _l("Name of your business"),
        validators=[
            DataRequired(_l("Please enter the name of your business.")),
            typed_name(BUSINESS_NAME_LENGTH, _l("Please enter the name of your business.")),
        ],
        render_kw={"autocomplete": "organization"},
    )
    display_name = StringField(
        _l("Your name"),
        validators=[typed_name(DISPLAY_NAME_LENGTH)],
        render_kw={"autocomplete": "name"},
    )
    email = _email_field()
    password, password_confirm = _new_password_fields()
    accept_terms = BooleanField(
        _l(
            "I run this business or act on its behalf, and I will use the guest list only as the law allows."
        ),
        validators=[DataRequired(_l("Please confirm this to continue."))],
    )


class LoginForm(FlaskForm):  # type: ignore[misc]
    email = _email_field()
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(_l("Please enter your password."))],
        render_kw={"autocomplete": "current-password"},
    )


class SecondFactorForm(FlaskForm):  # type: ignore[misc]
    code = StringField(
        _l("Code from your authenticator app, or a recovery code"),
        validators=[
            DataRequired(_l("Please enter the code.")),
            Length(max=20, message=_l("At most %(max)d characters.")),
        ],
        render_kw={"autocomplete": "one-time-code", "inputmode": "text", "spellcheck": "false"},
    )


class TotpSetupForm(FlaskForm):  # type: ignore[misc]
    code = StringField(
        _l("6-digit code shown by the app"),
        validators=[
            DataRequired(_l("Please enter the code.")),
            Length(max=10, message=_l("At most %(max)d characters.")),
        ],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )


class PasswordConfirmForm(FlaskForm):  # type: ignore[misc]
    password = PasswordField(
        _l("Your current password"),
        validators=[DataRequired(_l("Please enter your password."))],
        render_kw={"autocomplete": "current-password"},
    )


class ChangePasswordForm(FlaskForm):  # type: ignore[misc]
    """The new password is checked against the account's rules in the view (its e-mail)."""

    current_password = PasswordField(
        _l("Current password"),
        validators=[DataRequired(_l("Please enter your current password."))],
        render_kw={"autocomplete": "current-password"},
    )
    password, password_confirm = _new_password_fields(_l("New password"))


class EmailOnlyForm(FlaskForm):  # type: ignore[misc]
    email = _email_field()


class NewPasswordForm(FlaskForm):  # type: ignore[misc]
    password, password_confirm = _new_password_fields()


class AcceptInvitationForm(FlaskForm):  # type: ignore[misc]
    display_name = StringField(
        _l("Your name"),
        validators=[
            DataRequired(_l("Please enter your name.")),
            typed_name(DISPLAY_NAME_LENGTH, _l("Please enter your name.")),
        ],
        render_kw={"autocomplete": "name"},
    )
    password, password_confirm = _new_password_fields()


class ConfirmForm(FlaskForm):  # type: ignore[misc]
    """A button-only form: CSRF protection for log-out and similar actions."""
