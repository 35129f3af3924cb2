"""Helpers every template may call: the current language, retention, local times, `bdi`."""

from __future__ import annotations

import datetime as dt

from babel.dates import format_datetime
from flask import Flask
from flask_babel import get_locale
from markupsafe import Markup

from registration import i18n
from registration.audit import action_sentence, details_text
from registration.clock import BERLIN, to_berlin
from registration.session import get_settings


def current_language() -> str:
    locale = get_locale()
    return locale.language if locale else "de"


def text_direction() -> str:
    """ "rtl" for Arabic (the page mirrors), else "ltr"."""
    return i18n.text_direction(current_language())


def language_choices() -> list[tuple[str, str]]:
    """(code, name) of each language this page offers, for the visible switch."""
    return [(code, i18n.LANGUAGE_NAMES[code]) for code in i18n.page_languages()]


def retention_days() -> int:
    return get_settings().retention_days


def local_time(moment: dt.datetime | None, fmt: str = "short") -> str:
    """A UTC timestamp shown in Europe/Berlin in the user's language (English: 24-hour)."""
    if moment is None:
        return ""
    return str(
        format_datetime(
            to_berlin(moment), fmt, tzinfo=BERLIN, locale=i18n.date_locale(current_language())
        )
    )


def isolated(name: object) -> Markup:
    """A typed name inside running text, isolated for bidirectional text (<bdi>): an
    Arabic or Hebrew business name then cannot reorder the words around it."""
    return Markup("<bdi>%s</bdi>") % str(name)


def register_template_helpers(app: Flask) -> None:
    app.jinja_env.globals.update(
        current_language=current_language,
        text_direction=text_direction,
        language_choices=language_choices,
        retention_days=retention_days,
        audit_sentence=action_sentence,
        audit_details=details_text,
    )
    app.jinja_env.filters["local_time"] = local_time
    app.jinja_env.filters["bdi"] = isolated
    app.jinja_env.autoescape = True
