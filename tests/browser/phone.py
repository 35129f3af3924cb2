"""What the phone tests share: the outbox's words, and a look into the phone's IndexedDB."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import BrowserContext, Page

from tests.local_servers import wait_until

QUEUED_BACKGROUND = (
    "Auf Ihrem Handy gespeichert. Der Check-in wird von selbst gesendet, sobald Ihr Handy"
    " wieder Netz hat \N{EN DASH} auch wenn Sie diese Seite schließen."
)
QUEUED_REOPEN = (
    "Auf Ihrem Handy gespeichert. Bitte öffnen Sie diese Seite noch einmal, wenn Sie wieder"
    " Netz haben."
)


READ_PHONE_STORE = """async () => {
  const db = await new Promise((resolve, reject) => {
    const request = indexedDB.open("gastregister");
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  const all = (name) => new Promise((resolve) => {
    const request = db.transaction(name).objectStore(name).getAll();
    request.onsuccess = () => resolve(request.result);
  });
  const stored = { outbox: await all("outbox"), visits: await all("visits") };
  db.close();
  return stored;
}"""


def phone_store(page: Page) -> dict[str, list[dict[str, Any]]]:
    """What the phone holds in IndexedDB: the outbox and the visits."""
    stored: dict[str, list[dict[str, Any]]] = page.evaluate(READ_PHONE_STORE)
    return stored


def wait_for_empty_outbox(page: Page) -> None:
    """Until the outbox is empty. The sender removes an entry only after its visit is
    settled (a crash in between must not lose the outcome), so the page's text changes
    a moment before the entry is gone."""
    wait_until(lambda: phone_store(page)["outbox"] == [])


def go_offline(context: BrowserContext, page: Page) -> None:
    """The phone loses its signal: offline emulation, once `page` has seen it (Chromium
    applies it to the page a moment after the call returns)."""
    context.set_offline(True)
    wait_until(lambda: page.evaluate("navigator.onLine") is False)


def open_with_worker(context: BrowserContext, url: str) -> Page:
    """The guest page, once its service worker controls it."""
    page = context.new_page()
    page.goto(url)
    # wait_for_function would evaluate a string, which the page's CSP forbids.
    wait_until(lambda: page.evaluate("navigator.serviceWorker.controller !== null"))
    return page


SEALING_LOADED = """() => {
  const loaded = performance.getEntriesByType("resource").map((entry) => entry.name);
  return ["/js/envelope.js", "/vendor/hpke.js"].every(
    (name) => loaded.some((url) => new URL(url).pathname.endsWith(name)),
  );
}"""


def wait_for_sealing(page: Page) -> None:
    """Until the page holds the sealing code it loads ahead of the first tap, so that a
    test may take the server away and the page can still seal and queue a check-in."""
    wait_until(lambda: page.evaluate(SEALING_LOADED))
