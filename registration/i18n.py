"""Language choice: German by default, English on request or by the browser's wish.

Guests get more: the pages a guest sees (check-in, confirmation, check-out, the
entrance screen and the API answers the check-in page shows) speak the languages
in GUEST_LANGUAGES, because a guest in a German town often reads Turkish, Arabic,
Ukrainian, Russian or Polish better than German. Staff and health-office pages stay
German and English: their texts are legal and procedural, and only translations
someone reviews may speak for the office.

Translations come from one catalog directory per package (`translations/`), merged
by Flask-Babel, so each domain keeps its own texts beside its code.
"""

from __future__ import annotations

import functools
from pathlib import Path
from types import ModuleType

from babel import Locale
from flask import Blueprint, Flask, current_app, has_request_context, redirect, request
from flask.blueprints import BlueprintSetupState
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header
from werkzeug.wrappers import Response

from registration.security import safe_redirect_target

LANGUAGES = ("de", "en")
# German first; the others in the order the guest page's switch lists them.
GUEST_LANGUAGES = ("de", "en", "tr", "ar", "uk", "ru", "pl")
RIGHT_TO_LEFT = frozenset({"ar"})
# Each language named in itself, so a guest finds their own without reading German.
LANGUAGE_NAMES = {
    "de": "Deutsch",
    "en": "English",
    "tr": "Türkçe",
    "ar": "العربية",
    "uk": "Українська",
    "ru": "Русский",
    "pl": "Polski",
}
# Dates and times in the locale's own pattern, except English: Babel's and the
# browser's "en" is American (11/26/26, 2:05 PM); guests in Germany read the
# European day-month order and the 24-hour clock (26/11/2026, 14:05).
DATE_LOCALES = {"en": "en_GB"}
DEFAULT_LANGUAGE = "de"
LANGUAGE_COOKIE = "lang"
GUEST_BLUEPRINTS = "gastregister.guest_blueprints"

bp = Blueprint("i18n", __name__)


def translation_directories(*packages: ModuleType) -> list[Path]:
    """Every domain folder of these packages keeps its own catalog; Flask-Babel merges them.

    The app factory names the packages, so this core module needs to know none of them.
    """
    return sorted(
        path
        for package in packages
        for folder in package.__path__
        for path in Path(folder).rglob("translations")
        if path.is_dir()
    )


def offer_guest_languages(blueprint: Blueprint) -> None:
    """Pages of `blueprint` speak every guest language (the check-in side calls this).

    The core names no blueprint of the business side; the side marks its own.
    """

    def mark(state: BlueprintSetupState) -> None:
        state.app.extensions.setdefault(GUEST_BLUEPRINTS, set()).add(blueprint.name)

    blueprint.record_once(mark)


def page_languages() -> tuple[str, ...]:
    """The languages this request's page may be shown in: a guest page's seven, else two."""
    if not has_request_context():
        return LANGUAGES
    guest_blueprints = current_app.extensions.get(GUEST_BLUEPRINTS, set())
    return GUEST_LANGUAGES if request.blueprint in guest_blueprints else LANGUAGES


def select_locale() -> Locale:
    """Explicit choice (query or cookie) first, then the browser's Accept-Language.

    A choice the page does not offer (Turkish, remembered from a guest page, on a
    portal page) counts as none. Outside a request (scheduler, CLI) texts such as
    notification mails are German.

    A Locale object, not its name: Flask-Babel would parse the name anew for every
    request (a tenth of a kept guest page's time); and browsers send few distinct
    Accept-Language headers, so each is matched once per process.
    """
    if not has_request_context():
        return _locale(DEFAULT_LANGUAGE)
    offered = page_languages()
    asked = request.args.get("lang") or request.cookies.get(LANGUAGE_COOKIE)
    if asked in offered:
        return _locale(asked)
    header = request.headers.get("Accept-Language", "")
    if len(header) > ACCEPT_LANGUAGE_CACHED_LENGTH:
        return _locale(request.accept_languages.best_match(offered, default=DEFAULT_LANGUAGE))
    return _locale(_best_language(header, offered))


# Longer headers are matched each time: a client cannot fill the cache with junk.
ACCEPT_LANGUAGE_CACHED_LENGTH = 200


@functools.lru_cache(maxsize=256)
def _best_language(header: str, offered: tuple[str, ...]) -> str:
    accepted = parse_accept_header(header, LanguageAccept)
    return accepted.best_match(offered, default=DEFAULT_LANGUAGE)


@functools.cache
def _locale(language: str) -> Locale:
    return Locale.parse(language)


def text_direction(language: str) -> str:
    return "rtl" if language in RIGHT_TO_LEFT else "ltr"


def date_locale(language: str) -> str:
    """The locale (Babel's spelling) whose date and time patterns `language` shows."""
    return DATE_LOCALES.get(language, language)


@bp.get("/lang/<code>")
def switch_language(code: str) -> Response:
    """Remember the chosen language in a cookie and go back to where the user was."""
    response = redirect(safe_redirect_target(request.args.get("next")) or "/", code=303)
    if code in GUEST_LANGUAGES:
        response.set_cookie(
            LANGUAGE_COOKIE,
            code,
            max_age=365 * 24 * 3600,
            httponly=True,
            samesite="Lax",
            secure=request.is_secure,
        )
    return response


def register_i18n(app: Flask, *packages: ModuleType) -> None:
    """German first; the texts come from the catalogs of `packages` (the app factory's)."""
    from registration.extensions import babel

    app.config["BABEL_DEFAULT_LOCALE"] = DEFAULT_LANGUAGE
    app.config["BABEL_DEFAULT_TIMEZONE"] = "Europe/Berlin"
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = ";".join(
        str(path) for path in translation_directories(*packages)
    )
    babel.init_app(app, locale_selector=select_locale)
    app.register_blueprint(bp)
