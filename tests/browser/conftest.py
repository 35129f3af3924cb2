"""Shared fixtures for tests that run our JavaScript in Debian's Chromium.

Pages are served from http://127.0.0.1:<port> because WebCrypto needs a secure
context, and the browser is started once per session because a launch costs
about a second. Without /usr/bin/chromium the tests skip, except in CI
(GASTREGISTER_REQUIRE_SERVICES=1), where a missing browser is a failure.
"""

from __future__ import annotations

import asyncio
import functools
import http.server
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Request, ViewportSize, sync_playwright

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_PATH = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE_VIEWPORT: ViewportSize = {"width": 390, "height": 844}
SEALED_RECORD_HARNESS = "/tests/browser/pages/sealed-record.html"


def _browser_unavailable(reason: str) -> None:
    if os.environ.get("GASTREGISTER_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (GASTREGISTER_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """Headless Debian Chromium, shared by every browser test of the session."""
    if not CHROMIUM_PATH.exists():
        _browser_unavailable(f"{CHROMIUM_PATH} is not installed")
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass  # no loop running: the sync API may start its own
    else:
        pytest.fail("Playwright's sync API cannot start inside a running asyncio loop")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM_PATH), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


class _ReadOnlyRepositoryHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files below the repository root, GET/HEAD only, no dot folders.

    Dot folders (.git, .venv) are refused so a test page can never depend on
    them, and nothing is logged, so served test data never reaches a log.
    """

    extensions_map = {  # noqa: RUF012 (class attribute of the standard library's handler)
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".json": "application/json",
    }

    def send_head(self) -> BinaryIO | None:
        parts = urlsplit(self.path).path.split("/")
        if any(part.startswith(".") for part in parts if part):
            self.send_error(404)
            return None
        return super().send_head()

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def translate_path(self, path: str) -> str:
        """/static/... is the package's static folder, as the app serves it."""
        if path.startswith("/static/"):
            path = "/registration" + path
        return super().translate_path(path)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def static_server() -> Iterator[str]:
    """Base URL (http://127.0.0.1:<port>) of a read-only server for the repository.

    /static/... (registration/static) and /tests/browser/pages/... are reachable below it.
    """
    handler = functools.partial(_ReadOnlyRepositoryHandler, directory=str(REPOSITORY_ROOT))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="static-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def browser_page(chromium: Browser) -> Iterator[Page]:
    """A page in a fresh browser context (no cookies or storage from other tests)."""
    context = chromium.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def phone_page(chromium: Browser) -> Iterator[Page]:
    """A page in a fresh context with a phone-sized viewport (390x844, touch)."""
    context = chromium.new_context(viewport=PHONE_VIEWPORT, is_mobile=True, has_touch=True)
    try:
        yield context.new_page()
    finally:
        context.close()


@dataclass
class RequestLog:
    """Every request a page made, in order, for checks like "own origin only"."""

    requests: list[Request] = field(default_factory=list)

    @property
    def urls(self) -> list[str]:
        return [request.url for request in self.requests]

    def outside_origin(self, base_url: str) -> list[str]:
        """URLs of requests that did not go to base_url's origin (data: URLs excepted)."""
        origin = urlsplit(base_url)
        foreign = []
        for url in self.urls:
            parts = urlsplit(url)
            if parts.scheme in ("data", "blob"):
                continue
            if (parts.scheme, parts.netloc) != (origin.scheme, origin.netloc):
                foreign.append(url)
        return foreign


def record_requests(page: Page) -> RequestLog:
    """Starts recording the requests of page; call before page.goto()."""
    log = RequestLog()

    def on_request(request: Request) -> None:
        log.requests.append(request)

    page.on("request", on_request)  # Playwright cannot wrap a builtin like list.append
    return log


@pytest.fixture
def request_recorder() -> Callable[[Page], RequestLog]:
    """record_requests as a fixture, for test modules (which cannot import a conftest)."""
    return record_requests


def open_sealed_record_harness(page: Page, base_url: str) -> None:
    """Loads the test page that exposes window.sealedRecord and window.hpke."""
    page.goto(base_url + SEALED_RECORD_HARNESS)
    page.wait_for_function("window.harnessReady === true")


@pytest.fixture(scope="module")
def sealed_record_page(chromium: Browser, static_server: str) -> Iterator[Page]:
    """One harness page per test module with static/js/sealed-record.js loaded.

    Module-scoped so hypothesis examples reuse it; tests must not change the
    page's globals beyond their own scratch values.
    """
    context = chromium.new_context()
    try:
        page = context.new_page()
        page.set_default_timeout(60_000)
        open_sealed_record_harness(page, static_server)
        yield page
    finally:
        context.close()
