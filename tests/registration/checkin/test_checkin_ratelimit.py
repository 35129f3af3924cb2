"""Abuse limits per client and per area, in memory and shared through Redis by several hosts."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from gastregister import create_app
from registration.checkin.web import AREA_HEADER
from registration.clock import FrozenClock
from registration.config import Settings
from registration.database import Database
from tests.factories import Venue
from tests.forms import csrf_token
from tests.registration.checkin.checkin_support import count_limiter_hits

REDIS_URL = "redis://127.0.0.1:6379/3"
API = "/api/v1/checkins"
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def limited_app(
    settings: Settings, clock: FrozenClock, bound_database: Database, db_session: Session
) -> Flask:
    """Created after the `app` fixture: Flask-Limiter is one object per process, and the
    app created last decides whether it is enabled and where it counts."""
    app = create_app(
        Settings.from_mapping({"ratelimit_enabled": True}, base=settings),
        clock=clock,
        database=bound_database,
    )
    app.config.update(
        CHECKIN_LIMIT_PER_CLIENT="3 per minute", CHECKIN_LIMIT_PER_AREA="100 per minute"
    )
    return app


def test_too_many_checkins_from_one_client_get_a_friendly_429(
    limited_app: Flask, venue: Venue, db_session: Session
) -> None:
    client = limited_app.test_client()
    statuses = [
        client.post("/api/v1/checkins", json={"areaCode": venue.area.code}).status_code
        for _ in range(3)
    ]
    assert statuses == [422, 422, 422]
    refused = client.post("/api/v1/checkins", json={"areaCode": venue.area.code})
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "too_many_requests"
    assert "Retry-After" in refused.headers
    html = client.get(f"/c/{venue.area.code}").get_data(as_text=True)
    form = {"csrf_token": csrf_token(html)}
    assert [client.post(f"/c/{venue.area.code}", data=form).status_code for _ in range(3)] == [
        422
    ] * 3
    page = client.post(f"/c/{venue.area.code}", data=form)
    assert page.status_code == 429
    assert page.mimetype == "text/html"
    assert "Zu viele Anfragen" in page.get_data(as_text=True)
    english = client.post(f"/c/{venue.area.code}", data=form, headers={"Accept-Language": "en"})
    assert "Too many requests" in english.get_data(as_text=True)
    other_client = limited_app.test_client()
    other = other_client.post(
        "/api/v1/checkins",
        json={"areaCode": venue.area.code},
        environ_base={"REMOTE_ADDR": "192.0.2.7"},
    )
    assert other.status_code == 422


def test_one_area_is_limited_across_clients(limited_app: Flask, venue: Venue) -> None:
    limited_app.config.update(
        CHECKIN_LIMIT_PER_CLIENT="100 per minute", CHECKIN_LIMIT_PER_AREA="3 per minute"
    )
    client = limited_app.test_client()

    def post(area: str, address: str) -> int:
        return client.post(
            "/api/v1/checkins", json={"areaCode": area}, environ_base={"REMOTE_ADDR": address}
        ).status_code

    assert [post(venue.area.code, f"192.0.2.{n}") for n in range(1, 4)] == [422, 422, 422]
    assert post(venue.area.code, "192.0.2.9") == 429
    assert post("another-area", "192.0.2.9") == 422


SERVER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from werkzeug.serving import make_server
    from gastregister import create_app
    from registration.config import Settings
    settings = Settings.from_mapping({
        "environment": "test", "database_url": sys.argv[1], "instance_path": Path(sys.argv[2]),
        "secret_key": sys.argv[3], "ratelimit_enabled": True, "ratelimit_storage_url": sys.argv[4],
        "scheduler": "off",
    })
    app = create_app(settings)
    app.config.update(CHECKIN_LIMIT_PER_CLIENT="1000 per minute", CHECKIN_LIMIT_PER_AREA="4 per minute")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    print(server.server_port, flush=True)
    server.serve_forever()
    """
)


def _redis_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture
def two_hosts(database_url: str, tmp_path: Path) -> Iterator[list[str]]:
    """Two separate app processes with one Redis for their limits (as two app hosts)."""
    if not _redis_available():
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    secret = secrets.token_urlsafe(40)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", SERVER, database_url, str(tmp_path), secret, REDIS_URL],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        for _ in range(2)
    ]
    try:
        urls = []
        for process in processes:
            assert process.stdout is not None
            urls.append(f"http://127.0.0.1:{int(process.stdout.readline())}")
        yield urls
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)
            if process.stdout is not None:
                process.stdout.close()


