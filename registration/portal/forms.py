"""Portal forms: CSRF-protected (Flask-WTF), validated on the server, messages translated."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectChoice,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError

from registration.accounts.forms import plausible_email
from registration.models import CheckInMode
from registration.names import LOCATION_NAME_LENGTH, typed_name
from registration.offices import normalize_postal_code


def german_postal_code(_form: Any, field: Any) -> None:
    """Five digits, read the one way the offices read them (offices.normalize_postal_code)."""
    code = normalize_postal_code(field.data or "")
    if code is None:
        raise ValidationError(_l("A German postal code has five digits."))
    field.data = code


def _text(label: Any, max_length: int, required_message: Any, **kwargs: Any) -> StringField:
    """A name or address line an owner types, cleaned by the one rule (registration.names)."""
    return StringField(
        label,
        validators=[DataRequired(required_message), typed_name(max_length, required_message)],
        **kwargs,
    )


class LocationForm(FlaskForm):  # type: ignore[misc]  # Flask-WTF is untyped
    name = _text(
        _l("Name of the location"),
        LOCATION_NAME_LENGTH,
        _l("Please enter a name for the location."),
        description=_l("As guests know it, e.g. “Café am Markt”."),
    )
    street = _text(
        _l("Street"),
        150,
        _l("Please enter the street."),
        render_kw={"autocomplete": "address-line1"},
    )
    house_number = _text(_l("House number"), 20, _l("Please enter the house number."))
    zip_code = StringField(
        _l("Postal code"),
        validators=[
            DataRequired(_l("Please enter the postal code.")),
            german_postal_code,
        ],
        description=_l("The postal code decides which health office is responsible."),
        render_kw={"autocomplete": "postal-code", "inputmode": "numeric"},
    )
    city = _text(
        _l("City"), 100, _l("Please enter the city."), render_kw={"autocomplete": "address-level2"}
    )
    default_stay_minutes = IntegerField(
        _l("Usual length of a visit (minutes)"),
        default=180,
        validators=[
            DataRequired(_l("Please enter a number of minutes.")),
            NumberRange(min=15, max=1440, message=_l("Between 15 and 1440 minutes.")),
        ],
        description=_l("Guests who do not check out are counted as gone after this time."),
        render_kw={"inputmode": "numeric"},
    )
    capacity = IntegerField(
        _l("Capacity (persons, optional)"),
        validators=[
            Optional(),
            NumberRange(min=1, max=100000, message=_l("Between 1 and 100000 persons.")),
        ],
        render_kw={"inputmode": "numeric"},
    )
    checkin_mode = RadioField(
        _l("QR code"),
        choices=[
            SelectChoice(CheckInMode.STATIC.value, _l("Printed QR codes (static)")),
            SelectChoice(
                CheckInMode.ROTATING.value, _l("Changing QR code on a screen at the entrance")
            ),
        ],
        default=CheckInMode.STATIC.value,
        validators=[DataRequired(_l("Please choose how guests get the QR code."))],
    )


class NewLocationForm(LocationForm):
    areas = TextAreaField(
        _l("Areas or tables (optional)"),
        validators=[Length(max=5000, message=_l("At most %(max)d characters."))],
        description=_l(
            "Separate with commas or new lines. Ranges are possible, e.g. “Tisch 1-20, "
            "Terrasse”. Without an entry the location gets one area."
        ),
    )
    creation_token = HiddenField(validators=[DataRequired()])


class AreasForm(FlaskForm):  # type: ignore[misc]
    areas = TextAreaField(
        _l("New areas or tables"),
        validators=[
            DataRequired(_l("Please enter at least one name.")),
            Length(max=5000, message=_l("At most %(max)d characters.")),
        ],
        description=_l("Separate with commas or new lines, e.g. “Tisch 1-20, Terrasse”."),
    )


class InviteForm(FlaskForm):  # type: ignore[misc]
    email = EmailField(
        _l("E-mail address of the staff member"),
        validators=[
            DataRequired(_l("Please enter an e-mail address.")),
            Length(max=254, message=_l("The e-mail address is too long.")),
            plausible_email,
        ],
    )


class ReleaseForm(FlaskForm):  # type: ignore[misc]
    confirm = BooleanField(
        _l(
            "I have checked the request and release the guest data of this location and "
            "time window to the health office named above."
        ),
        validators=[DataRequired(_l("Please confirm the release explicitly."))],
    )


class ConfirmActionForm(FlaskForm):  # type: ignore[misc]
    confirm = BooleanField(
        _l("Yes, I am sure."),
        validators=[DataRequired(_l("Please confirm by ticking the box."))],
    )


class ButtonForm(FlaskForm):  # type: ignore[misc]
    """CSRF protection for a single button."""
