"""The contact form's rules, for the no-JavaScript path and as the reference for contact-form.js.

The values live only in this request's memory: they are validated, turned into a
contact record and sealed, or shown back to the guest with messages. Nothing here
logs, stores or raises them. The same field names, limits and messages drive the
JavaScript validation (the page passes `client_rules()` to it), so both paths say
the same thing in the same words.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _

import crypto

MAX_ADDITIONAL_PERSONS = crypto.MAX_ADDITIONAL_PERSONS
LIMITS = dict(crypto.FIELD_LIMITS)
# "Street and house number" is one input (autocomplete=street-address) split on the server.
STREET_ADDRESS_LIMIT = LIMITS["street"] + 1 + LIMITS["houseNumber"]
MAIN_FIELDS = ("firstName", "lastName", "streetAddress", "zipCode", "city", "phone", "email")
PERSON_ADDRESS_FIELDS = ("streetAddress", "zipCode", "city", "phone", "email")
INPUT_LIMITS = {
    "firstName": LIMITS["firstName"],
    "lastName": LIMITS["lastName"],
    "streetAddress": STREET_ADDRESS_LIMIT,
    "zipCode": LIMITS["zipCode"],
    "city": LIMITS["city"],
    "phone": LIMITS["phone"],
    "email": LIMITS["email"],
}
ZIP_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9 -]{2,9}")
PHONE_PATTERN = re.compile(r"\+?[0-9 ()/.-]{5,40}")
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
HOUSE_NUMBER_PATTERN = re.compile(
    r"^(?P<street>.*?\S)[\s,]+(?P<number>\d+\s?[A-Za-z]?(?:\s?[-/]\s?\d*\s?[A-Za-z]?)?)$"
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def messages() -> dict[str, str]:
    """Every message the form can show, in the current language, by reason code."""
    return {
        "required": _("Please fill in this field."),
        "too_long": _("This is too long."),
        "invalid_text": _("Please remove control characters."),
        "invalid_zip": _("Please enter a valid postal code, e.g. 10115."),
        "invalid_phone": _(
            "Please enter a phone number with at least 5 digits, e.g. 0151 2345678."
        ),
        "invalid_email": _("Please enter an e-mail address like name@example.de."),
        "phone_or_email": _("Please enter a phone number or an e-mail address."),
        "phone_required": _("Please enter a phone number."),
        "email_required": _("Please enter an e-mail address."),
        "too_many_persons": _(
            "At most %(count)s additional persons can check in together.",
            count=MAX_ADDITIONAL_PERSONS,
        ),
    }


def labels() -> dict[str, str]:
    return {
        "firstName": _("First name"),
        "lastName": _("Last name"),
        "streetAddress": _("Street and house number"),
        "zipCode": _("Postal code"),
        "city": _("City"),
        "phone": _("Phone"),
        "email": _("E-mail"),
    }


def client_rules(contact_required: str) -> dict[str, Any]:
    """The rules and texts contact-form.js validates with (passed as page data)."""
    return {
        "contactRequired": contact_required,
        "limits": {**INPUT_LIMITS, "street": LIMITS["street"]},
        "maxPersons": MAX_ADDITIONAL_PERSONS,
        "patterns": {
            "zipCode": ZIP_PATTERN.pattern,
            "phone": PHONE_PATTERN.pattern,
            "email": EMAIL_PATTERN.pattern,
            "houseNumber": HOUSE_NUMBER_PATTERN.pattern,
        },
        "messages": messages(),
        "labels": labels(),
    }


@dataclass(frozen=True)
class FieldError:
    """One message for one input; `field_id` is the input's id (the summary links to it)."""

    field_id: str
    reason: str

    @property
    def message(self) -> str:
        return messages()[self.reason]

    @property
    def summary(self) -> str:
        """The message with the field's name, for the error summary ("Person 2, City: ...")."""
        prefix, _sep, name = self.field_id.rpartition("-")
        label = labels().get(name)
        if label is None:
            return self.message
        if prefix.startswith("p") and prefix[1:].isdigit():
            label = _("Person %(number)s", number=int(prefix[1:]) + 2) + ", " + label
        return f"{label}: {self.message}"


@dataclass
class Person:
    values: dict[str, str] = field(default_factory=dict)
    same_address: bool = True


