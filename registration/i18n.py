"""Language choice: German by default, English on request or by the browser's wish.

Translations come from one catalog directory per package (`translations/`), merged
by Flask-Babel, so each domain keeps its own texts beside its code.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from flask import Blueprint, Flask, has_request_context, redirect, request
from werkzeug.wrappers import Response

from registration.security import safe_redirect_target

LANGUAGES = ("de", "en")
DEFAULT_LANGUAGE = "de"
LANGUAGE_COOKIE = "lang"

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


def select_locale() -> str:
    """Explicit choice (query or cookie) first, then the browser's Accept-Language.

    Outside a request (scheduler, CLI) texts such as notification mails are German.
    """
    if not has_request_context():
        return DEFAULT_LANGUAGE
    asked = request.args.get("lang") or request.cookies.get(LANGUAGE_COOKIE)
    if asked in LANGUAGES:
        return asked
    return request.accept_languages.best_match(LANGUAGES, default=DEFAULT_LANGUAGE)


@bp.get("/lang/<code>")
def switch_language(code: str) -> Response:
    """Remember the chosen language in a cookie and go back to where the user was."""
    response = redirect(safe_redirect_target(request.args.get("next")) or "/", code=303)
    if code in LANGUAGES:
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
