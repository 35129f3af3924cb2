"""/metrics: who may scrape it, what it says after real requests and a real purge.

Counters live in the test process and only grow, so tests compare a scrape before
with one after. Facts from the database (purge runs, trace requests) need committed
rows, because maintenance opens its own connections as in production.
"""

from __future__ import annotations

import datetime as dt
import secrets

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from gastregister import create_app
from registration import metrics
from registration.clock import FrozenClock
from registration.config import Settings
from registration.database import Database
from registration.extensions import limiter
from registration.models import (
    HealthOffice,
    TraceRequestState,
)
from registration.retention.history import JOB_NAME
from registration.retention.services import run_maintenance
from tests import factories
from tests.metrics_support import local_value, parse, scrape, value

TOKEN = "metrics-" + "t" * 40
# Distinctive names: none of them may ever appear in the metrics output.
BUSINESS = "Gasthof Zzyzx-Metrikprobe"
LOCATION = "Standort Quuxwinkel"
AREA = "Tisch Blorpfeld"
OFFICE = "Gesundheitsamt Frobnitzhausen"


def _app(settings: Settings, clock: FrozenClock, database: Database, **overrides: object) -> Flask:
    return create_app(
        Settings.from_mapping(overrides, base=settings), clock=clock, database=database
    )


# --- access -----------------------------------------------------------------------------


def test_scrape_from_loopback_is_the_prometheus_text_format(client: FlaskClient) -> None:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type == "text/plain; version=0.0.4; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers
    text = response.get_data(as_text=True)
    parsed = parse(text)
    assert value(parsed, "gastregister_database_up") == 1
    for name in ("gastregister_checkins_accepted", "gastregister_trace_requests"):
        assert f"# HELP {name}" in text


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "::ffff:127.0.0.1"])
def test_allowed_addresses_by_default(client: FlaskClient, address: str) -> None:
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": address}).status_code == 200


def test_other_addresses_get_a_plain_404(client: FlaskClient) -> None:
    refused = client.get("/metrics", environ_base={"REMOTE_ADDR": "192.0.2.10"})
    unknown = client.get("/no-such-page", environ_base={"REMOTE_ADDR": "192.0.2.10"})
    assert refused.status_code == 404
    # The same page as for any unknown path (the language links name the path).
    page = refused.get_data(as_text=True).replace("/metrics", "/no-such-page")
    assert page == unknown.get_data(as_text=True)
    assert "gastregister_" not in page


def test_the_address_is_the_one_the_proxy_forwarded(client: FlaskClient) -> None:
    """Through nginx on the same host the peer is 127.0.0.1, but the client is not."""
    proxied = client.get(
        "/metrics",
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
        headers={"X-Forwarded-For": "203.0.113.5"},
    )
    assert proxied.status_code == 404


def test_allowed_networks_are_configurable(
    settings: Settings, clock: FrozenClock, bound_database: Database
) -> None:
    app = _app(settings, clock, bound_database, metrics_allow=("10.20.0.0/16",))
    client = app.test_client()
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.20.3.4"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.21.3.4"}).status_code == 404
    assert client.get("/metrics").status_code == 404  # loopback is no longer listed


