"""The accessibility check the browser tests rely on (guest_page.run_axe) does find
violations: a green axe test elsewhere means the page passed, not that nothing ran."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.browser.guest_page import run_axe

pytestmark = [
    pytest.mark.browser,
    pytest.mark.engine_independent("axe-core on a page written by the test; no server at all"),
]

BROKEN_PAGE = """<!doctype html><html lang="de"><head><title>Kaputt</title></head>
<body><main><h1>Kaputt</h1><img src="data:,"><input id="name"></main></body></html>"""


def test_run_axe_reports_each_violation_with_its_targets(browser_page: Page) -> None:
    browser_page.set_content(BROKEN_PAGE)
    violations = {v["id"]: v["nodes"] for v in run_axe(browser_page)}
    assert violations["image-alt"] == [["img"]]
    assert violations["label"] == [["#name"]]
    # A second check on the same document (axe is loaded once) finds the same.
    assert {v["id"] for v in run_axe(browser_page)} == set(violations)
    browser_page.locator("img").evaluate("img => img.setAttribute('alt', '')")
    browser_page.locator("#name").evaluate("input => input.setAttribute('aria-label', 'Name')")
    assert run_axe(browser_page) == []
