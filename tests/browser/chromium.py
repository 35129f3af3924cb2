"""Debian's Chromium as the browser tests and the benchmarks start it, and the test page
that loads static/js/sealed-record.js (served by tests.local_servers.repository_server)."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, Page, Playwright

CHROMIUM_PATH = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SEALED_RECORD_HARNESS = "/tests/browser/pages/sealed-record.html"


def launch_chromium(playwright: Playwright) -> Browser:
    """Headless Debian Chromium (Playwright brings no browser of its own here)."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM_PATH), args=CHROMIUM_ARGS, headless=True
    )


def open_sealed_record_harness(page: Page, base_url: str) -> None:
    """Loads the test page that exposes window.sealedRecord and window.hpke."""
    page.goto(base_url + SEALED_RECORD_HARNESS)
    page.wait_for_function("window.harnessReady === true")
