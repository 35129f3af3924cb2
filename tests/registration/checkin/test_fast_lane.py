"""The plain API check-in answered below Flask (checkin.fast_lane): the same answer as the
view's, and every other request (refusals, errors, limits) still the view's, counted once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gastregister import create_app
from registration.checkin import hot_path
from registration.checkin.web import AREA_HEADER
from registration.clock import FrozenClock
from registration.config import Settings
from registration.database import Database, DatabaseRestingError
from registration.models import CheckIn
from tests.factories import Venue

API = "/api/v1/checkins"
# What the view's answer has that the lane's may not: values that differ per answer.
PER_ANSWER = {"Content-Length"}
PROXIED_HTTPS = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "192.0.2.10"}


@pytest.fixture
def view_calls(app: Flask) -> Iterator[list[str]]:
    """Every call of the API's check-in view: the lane answered whatever is not here."""
    calls: list[str] = []
    view = app.view_functions["api.create_checkin"]

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append("view")
        return view(*args, **kwargs)

    app.view_functions["api.create_checkin"] = counted
    yield calls
    app.view_functions["api.create_checkin"] = view


def stored(session: Session) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(CheckIn)) or 0)


def test_a_checkin_at_a_known_area_is_answered_below_flask_like_the_view(
    client: FlaskClient,
    venue: Venue,
    clock: FrozenClock,
    db_session: Session,
    view_calls: list[str],
) -> None:
    first = client.post(API, json=venue.checkin_body(clock.now()), headers=PROXIED_HTTPS)
    assert (first.status_code, view_calls) == (201, ["view"])  # the area was not known yet
    second = client.post(API, json=venue.checkin_body(clock.now()), headers=PROXIED_HTTPS)
    assert (second.status_code, view_calls) == (201, ["view"])
    assert stored(db_session) == 2

    def shape(response: Any) -> dict[str, Any]:
        answer = response.get_json()
        return {
            name: (value if name in {"location", "area", "persons", "departure"} else type(value))
            for name, value in answer.items()
        }

    assert shape(second) == shape(first)
    assert sorted((k, v) for k, v in second.headers if k not in PER_ANSWER) == sorted(
        (k, v) for k, v in first.headers if k not in PER_ANSWER
    )
    assert "Strict-Transport-Security" in second.headers
    # Byte for byte the view's JSON, apart from the values of this check-in.
    assert list(second.get_json()) == list(first.get_json())
    assert second.get_data().endswith(b"}\n") and first.get_data().endswith(b"}\n")
    assert b": " not in second.get_data() and b", " not in second.get_data()


def test_a_retry_through_the_lane_gets_the_same_checkin(
    client: FlaskClient,
    venue: Venue,
    clock: FrozenClock,
    db_session: Session,
    view_calls: list[str],
) -> None:
    client.post(API, json=venue.checkin_body(clock.now()))
    body = venue.checkin_body(clock.now())
    first = client.post(API, json=body)
    again = client.post(API, json=body)
    # The retry's statement inserts nothing (its key is known): the view answers it.
    assert (first.status_code, again.status_code, view_calls) == (201, 200, ["view", "view"])
    assert again.get_json()["id"] == first.get_json()["id"]
    assert stored(db_session) == 2


@pytest.mark.parametrize(
    ("send", "status"),
    [
        (lambda c, body: c.post(API, json={**body, "extra": 1}), 422),
        (lambda c, body: c.post(API, json={**body, "persons": 0}), 422),
        (lambda c, body: c.post(API, json={**body, "envelope": "AAAA"}), 422),
        (lambda c, body: c.post(API, data=str(body), content_type="text/plain"), 415),
        (lambda c, body: c.post(API, data=b"{" * 40, content_type="application/json"), 400),
        (
            lambda c, body: c.post(API, data=b'{"a":"\\u0000"}', content_type="application/json"),
            400,
        ),
        (lambda c, body: c.post(API + "?x=1", json={**body, "persons": 99}), 422),
        (lambda c, body: c.post(API, json={**body, "areaCode": "UNKNOWN-AREA"}), 404),
    ],
)
def test_anything_else_is_the_views_answer_from_the_body_the_lane_read(
    client: FlaskClient,
    venue: Venue,
    clock: FrozenClock,
    db_session: Session,
    view_calls: list[str],
    send: Callable[[FlaskClient, dict[str, Any]], Any],
    status: int,
) -> None:
    client.post(API, json=venue.checkin_body(clock.now()))
    response = send(client, venue.checkin_body(clock.now()))
    assert response.status_code == status, response.get_data()
    assert response.get_json()["error"]["code"]
    assert len(view_calls) == 2
    assert stored(db_session) == 1


