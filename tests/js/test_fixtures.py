"""The node tests' fixture files are what the Python rules and exports make today.

tests/js/*.test.mjs hold the browser modules to these files; if a rule, a text or the
export code changes, this test fails until `.venv/bin/python -m tests.js.make_fixtures`
has written them again (and then the node tests say whether the JavaScript agrees).
"""

from __future__ import annotations

import pytest

from tests.js.make_fixtures import FIXTURES, fixtures, render

CURRENT = fixtures()


@pytest.mark.parametrize("name", sorted(CURRENT))
def test_fixture_file_matches_what_python_makes(name: str) -> None:
    committed = (FIXTURES / name).read_text(encoding="utf-8")
    assert committed == render(CURRENT[name]), (
        f"tests/js/fixtures/{name} is stale: run .venv/bin/python -m tests.js.make_fixtures"
    )


def test_every_fixture_file_is_made_by_the_script() -> None:
    assert sorted(path.name for path in FIXTURES.glob("*.json")) == sorted(CURRENT)
