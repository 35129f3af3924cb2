"""How the guest page and its service worker are served: the worker at a stable URL
with the whole site as its scope, and the page compressed unless it echoes a query."""

from __future__ import annotations

import gzip

import brotli  # type: ignore[import-untyped]  # Flask-Compress's brotli ships no type hints
import pytest
from flask.testing import FlaskClient

from tests.factories import Venue


def test_the_service_worker_has_a_stable_url_and_imports_this_release(
    client: FlaskClient,
) -> None:
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert response.headers["Cache-Control"] == "no-cache"  # never immutable
    module = response.get_data(as_text=True).split('"')[1]
    assert module.startswith("/static/") and module.endswith("/js/service-worker.js")
    assert "'self'" in response.headers["Content-Security-Policy"]
    with client.get(module) as imported:
        assert imported.status_code == 200


@pytest.mark.parametrize(
    ("encoding", "decode"), [("br", brotli.decompress), ("gzip", gzip.decompress)]
)
def test_the_guest_page_is_compressed(
    client: FlaskClient, venue: Venue, encoding: str, decode: object
) -> None:
    response = client.get(f"/c/{venue.area.code}", headers={"Accept-Encoding": encoding})
    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == encoding
    assert "Accept-Encoding" in response.headers["Vary"]
    assert callable(decode)
    html = decode(response.get_data()).decode()
    assert 'id="checkin-config"' in html


def test_a_page_that_echoes_a_foreign_query_is_not_compressed(
    client: FlaskClient, venue: Venue
) -> None:
    """BREACH: text an attacker chooses (the query, echoed by the language switch)
    never shares a compressed answer with the CSRF token."""
    response = client.get(
        f"/c/{venue.area.code}?guess=csrf_token", headers={"Accept-Encoding": "br, gzip"}
    )
    assert response.status_code == 200
    assert "Content-Encoding" not in response.headers
    assert "guess" in response.get_data(as_text=True)