def test_a_database_error_in_the_lane_is_the_apps_503_and_not_tried_again(
    client: FlaskClient,
    venue: Venue,
    clock: FrozenClock,
    db_session: Session,
    view_calls: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client.post(API, json=venue.checkin_body(clock.now()))
    attempts: list[str] = []

    def resting(*_args: Any, **_kwargs: Any) -> None:
        attempts.append("statement")
        raise DatabaseRestingError

    monkeypatch.setattr(hot_path, "store_at_known_area", resting)
    response = client.post(API, json=venue.checkin_body(clock.now()))
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert response.get_json()["error"]["code"]
    assert attempts == ["statement"]
    assert view_calls == ["view", "view"]


@pytest.fixture
def area_limited_app(
    settings: Settings, clock: FrozenClock, bound_database: Database, db_session: Session
) -> Flask:
    """As deployed: the limiter on, clients counted by the proxy, areas by the app.
    Created after the `app` fixture: Flask-Limiter is one object per process."""
    app = create_app(
        Settings.from_mapping(
            {"ratelimit_enabled": True, "client_limits_by_proxy": True}, base=settings
        ),
        clock=clock,
        database=bound_database,
    )
    app.config.update(CHECKIN_LIMIT_PER_AREA="3 per minute")
    return app


def test_the_area_limit_counts_each_checkin_once_and_refuses_in_the_guests_language(
    area_limited_app: Flask, venue: Venue, clock: FrozenClock, db_session: Session
) -> None:
    client = area_limited_app.test_client()
    # The first goes through the lane and on to the view (area not yet known), the
    # second is refused by the view: both counted once, like the lane's third.
    statuses = [
        client.post(API, json=venue.checkin_body(clock.now())).status_code,
        client.post(API, json={**venue.checkin_body(clock.now()), "persons": 0}).status_code,
        client.post(API, json=venue.checkin_body(clock.now())).status_code,
    ]
    assert statuses == [201, 422, 201]
    refused = client.post(
        API, json=venue.checkin_body(clock.now()), headers={"Accept-Language": "en"}
    )
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "too_many_requests"
    assert "Too many" in refused.get_json()["error"]["message"]
    assert int(refused.headers["Retry-After"]) >= 1
    assert stored(db_session) == 2


def test_the_lane_leaves_a_checkin_naming_its_area_in_the_header_to_the_proxy(
    proxy_counts_areas_app: Flask,
    counted_keys: list[str],
    venue: Venue,
    clock: FrozenClock,
    db_session: Session,
) -> None:
    """The guest page's check-ins, stored by the lane without a round trip to the
    limiter's storage; one without the header is counted and refused as before."""
    calls = counted_keys
    client = proxy_counts_areas_app.test_client()
    header = {AREA_HEADER: venue.area.code}
    statuses = [
        client.post(API, json=venue.checkin_body(clock.now()), headers=header).status_code
        for _ in range(4)
    ]
    assert statuses == [201] * 4
    assert calls == []
    unnamed = [client.post(API, json=venue.checkin_body(clock.now())).status_code for _ in range(3)]
    assert unnamed == [201, 201, 429]
    assert len(calls) == 3
    assert stored(db_session) == 6


class _BrokenStream:
    """A request body whose client went away: reading it fails."""

    def read(self, *_args: Any) -> bytes:
        raise ConnectionResetError("client gone")


@pytest.mark.parametrize(
    "environ",
    [
        {"wsgi.input": _BrokenStream(), "CONTENT_LENGTH": "200"},
        {"CONTENT_LENGTH": "5000"},  # announced more than it sent
    ],
)
def test_a_body_that_breaks_off_is_the_views_400_and_stores_nothing(
    client: FlaskClient,
    venue: Venue,
    clock: FrozenClock,
    db_session: Session,
    view_calls: list[str],
    environ: dict[str, Any],
) -> None:
    client.post(API, json=venue.checkin_body(clock.now()))
    response = client.post(
        API,
        data=b'{"areaCode": "x"}',
        content_type="application/json",
        environ_overrides=environ,
    )
    assert response.status_code == 400, response.get_data()
    assert response.get_json()["error"]["code"]
    assert view_calls == ["view", "view"]
    assert stored(db_session) == 1
