"""Check-ins accepted by source and refused by error code, as /metrics counts them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

import crypto
from gastregister import create_app
from registration import metrics
from registration.checkin import errors
from registration.clock import FrozenClock
from registration.config import Settings
from registration.database import Database
from registration.models import CheckInMode, CheckInSource
from tests import factories
from tests.factories import Venue
from tests.metrics_support import Samples, local_value, scrape, value
from tests.registration.checkin.checkin_support import TYPED, create_venue, hidden_fields

API = "/api/v1/checkins"


def form_post(client: FlaskClient, venue: Venue, values: dict[str, str]) -> Any:
    data = {**hidden_fields(client, venue), **values}
    return client.post(f"/c/{venue.area.code}", data=data)


def growth(before: Samples, after: Samples, name: str, label: str) -> dict[str, float]:
    """How much each labelled series grew, leaving out those that did not."""
    grown: dict[str, float] = {}
    for (sample, labels), count in after.items():
        if sample == name:
            key = dict(labels)[label]
            difference = count - before.get((sample, labels), 0.0)
            if difference:
                grown[key] = difference
    return grown


def test_accepted_checkins_are_counted_by_source_and_retries_once(
    client: FlaskClient, venue: Venue, clock: FrozenClock
) -> None:
    before = scrape(client)
    request = venue.checkin_body(clock.now())
    assert client.post(API, json=request).status_code == 201
    assert client.post(API, json=request).status_code == 200  # a retry, stored once
    assert client.post(API, json=venue.checkin_body(clock.now())).status_code == 201
    assert form_post(client, venue, TYPED).status_code == 303
    after = scrape(client)
    assert growth(before, after, "gastregister_checkins_accepted_total", "source") == {
        "guest_page": 2,
        "guest_form": 1,
    }
    assert growth(before, after, "gastregister_checkins_refused_total", "reason") == {}


def test_refusals_are_counted_by_the_code_the_guest_got(
    client: FlaskClient, venue: Venue, clock: FrozenClock, db_session: Session
) -> None:
    rotating = create_venue(db_session, clock.now(), checkin_mode=CheckInMode.ROTATING)
    before = scrape(client)
    answers = [
        client.post(API, data="{", content_type="application/json"),
        client.post(API, json=venue.checkin_body(clock.now(), persons=0)),
        client.post(API, json=venue.checkin_body(clock.now(), envelope="AAAA")),
        client.post(
            API,
            json=venue.checkin_body(
                clock.now(), envelope=crypto.encode_envelope(venue.seal())[:-8]
            ),
        ),
        client.post(API, json=venue.checkin_body(clock.now(), areaCode="nirgendwo")),
        client.post(
            API,
            json=venue.checkin_body(
                clock.now(), arrival=factories.iso(clock.now() + dt.timedelta(days=2))
            ),
        ),
        client.post(API, json=rotating.checkin_body(clock.now())),
        form_post(client, venue, {**TYPED, "lastName": ""}),
    ]
    after = scrape(client)
    codes = [answer.get_json()["error"]["code"] for answer in answers[:-1]]
    assert codes == [
        "invalid_json",
        "invalid",
        "unsupported_envelope_version",
        "invalid_envelope",
        "unknown_area",
        "arrival_out_of_range",
        "entrance_code_required",
    ]
    assert answers[-1].status_code == 422
    assert growth(before, after, "gastregister_checkins_refused_total", "reason") == {
        "invalid_json": 1,
        "invalid": 2,
        "unsupported_envelope_version": 1,
        "invalid_envelope": 1,
        "unknown_area": 1,
        "arrival_out_of_range": 1,
        "entrance_code_required": 1,
    }
    assert growth(before, after, "gastregister_checkins_accepted_total", "source") == {}


def test_a_location_without_a_key_refuses_with_503_and_counts_it(
    client: FlaskClient, venue: Venue, clock: FrozenClock, db_session: Session
) -> None:
    hidden = hidden_fields(client, venue)
    venue.location.health_office_id = None
    db_session.commit()
    before = scrape(client)
    assert client.post(API, json=venue.checkin_body(clock.now())).status_code == 503
    assert client.post(f"/c/{venue.area.code}", data={**hidden, **TYPED}).status_code == 503
    after = scrape(client)
    assert growth(before, after, "gastregister_checkins_refused_total", "reason") == {
        "checkin_unavailable": 2
    }
    assert (
        value(after, "gastregister_http_unavailable_responses_total")
        - value(before, "gastregister_http_unavailable_responses_total")
        == 2
    )


def test_rate_limited_checkins_are_counted(
    settings: Settings, clock: FrozenClock, bound_database: Database, db_session: Session
) -> None:
    app: Flask = create_app(
        Settings.from_mapping({"ratelimit_enabled": True}, base=settings),
        clock=clock,
        database=bound_database,
    )
    app.config.update(CHECKIN_LIMIT_PER_CLIENT="2 per minute")
    venue = create_venue(db_session, clock.now())
    client = app.test_client()
    before = scrape(client)
    statuses = [
        client.post(API, json=venue.checkin_body(clock.now())).status_code for _ in range(3)
    ]
    after = scrape(client)
    assert statuses == [201, 201, 429]
    assert growth(before, after, "gastregister_checkins_refused_total", "reason") == {
        "too_many_requests": 1
    }


def test_every_checkin_error_code_is_a_known_reason() -> None:
    """A new error class must be added to the label set, or it would count as "other"."""

    def subclasses(cls: type[errors.CheckInError]) -> list[type[errors.CheckInError]]:
        return [cls, *(sub for child in cls.__subclasses__() for sub in subclasses(child))]

    codes = {cls.code for cls in subclasses(errors.CheckInError)} - {"not_found"}
    assert codes <= set(metrics.REFUSAL_REASONS)
    assert set(metrics.CHECKIN_SOURCES) == {source.value for source in CheckInSource}


@pytest.mark.parametrize("reason", ["not-a-code", "Gasthof Zur Post", ""])
def test_unknown_reasons_count_as_other(reason: str) -> None:
    name = "gastregister_checkins_refused_total"
    before = local_value(name, reason="other")
    metrics.checkin_refused(reason)
    assert local_value(name, reason="other") == before + 1
