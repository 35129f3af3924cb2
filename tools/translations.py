"""Per-domain translation catalogs: extract, update, compile and check.

Every package folder with a `translations/` folder owns the texts of its own Python
files and `templates/` (sub-folders with their own catalog excluded), so parallel
work on different domains never edits the same .po file.

Texts are written in English; every catalog has German. The guest pages speak more
languages (registration/i18n.py, GUEST_LANGUAGES): the check-in package's catalog
has all of them, and the shared core's catalog has them for the texts a guest page
shows (its layout and its error pages, GUEST_SCOPE) and no others; the portal's
catalog has them for the posters' texts only.

    python tools/translations.py update    # extract and merge into <language>/messages.po
    python tools/translations.py compile   # .po -> .mo
    python tools/translations.py check     # every text translated, .mo up to date
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_file
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("registration", "health_export")
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}
LANGUAGE = "de"
# The guest pages' languages besides German (English is the source text).
GUEST_LANGUAGES = ("tr", "ar", "uk", "ru", "pl")
# Catalogs that guest pages read, and the files of each whose texts a guest sees
# (None: all of them).
GUEST_SCOPE: dict[str, tuple[str, ...] | None] = {
    "registration/checkin": None,
    "registration": (
        "registration/errors.py",
        "registration/templates/base.html",
        "registration/templates/errors/error.html",
    ),
    # The posters print a second language below the German; the portal itself is de/en.
    "registration/portal": ("registration/portal/posters.py",),
}


def catalog_dirs() -> list[Path]:
    return sorted(
        path.parent
        for pkg in PACKAGES
        for path in (ROOT / pkg).rglob("translations")
        if path.is_dir()
    )


def scope(owner: Path) -> Iterator[Path]:
    """Source files a catalog owns: below `owner`, but not below another catalog's folder."""
    others = [d for d in catalog_dirs() if d != owner and d.is_relative_to(owner)]
    for path in sorted(owner.rglob("*")):
        if any(path.is_relative_to(other) for other in others):
            continue
        # .txt templates are the plain-text mails (registration/mail.py render_mail).
        if path.suffix == ".py" or (path.suffix in {".html", ".txt"} and "templates" in path.parts):
            yield path


def languages(owner: Path) -> tuple[str, ...]:
    """German for every catalog, and the guest languages for those guest pages read."""
    guest = str(owner.relative_to(ROOT)) in GUEST_SCOPE
    return (LANGUAGE, *GUEST_LANGUAGES) if guest else (LANGUAGE,)


def extract(owner: Path, language: str = LANGUAGE) -> Catalog:
    """The texts `owner` needs in `language`: all of them, or only what a guest sees."""
    catalog = Catalog(project="gastregister", charset="utf-8")
    files = GUEST_SCOPE.get(str(owner.relative_to(ROOT))) if language != LANGUAGE else None
    for path in scope(owner):
        if files is not None and str(path.relative_to(ROOT)) not in files:
            continue
        method = "python" if path.suffix == ".py" else "jinja2"
        options = {"extensions": "jinja2.ext.i18n"} if method == "jinja2" else {}
        for lineno, message, comments, context in extract_from_file(
            method, str(path), keywords=KEYWORDS, options=options
        ):
            catalog.add(
                message,
                None,
                [(str(path.relative_to(ROOT)), lineno)],
                auto_comments=comments,
                context=context,
            )
    return catalog


def po_path(owner: Path, language: str = LANGUAGE) -> Path:
    return owner / "translations" / language / "LC_MESSAGES" / "messages.po"


def load_po(owner: Path, language: str = LANGUAGE) -> Catalog:
    path = po_path(owner, language)
    if not path.exists():
        return Catalog(locale=language, charset="utf-8")
    with path.open("rb") as handle:
        return read_po(handle, locale=language)


def update() -> None:
    for owner in catalog_dirs():
        for language in languages(owner):
            template = extract(owner, language)
            catalog = load_po(owner, language)
            catalog.update(template, no_fuzzy_matching=True)
            path = po_path(owner, language)
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("wb") as handle:
                write_po(handle, catalog, width=100, omit_header=True, ignore_obsolete=True)
            untranslated = [m.id for m in catalog if m.id and not m.string]
            print(f"{path.relative_to(ROOT)}: {len(untranslated)} untranslated")


def compile_all() -> None:
    for owner in catalog_dirs():
        for language in languages(owner):
            catalog = load_po(owner, language)
            with po_path(owner, language).with_suffix(".mo").open("wb") as handle:
                write_mo(handle, catalog, use_fuzzy=False)


def _key(value: object) -> object:
    """Plural entries come back as lists from .mo and tuples from .po: compare as tuples."""
    return tuple(value) if isinstance(value, list | tuple) else value


def problems() -> list[str]:
    return [issue for owner in catalog_dirs() for issue in catalog_problems(owner)]


def catalog_problems(owner: Path) -> list[str]:
    found: list[str] = []
    for language in languages(owner):
        found.extend(_language_problems(owner, language))
    return found


def _language_problems(owner: Path, language: str) -> list[str]:
    found: list[str] = []
    name = f"{owner.relative_to(ROOT)} ({language})"
    catalog = load_po(owner, language)
    for message in extract(owner, language):
        if not message.id:
            continue
        translated = catalog.get(message.id)
        if translated is None or not translated.string or translated.fuzzy:
            found.append(f"{name}: no translation for {message.id!r}")
    mo = po_path(owner, language).with_suffix(".mo")
    if not mo.exists():
        found.append(f"{name}: {mo.name} missing (run `make translations-compile`)")
        return found
    with mo.open("rb") as handle:
        compiled = read_mo(handle)
    expected = {_key(m.id): _key(m.string) for m in catalog if m.id and m.string and not m.fuzzy}
    actual = {_key(m.id): _key(m.string) for m in compiled if m.id}
    if expected != actual:
        found.append(
            f"{name}: {mo.name} is older than messages.po (run `make translations-compile`)"
        )
    return found


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "check"
    if command == "update":
        update()
    elif command == "compile":
        compile_all()
    elif command == "check":
        issues = problems()
        print("\n".join(issues) or "all texts translated")
        return 1 if issues else 0
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
