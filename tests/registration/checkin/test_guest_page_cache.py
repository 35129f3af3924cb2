"""The guest page is rendered once per area and language and kept (checkin.page_cache):
what differs per request (tokens, notices, the page's path) is filled in, everything
the area's owner changes shows at once, and nothing of one request reaches another."""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator

import pytest
from flask import Flask, template_rendered
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from registration.checkin.lookup import GUEST_PAGE_STALENESS
from registration.checkin.page_cache import PageSkeleton, stored_blocks
from registration.clock import FrozenClock
from tests.factories import Venue
from tests.forms import csrf_token
from tests.registration.checkin.checkin_support import TYPED


@pytest.fixture
def rendered(app: Flask) -> Iterator[list[str]]:
    """The names of the templates rendered from now on."""
    names: list[str] = []

    def seen(_app: Flask, template: object, context: object, **_extra: object) -> None:
        names.append(str(getattr(template, "name", "")))

    template_rendered.connect(seen, app)
    yield names
    template_rendered.disconnect(seen, app)


def idempotency_key(page: str) -> str:
    match = re.search(r'name="idempotencyKey" value="([^"]+)"', page)
    assert match
    return match.group(1)


def test_the_page_is_rendered_once_per_area_and_language(
    client: FlaskClient, venue: Venue, rendered: list[str]
) -> None:
    first = client.get(f"/c/{venue.area.code}").get_data(as_text=True)
    second = client.get(f"/c/{venue.area.code}").get_data(as_text=True)
    assert rendered.count("checkin/page.html") == 1
    assert idempotency_key(first) != idempotency_key(second)
    english = client.get(f"/c/{venue.area.code}?lang=en").get_data(as_text=True)
    assert rendered.count("checkin/page.html") == 2
    assert 'lang="en"' in english and "Check in" in english
    assert f"next=/c/{venue.area.code}?lang%3Den" in english  # its own path, quoted


def test_each_visitor_gets_a_token_of_their_own(
    app: Flask, client: FlaskClient, venue: Venue
) -> None:
    other = app.test_client()
    mine = client.get(f"/c/{venue.area.code}").get_data(as_text=True)
    theirs = other.get(f"/c/{venue.area.code}").get_data(as_text=True)
    assert csrf_token(mine) != csrf_token(theirs)
    assert idempotency_key(mine) != idempotency_key(theirs)


def test_what_the_owner_changes_shows_within_the_staleness(
    client: FlaskClient, venue: Venue, db_session: Session, clock: FrozenClock
) -> None:
    assert "Neuer Name" not in client.get(f"/c/{venue.area.code}").get_data(as_text=True)
    venue.area.name = "Neuer Name"
    venue.location.street = "Neue Straße"
    db_session.commit()
    clock.advance(GUEST_PAGE_STALENESS)
    page = client.get(f"/c/{venue.area.code}").get_data(as_text=True)
    assert "Neuer Name" in page and "Neue Straße" in page


def test_an_archived_area_and_a_new_key_show_within_the_staleness(
    client: FlaskClient, venue: Venue, db_session: Session, clock: FrozenClock
) -> None:
    """The page may show the area a moment late; a check-in through it never uses what
    the page kept (the form reads the area afresh)."""
    page = client.get(f"/c/{venue.area.code}").get_data(as_text=True)
    venue.area.archived_at = clock.now()
    db_session.commit()
    token = csrf_token(page)
    posted = client.post(f"/c/{venue.area.code}", data={"csrf_token": token, **TYPED})
    assert posted.status_code == 404
    clock.advance(GUEST_PAGE_STALENESS)
    assert client.get(f"/c/{venue.area.code}").status_code == 404


def test_a_flashed_message_is_shown_once_and_never_kept(client: FlaskClient, venue: Venue) -> None:
    with client.session_transaction() as session:
        session["_flashes"] = [("info", "Nur für diesen Besuch")]
    assert "Nur für diesen Besuch" in client.get(f"/c/{venue.area.code}").get_data(as_text=True)
    assert "Nur für diesen Besuch" not in client.get(f"/c/{venue.area.code}").get_data(as_text=True)


def test_the_gzip_answer_is_the_page_with_its_values_never_compressed() -> None:
    """BREACH: a per-request value stands in stored (uncompressed) blocks, so no
    compressed size depends on it."""
    skeleton = PageSkeleton.render(
        lambda slots: (
            f'<p>{"kept text " * 50}</p><input value="{slots["csrf_token"]}">'
            f'<script>{{"admission": "{slots["admission_json"]}"}}</script>'
            + "".join(str(slots[name]) for name in ("idempotency_key", "return_path"))
            + "<end>"
        )
    )
    values = {
        "csrf_token": "secret-token-1234",
        "admission_json": "null",
        "idempotency_key": "x" * 70_000,  # more than one stored block
        "return_path": "",
    }
    body, compressed = skeleton.gzip(values)
    assert body == skeleton.fill(values)
    assert gzip.decompress(compressed) == body
    assert body.startswith(b"<p>kept text") and b'{"admission": null}' in body
    assert b"secret-token-1234" in compressed
    assert len(compressed) < len(body) - 400  # the kept text is compressed


def test_stored_blocks_of_nothing_are_nothing() -> None:
    assert stored_blocks(b"") == b""
    assert stored_blocks(b"ab") == b"\x00\x02\x00\xfd\xffab"
