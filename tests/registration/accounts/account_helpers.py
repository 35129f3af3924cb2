"""Helpers for account tests (imported by name; fixtures live in conftest.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from flask.testing import FlaskClient

PASSWORD = "correct horse battery"


@dataclass
class Mail:
    to: str
    subject: str
    body: str


@dataclass
class Outbox:
    mails: list[Mail] = field(default_factory=list)

    def last_link(self, path_part: str) -> str:
        for mail in reversed(self.mails):
            match = re.search(r"https?://\S*" + re.escape(path_part) + r"\S*", mail.body)
            if match:
                return match.group(0)
        raise AssertionError(f"no mail with a link containing {path_part!r}")


def csrf_token(page: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
        r'name="csrf_token" value="([^"]+)"', page
    )
    assert match, "no CSRF token on the page"
    return match.group(1)


def post_form(client: FlaskClient, page_url: str, data: dict[str, str], action: str | None = None):  # type: ignore[no-untyped-def]
    page = client.get(page_url)
    return client.post(action or page_url, data={"csrf_token": csrf_token(page.text), **data})
