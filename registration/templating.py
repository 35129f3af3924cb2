"""Helpers every template may call: the current language, retention, local times, `bdi`."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from flask_babel import format_datetime, get_locale
from markupsafe import Markup

from registration.audit import action_sentence, details_text
from registration.clock import to_berlin
from registration.session import get_settings


def current_language() -> str:
    locale = get_locale()
    return locale.language if locale else "de"


def retention_days() -> int:
    return get_settings().retention_days


def local_time(moment: dt.datetime | None, fmt: str = "short") -> str:
    """A UTC timestamp shown in Europe/Berlin in the user's language."""
    if moment is None:
        return ""
    return str(format_datetime(to_berlin(moment), fmt))


def isolated(name: object) -> Markup:
    """A typed name inside running text, isolated for bidirectional text (<bdi>): an
    Arabic or Hebrew business name then cannot reorder the words around it."""
    return Markup("<bdi>%s</bdi>") % str(name)


def register_template_helpers(app: Flask) -> None:
    app.jinja_env.globals.update(
        current_language=current_language,
        retention_days=retention_days,
        audit_sentence=action_sentence,
        audit_details=details_text,
    )
    app.jinja_env.filters["local_time"] = local_time
    app.jinja_env.filters["bdi"] = isolated
    app.jinja_env.autoescape = True
