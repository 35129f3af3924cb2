"""Shared fixtures for tests that run our JavaScript in Debian's Chromium.

Pages are served from http://127.0.0.1:<port> because WebCrypto needs a secure
context, and the browser is started once per session because a launch costs
about a second. Without /usr/bin/chromium the tests skip, except in CI
(GASTREGISTER_REQUIRE_SERVICES=1), where a missing browser is a failure.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Request,
    ViewportSize,
    sync_playwright,
)

from tests import factories
from tests.browser.chromium import CHROMIUM_PATH, launch_chromium, open_sealed_record_harness
from tests.browser.guest_page import BRAUHAUS, PHONE, LiveVenue
from tests.local_servers import LiveServer, repository_server

PHONE_VIEWPORT: ViewportSize = {"width": 390, "height": 844}


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
        browser = launch_chromium(playwright)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def static_server() -> Iterator[str]:
    """Base URL (http://127.0.0.1:<port>) of a read-only server for the repository.

    /static/... (registration/static) and /tests/browser/pages/... are reachable below it.
    """
    with repository_server() as base_url:
        yield base_url


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
    """record_requests as a fixture."""
    return record_requests


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


# --- the guest page against the live app (test_checkin_browser, test_phone_browser, ...) ---


@pytest.fixture
def venue(make_live_server: Callable[..., LiveServer]) -> LiveVenue:
    """The Brauhaus with its beer garden, served by a fresh live app."""
    server = make_live_server()
    return LiveVenue(server, factories.add_venue(server.database, **BRAUHAUS))


def _guest_context(chromium: Browser, **options: object) -> BrowserContext:
    context = chromium.new_context(**PHONE, locale="de-DE", **options)  # type: ignore[arg-type]
    context.set_default_timeout(20_000)
    return context


@pytest.fixture
def phone(chromium: Browser) -> Iterator[BrowserContext]:
    """A German phone (390x844, touch)."""
    context = _guest_context(chromium)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def no_js(chromium: Browser) -> Iterator[BrowserContext]:
    """The same phone with JavaScript switched off."""
    context = _guest_context(chromium, java_script_enabled=False)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def axe_context(chromium: Browser) -> Iterator[BrowserContext]:
    """The phone for axe-core, which is injected as an inline script: our CSP (rightly)
    forbids that to page content, so this context bypasses it."""
    context = _guest_context(chromium, bypass_csp=True)
    try:
        yield context
    finally:
        context.close()