def test_bearer_token(settings: Settings, clock: FrozenClock, bound_database: Database) -> None:
    app = _app(settings, clock, bound_database, metrics_allow=(), metrics_token=TOKEN)
    client = app.test_client()
    outside = {"REMOTE_ADDR": "198.51.100.7"}
    assert client.get("/metrics", environ_base=outside).status_code == 404
    right = client.get(
        "/metrics", environ_base=outside, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert right.status_code == 200
    assert "gastregister_database_up" in right.get_data(as_text=True)
    for header in (f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}", "Bearer"):
        wrong = client.get("/metrics", environ_base=outside, headers={"Authorization": header})
        assert wrong.status_code == 404, header


def test_a_wrong_token_is_refused_even_from_an_allowed_address(
    settings: Settings, clock: FrozenClock, bound_database: Database
) -> None:
    app = _app(settings, clock, bound_database, metrics_token=TOKEN)
    client = app.test_client()
    assert client.get("/metrics").status_code == 200
    assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 404


def test_without_a_configured_token_no_token_is_accepted(client: FlaskClient) -> None:
    outside = {"REMOTE_ADDR": "198.51.100.7"}
    response = client.get("/metrics", environ_base=outside, headers={"Authorization": "Bearer "})
    assert response.status_code == 404


def test_scrapes_are_not_rate_limited(
    settings: Settings, clock: FrozenClock, bound_database: Database
) -> None:
    """Even under a default limit for every route, which the service does not set today."""
    app = _app(settings, clock, bound_database, ratelimit_enabled=True)
    app.config["RATELIMIT_DEFAULT"] = "2 per minute"
    limiter.init_app(app)
    client = app.test_client()
    assert [client.get("/healthz").status_code for _ in range(3)] == [200, 200, 429]
    assert {client.get("/metrics").status_code for _ in range(5)} == {200}


# --- HTTP responses -----------------------------------------------------------------------


def test_responses_are_counted_by_class_and_503s_apart(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    location = factories.location(
        db_session,
        factories.business(db_session, name="Ohne Amt"),
        areas=["Tisch"],
        name="Ohne Amt",
        zip_code="99999",
        city="Nirgendwo",
    )
    db_session.commit()
    before = scrape(client)
    assert client.get("/healthz").status_code == 200
    assert client.get("/konto/login").status_code == 200
    assert client.get("/").status_code in (200, 302, 303)
    assert client.get("/no-such-page").status_code == 404
    # No health office for this postal code: nothing can be sealed, the page says so.
    assert client.get(f"/c/{location.areas[0].code}").status_code == 503
    after = scrape(client)

    def grown(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert (
        grown("gastregister_http_responses_total", status_class="2xx")
        + grown("gastregister_http_responses_total", status_class="3xx")
        == 3
    )
    assert grown("gastregister_http_responses_total", status_class="4xx") == 1
    assert grown("gastregister_http_responses_total", status_class="5xx") == 1
    assert grown("gastregister_http_unavailable_responses_total") == 1


def test_every_status_lands_in_one_of_five_classes() -> None:
    classes = ("1xx", "2xx", "3xx", "4xx", "5xx")
    name = "gastregister_http_responses_total"
    before = [local_value(name, status_class=status_class) for status_class in classes]
    for status in (101, 204, 308, 451, 599):
        metrics.http_response(status)
    after = [local_value(name, status_class=status_class) for status_class in classes]
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1, 1, 1]


# --- facts from the database ------------------------------------------------------------


def test_purge_runs_and_trace_requests_come_from_the_database(
    settings: Settings, committed: Database
) -> None:
    now = dt.datetime(2026, 11, 20, 11, 0, tzinfo=dt.UTC)
    clock = FrozenClock(now - dt.timedelta(days=30))
    app = create_app(settings, clock=clock, database=committed)
    client = app.test_client()

    with committed.session() as session:
        office = factories.health_office(session, name=OFFICE, email="amt@frobnitzhausen.invalid")
        venue = factories.venue(
            session,
            office=office,
            business_name=BUSINESS,
            areas=[AREA],
            name=LOCATION,
            street="Quuxgasse",
            house_number="7",
            zip_code="12345",
            city="Quuxstadt",
            now=clock.now(),
        )
        for state in (
            TraceRequestState.REQUESTED,
            TraceRequestState.REQUESTED,
            TraceRequestState.RELEASED,
        ):
            factories.trace_request(
                session,
                office,
                venue.location,
                now=now,
                window_start=now - dt.timedelta(days=3),
                window_end=now - dt.timedelta(days=2),
                case_reference=f"AZ-Plonk-{secrets.token_hex(3)}",
                reason="Ausbruch",
                state=state,
                release_deadline=now + dt.timedelta(days=1),
            )
        # An earlier run that failed.
        factories.job_run(
            session,
            job=JOB_NAME,
            started_at=now - dt.timedelta(hours=2),
            finished_at=now - dt.timedelta(hours=2),
            succeeded=False,
            details={"errors": ["checkins: OperationalError"]},
        )
        session.commit()
        codes = [venue.location.code, venue.area.code, venue.key.key_id]
        body = venue.checkin_body(clock.now(), persons=2)

    # A guest checks in 30 days ago; today the maintenance deletes that visit.
    assert client.post("/api/v1/checkins", json=body).status_code == 201
    clock.set(now)
    result = run_maintenance(committed, clock, settings, "test-runner")
    assert result.ok, result.errors
    # And one that has not finished when /metrics is read. (Added after the run: the
    # runner that takes the lock marks unfinished earlier runs as failed, runner died.)
    with committed.session() as session:
        factories.job_run(session, job=JOB_NAME, started_at=now - dt.timedelta(hours=3))
        session.commit()

    response = client.get("/metrics")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    samples = parse(text)
    assert value(samples, "gastregister_purge_runs", outcome="succeeded") == 1
    assert value(samples, "gastregister_purge_runs", outcome="failed") == 1
    assert value(samples, "gastregister_purge_runs", outcome="unfinished") == 1
    assert value(samples, "gastregister_purge_last_success_timestamp_seconds") == now.timestamp()
    assert value(samples, "gastregister_purge_last_run_timestamp_seconds") == now.timestamp()
    assert value(samples, "gastregister_purge_last_run_succeeded") == 1
    assert value(samples, "gastregister_purge_last_run_duration_seconds") == pytest.approx(
        result.duration_ms / 1000
    )
    assert value(samples, "gastregister_purge_last_run_removed_rows", kind="checkins") == 1
    assert value(samples, "gastregister_purge_last_run_removed_rows", kind="audit_events") == 0
    assert value(samples, "gastregister_purge_interval_seconds") == 600
    assert value(samples, "gastregister_trace_requests", state="requested") == 2
    assert value(samples, "gastregister_trace_requests", state="released") == 1
    assert value(samples, "gastregister_trace_requests", state="closed") == 0

    with committed.session() as session:
        emails = list(session.scalars(select(HealthOffice.email)))
    for secret in [BUSINESS, LOCATION, AREA, OFFICE, "Quux", "Zzyzx", "Plonk", *codes, *emails]:
        assert secret not in text
    assert "127.0.0.1" not in text


def test_without_any_run_the_last_success_is_zero(client: FlaskClient) -> None:
    samples = scrape(client)
    assert value(samples, "gastregister_purge_last_success_timestamp_seconds") == 0
    assert ("gastregister_purge_last_run_succeeded", frozenset()) not in samples


def test_an_unreachable_database_still_answers_with_the_process_counts(
    settings: Settings, clock: FrozenClock
) -> None:
    broken = Database("postgresql://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 2})
    app = create_app(settings, clock=clock, database=broken)
    response = app.test_client().get("/metrics")
    assert response.status_code == 200
    samples = parse(response.get_data(as_text=True))
    assert value(samples, "gastregister_database_up") == 0
    assert ("gastregister_http_responses_total", frozenset({("status_class", "2xx")})) in samples
    assert ("gastregister_trace_requests", frozenset({("state", "requested")})) not in samples
    broken.dispose()


# --- the connection pool ----------------------------------------------------------------


def test_pool_gauges_follow_this_process_pool(
    settings: Settings, clock: FrozenClock, committed: Database
) -> None:
    app = create_app(settings, clock=clock, database=committed)
    client = app.test_client()
    assert client.get("/healthz").status_code == 200  # the first request starts the watch
    connections = [committed.engine.connect() for _ in range(7)]
    try:
        samples = scrape(client)
        assert value(samples, "gastregister_db_pool_size") == 5
        assert value(samples, "gastregister_db_pool_checked_out") == 7
        assert value(samples, "gastregister_db_pool_overflow") == 2
    finally:
        for connection in connections:
            connection.close()
    samples = scrape(client)
    assert value(samples, "gastregister_db_pool_checked_out") == 0
    assert value(samples, "gastregister_db_pool_overflow") == 0