def _post(url: str, body: dict[str, Any]) -> int:
    request = urllib.request.Request(
        url + "/api/v1/checkins",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


@pytest.mark.redis
def test_the_area_limit_is_shared_by_two_hosts_through_redis(two_hosts: list[str]) -> None:
    area = "area-" + secrets.token_hex(8)  # an incomplete request: 422 once past the limiter
    first, second = two_hosts
    statuses = [_post(url, {"areaCode": area}) for url in (first, second, first, second)]
    assert statuses == [422, 422, 422, 422]
    assert _post(first, {"areaCode": area}) == 429
    assert _post(second, {"areaCode": area}) == 429
    assert _post(second, {"areaCode": area + "-other"}) == 422


def test_an_accepted_checkin_costs_the_limiter_no_extra_reads(
    limited_app: Flask, venue: Venue
) -> None:
    """No X-RateLimit-* headers: each would read the counters again (two more Redis
    round trips per request in production); a refusal still says when to come back."""
    client = limited_app.test_client()
    accepted = client.post("/api/v1/checkins", json={"areaCode": venue.area.code})
    assert not [name for name, _value in accepted.headers if name.startswith("X-RateLimit")]
    for _ in range(3):
        client.post("/api/v1/checkins", json={"areaCode": venue.area.code})
    refused = client.post("/api/v1/checkins", json={"areaCode": venue.area.code})
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60


@pytest.fixture
def proxy_limited_app(
    settings: Settings, clock: FrozenClock, bound_database: Database, db_session: Session
) -> Flask:
    """As deployed behind deploy/nginx: the proxy counts per client, the app per area."""
    app = create_app(
        Settings.from_mapping(
            {"ratelimit_enabled": True, "client_limits_by_proxy": True}, base=settings
        ),
        clock=clock,
        database=bound_database,
    )
    app.config.update(
        CHECKIN_LIMIT_PER_CLIENT="2 per minute", CHECKIN_LIMIT_PER_AREA="5 per minute"
    )
    return app


def test_behind_the_proxy_the_app_counts_per_area_only(
    proxy_limited_app: Flask, venue: Venue
) -> None:
    client = proxy_limited_app.test_client()
    statuses = [
        client.post("/api/v1/checkins", json={"areaCode": venue.area.code}).status_code
        for _ in range(5)
    ]
    # Past the per-client limit of 2 (the proxy's to count), up to the area's 5.
    assert statuses == [422] * 5
    assert client.post("/api/v1/checkins", json={"areaCode": venue.area.code}).status_code == 429


def test_an_accepted_checkin_costs_one_counter_per_limit_window(
    limited_app: Flask, proxy_limited_app: Flask, venue: Venue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One storage round trip per counted window, nothing else: the per-client windows
    (two by default) and the area's; behind the proxy only the area's."""
    calls = count_limiter_hits(monkeypatch)
    proxy_limited_app.config.update(CHECKIN_LIMIT_PER_AREA="100 per minute")
    client = proxy_limited_app.test_client()
    assert client.post("/api/v1/checkins", json={"areaCode": venue.area.code}).status_code == 422
    assert len(calls) == 1 and "checkin-area" in calls[0]


def test_an_api_checkin_naming_its_area_in_the_header_is_left_to_the_proxy(
    proxy_counts_areas_app: Flask, venue: Venue, counted_keys: list[str]
) -> None:
    """nginx counted it by the header (deploy/nginx, gastregister_checkins_area): the
    app neither counts it again nor refuses it at its own area limit."""
    client = proxy_counts_areas_app.test_client()
    code = venue.area.code
    statuses = [
        client.post(API, json={"areaCode": code}, headers={AREA_HEADER: code}).status_code
        for _ in range(4)
    ]
    assert statuses == [422] * 4
    assert counted_keys == []


@pytest.mark.parametrize(
    "header",
    [None, "another-area", "", "{code}x"],
    ids=["no header", "another area", "empty", "a longer code"],
)
def test_an_api_checkin_whose_header_does_not_name_its_area_is_counted_by_the_app(
    proxy_counts_areas_app: Flask, venue: Venue, counted_keys: list[str], header: str | None
) -> None:
    """The proxy counted it on another key, or on none: a header cannot take a check-in
    past the area's limit."""
    client = proxy_counts_areas_app.test_client()
    code = venue.area.code
    headers = {} if header is None else {AREA_HEADER: header.format(code=code)}
    statuses = [
        client.post(API, json={"areaCode": code}, headers=headers).status_code for _ in range(3)
    ]
    assert statuses == [422, 422, 429]
    assert len(counted_keys) == 3 and all("checkin-area" in key for key in counted_keys)


def test_a_checkin_that_did_not_come_through_the_proxy_is_counted_whatever_its_header(
    proxy_counts_areas_app: Flask, venue: Venue, counted_keys: list[str]
) -> None:
    """A client that reaches the app directly, not through a trusted proxy
    (GASTREGISTER_FORWARDED_ALLOW_IPS), was counted by no nginx: its header is dropped."""
    client = proxy_counts_areas_app.test_client()
    code = venue.area.code
    statuses = [
        client.post(
            API,
            json={"areaCode": code},
            headers={AREA_HEADER: code},
            environ_base={"REMOTE_ADDR": "192.0.2.50"},
        ).status_code
        for _ in range(3)
    ]
    assert statuses == [422, 422, 429]
    assert len(counted_keys) == 3


def test_a_code_the_proxy_does_not_count_is_counted_by_the_app_even_if_the_header_names_it(
    proxy_counts_areas_app: Flask, counted_keys: list[str]
) -> None:
    """nginx counts only what has an area code's form; anything else (too long, other
    characters) it leaves uncounted, so the app counts it."""
    client = proxy_counts_areas_app.test_client()
    for code in ("a" * 65, "tisch.7", "tisch/7"):
        statuses = [
            client.post(API, json={"areaCode": code}, headers={AREA_HEADER: code}).status_code
            for _ in range(3)
        ]
        assert statuses[-1] == 429, (code, statuses)
    assert len(counted_keys) == 9


def test_the_guest_form_is_counted_by_the_app_whatever_its_header_says(
    proxy_counts_areas_app: Flask, venue: Venue, counted_keys: list[str]
) -> None:
    """nginx counts areas on the API's location only; a form post is the app's to count."""
    client = proxy_counts_areas_app.test_client()
    code = venue.area.code
    form = {"csrf_token": csrf_token(client.get(f"/c/{code}").get_data(as_text=True))}
    statuses = [
        client.post(f"/c/{code}", data=form, headers={AREA_HEADER: code}).status_code
        for _ in range(3)
    ]
    assert statuses == [422, 422, 429]
    assert len(counted_keys) == 3


def test_a_client_the_proxy_refused_gets_the_translated_429_and_nothing_is_stored(
    proxy_limited_app: Flask, venue: Venue, db_session: Session
) -> None:
    from sqlalchemy import func, select

    from registration.models import CheckIn

    client = proxy_limited_app.test_client()
    refused = client.post(
        "/api/v1/checkins",
        json={"areaCode": venue.area.code},
        headers={"X-Gastregister-Limited": "1", "Accept-Language": "en"},
    )
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "too_many_requests"
    assert "Too many requests" in refused.get_json()["error"]["message"]
    assert refused.headers["Retry-After"] == "60"
    html = client.get(f"/c/{venue.area.code}").get_data(as_text=True)
    page = client.post(
        f"/c/{venue.area.code}",
        data={"csrf_token": csrf_token(html)},
        headers={"X-Gastregister-Limited": "1"},
    )
    assert page.status_code == 429
    assert "Zu viele Anfragen" in page.get_data(as_text=True)
    assert db_session.scalar(select(func.count()).select_from(CheckIn)) == 0


def test_a_limiter_storage_that_does_not_answer_lets_the_checkin_through(
    settings: Settings,
    clock: FrozenClock,
    bound_database: Database,
    venue: Venue,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Redis down: the guest's check-in is stored, the outage logged (not a 500)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    app = create_app(
        Settings.from_mapping(
            {
                "ratelimit_enabled": True,
                "ratelimit_storage_url": f"redis://127.0.0.1:{closed_port}/0",
            },
            base=settings,
        ),
        clock=clock,
        database=bound_database,
    )
    response = app.test_client().post("/api/v1/checkins", json=venue.checkin_body(clock.now()))
    assert response.status_code == 201
    assert "rate-limit storage did not answer" in caplog.text