@dataclass
class ContactForm:
    """What the guest typed, as typed, plus the problems found in it."""

    values: dict[str, str] = field(default_factory=dict)
    persons: list[Person] = field(default_factory=list)
    errors: list[FieldError] = field(default_factory=list)

    @property
    def error_by_field(self) -> dict[str, str]:
        return {error.field_id: error.message for error in self.errors}

    def record(self) -> dict[str, Any]:
        """The contact record (format v1) for sealing; only call when there are no errors."""
        record: dict[str, Any] = {
            "firstName": self.values["firstName"],
            "lastName": self.values["lastName"],
            **split_street_address(self.values["streetAddress"]),
            "zipCode": self.values["zipCode"],
            "city": self.values["city"],
            "phone": self.values["phone"],
            "email": self.values["email"],
            "additionalPersons": [],
        }
        for person in self.persons:
            entry: dict[str, Any] = {
                "firstName": person.values["firstName"],
                "lastName": person.values["lastName"],
                "sameAddress": person.same_address,
            }
            if not person.same_address:
                entry.update(split_street_address(person.values["streetAddress"]))
                for name in ("zipCode", "city", "phone", "email"):
                    entry[name] = person.values[name]
            record["additionalPersons"].append(entry)
        return record


def split_street_address(text: str) -> dict[str, str]:
    """'Hauptstraße 5a' -> street 'Hauptstraße', houseNumber '5a'; no number -> all street."""
    match = HOUSE_NUMBER_PATTERN.match(text)
    if match and len(match["street"]) <= LIMITS["street"]:
        return {"street": match["street"], "houseNumber": match["number"]}
    return {"street": text, "houseNumber": ""}


def _clean(raw: str | None) -> str:
    return (raw or "").strip()


def person_prefix(index: int) -> str:
    return f"p{index}-"


def read_contact_form(form: Mapping[str, str], contact_required: str) -> ContactForm:
    """Read and validate the posted form (a Werkzeug MultiDict or any mapping)."""
    result = ContactForm()
    result.values = {name: _clean(form.get(name)) for name in MAIN_FIELDS}
    _validate_person(result, "", result.values, own_address=True, contact_required=contact_required)
    index = 0
    while index < MAX_ADDITIONAL_PERSONS + 1 and f"{person_prefix(index)}firstName" in form:
        prefix = person_prefix(index)
        person = Person(
            values={
                name: _clean(form.get(prefix + name))
                for name in ("firstName", "lastName", *PERSON_ADDRESS_FIELDS)
            },
            same_address=form.get(prefix + "sameAddress") == "on",
        )
        result.persons.append(person)
        index += 1
    if len(result.persons) > MAX_ADDITIONAL_PERSONS:
        del result.persons[MAX_ADDITIONAL_PERSONS:]
        result.errors.append(FieldError("add-person", "too_many_persons"))
    for position, person in enumerate(result.persons):
        _validate_person(
            result,
            person_prefix(position),
            person.values,
            own_address=not person.same_address,
            contact_required=contact_required,
        )
    return result


def _validate_person(
    result: ContactForm,
    prefix: str,
    values: Mapping[str, str],
    *,
    own_address: bool,
    contact_required: str,
) -> None:
    def fail(name: str, reason: str) -> None:
        result.errors.append(FieldError(prefix + name, reason))

    names = ("firstName", "lastName", *(PERSON_ADDRESS_FIELDS if own_address else ()))
    for name in names:
        value = values[name]
        if len(value) > INPUT_LIMITS[name] or (
            name == "streetAddress"
            and len(split_street_address(value)["street"]) > LIMITS["street"]
        ):
            fail(name, "too_long")
        elif _CONTROL.search(value):
            fail(name, "invalid_text")
        elif not value and name in ("firstName", "lastName", "streetAddress", "zipCode", "city"):
            fail(name, "required")
        elif value and name == "zipCode" and not ZIP_PATTERN.fullmatch(value):
            fail(name, "invalid_zip")
        elif value and name == "phone" and not _valid_phone(value):
            fail(name, "invalid_phone")
        elif value and name == "email" and not EMAIL_PATTERN.fullmatch(value):
            fail(name, "invalid_email")
    if own_address:
        _require_contact(fail, values, contact_required)


def _valid_phone(value: str) -> bool:
    return bool(PHONE_PATTERN.fullmatch(value)) and sum(c.isdigit() for c in value) >= 5


def _require_contact(fail: Any, values: Mapping[str, str], contact_required: str) -> None:
    phone, email = values["phone"], values["email"]
    if contact_required == "phone_or_email" and not phone and not email:
        fail("phone", "phone_or_email")
    if contact_required in ("phone", "both") and not phone:
        fail("phone", "phone_required")
    if contact_required in ("email", "both") and not email:
        fail("email", "email_required")
