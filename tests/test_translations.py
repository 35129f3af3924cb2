"""German first: every user-facing text has a German translation, compiled."""

from __future__ import annotations

import importlib.util
from pathlib import Path

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
