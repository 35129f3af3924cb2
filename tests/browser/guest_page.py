"""What the guest-page browser tests share: the phone, the guest, the venue, axe-core.

Fixtures built on these (venue, phone, no_js, axe_context) are in conftest.py; tests
import the helpers from here (never from a conftest).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page
from sqlalchemy import select

from registration.models import CheckIn
from tests import factories
from tests.local_servers import LiveServer

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
AXE = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
GUEST = {
    "firstName": "Wilhelmine",
    "lastName": "Quästorius",
    "streetAddress": "Zypressenweg 42b",
    "zipCode": "50933",
    "city": "Bergisch Gladbach",
    "phone": "0176 98123456",
    "email": "wilhelmine.q@example.org",
}
# The place of these tests, as factories.venue overrides: its name is on the page.
BRAUHAUS = {
    "business_name": "Brauhaus Test",
    "name": "Brauhaus am Ring",
    "street": "Ring",
    "house_number": "1",
    "zip_code": "50672",
    "city": "Köln",
    "default_stay_minutes": 90,
    "areas": ["Biergarten"],
}


@dataclass
class LiveVenue:
    """A venue committed for the live server, and what its guest page stored."""

    server: LiveServer
    venue: factories.Venue

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def area_code(self) -> str:
        return self.venue.area.code

    @property
    def display_secret(self) -> str:
        return self.venue.location.display_secret

    @property
    def page_url(self) -> str:
        return f"{self.url}/c/{self.area_code}"

    def checkins(self) -> list[CheckIn]:
        with self.server.database.session() as session:
            return list(session.scalars(select(CheckIn).order_by(CheckIn.received_at)))

    def open(self, checkin: CheckIn) -> dict[str, Any]:
        return self.venue.open(checkin.envelope)


def fill(page: Page, values: dict[str, str], prefix: str = "") -> None:
    for name, value in values.items():
        page.fill(f"#{prefix}{name}", value)


# axe-core's WCAG 2.1 A/AA and best-practice rules; only violations are gathered in full
# (resultTypes) and only their rule and targets cross to Python: the passes of a page
# run to thousands of nodes, and copying them cost more than the check.
AXE_RUN = """async () => {
  const result = await axe.run(document, {
    runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']},
    resultTypes: ['violations'],
  });
  return result.violations.map((v) => ({id: v.id, nodes: v.nodes.map((n) => n.target)}));
}"""


def run_axe(page: Page) -> list[dict[str, Any]]:
    """The violations axe-core finds on the page as it is now (an empty list: none)."""
    if not AXE.exists():
        pytest.fail(f"{AXE} missing: run `npm ci --prefix tests/browser/axe`")
    if not page.evaluate("typeof window.axe?.run === 'function'"):  # once per document
        page.add_script_tag(path=str(AXE))
    violations: list[dict[str, Any]] = page.evaluate(AXE_RUN)
    return violations
