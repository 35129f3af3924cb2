"""German first: every user-facing text has a German translation, compiled."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _tool():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "translations_tool", ROOT / "tools" / "translations.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_text_has_a_compiled_german_translation() -> None:
    assert _tool().problems() == []


def test_catalogs_are_found_for_each_domain() -> None:
    dirs = {str(path.relative_to(ROOT)) for path in _tool().catalog_dirs()}
    assert "registration" in dirs


GUEST_CATALOGS = ("registration/checkin", "registration", "registration/portal")


def test_the_tool_knows_every_guest_language_of_the_service() -> None:
    from registration.i18n import GUEST_LANGUAGES, LANGUAGES

    assert set(_tool().GUEST_LANGUAGES) == set(GUEST_LANGUAGES) - set(LANGUAGES)


@pytest.mark.parametrize("language", ["tr", "ar", "uk", "ru", "pl"])
@pytest.mark.parametrize("catalog", GUEST_CATALOGS)
def test_every_text_on_a_guest_page_is_translated_into_each_guest_language(
    catalog: str, language: str
) -> None:
    tool = _tool()
    owner = ROOT / catalog
    assert language in tool.languages(owner)
    assert tool.po_path(owner, language).exists()
    texts = [m.id for m in tool.extract(owner, language) if m.id]
    assert texts  # the scope names files that exist
    assert tool._language_problems(owner, language) == []


def test_portal_and_office_pages_stay_german_and_english() -> None:
    """Only the posters' texts of the portal get the guest languages, none of its pages."""
    tool = _tool()
    assert tool.languages(ROOT / "health_export") == ("de",)
    assert tool.languages(ROOT / "registration" / "accounts") == ("de",)
    portal = ROOT / "registration" / "portal"
    poster_only = {m.id for m in tool.extract(portal, "tr") if m.id}
    assert "Please check in here" in poster_only
    assert poster_only < {m.id for m in tool.extract(portal) if m.id}
    assert all(
        "posters.py" in location
        for m in tool.extract(portal, "tr")
        for location, _line in m.locations
    )


def test_a_missing_guest_translation_is_reported(tmp_path: Path, monkeypatch: Any) -> None:
    """The check can fail: an emptied Turkish catalog lists every text of the guest page."""
    tool = _tool()
    owner = ROOT / "registration" / "checkin"
    monkeypatch.setattr(tool, "po_path", lambda _owner, language="de": tmp_path / "messages.po")
    issues = tool._language_problems(owner, "tr")
    assert any("no translation for 'Check in'" in issue for issue in issues)
    assert any("messages.mo missing" in issue for issue in issues)
