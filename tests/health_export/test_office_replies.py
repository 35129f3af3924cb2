"""The office's side of the owner's answers: it reads a decline reason or a question on
its request page, answers a question, or withdraws and files a new request."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from registration.models import AuditEvent, TraceRequest, TraceRequestState
from registration.tracing.requests import decline_trace_request, query_trace_request
from tests import factories
from tests.health_export.office_support import sign_in

State = TraceRequestState


@pytest.fixture
def client(office_app: Flask) -> FlaskClient:
    return office_app.test_client()


@pytest.fixture
def asked(
    db_session: Session, clock: Any, settings: Any, app: Flask, make_office: Any, make_location: Any
) -> dict[str, Any]:
    office = make_office("Amt A", "10115")
    place = make_location(office.office, name="Café A")
    trace_request = factories.trace_request(
        db_session,
        office.office,
        place.location,
        now=clock.now(),
        requested_by_id=office.staff.id,
    )
    db_session.commit()
    return {"office": office, "place": place, "request": trace_request}


def test_the_office_reads_a_question_answers_it_and_the_owner_may_release_again(
    client: FlaskClient,
    asked: dict[str, Any],
    app: Flask,
    db_session: Session,
    clock: Any,
    settings: Any,
) -> None:
    trace_request: TraceRequest = asked["request"]
    with app.test_request_context("/"):
        query_trace_request(
            db_session,
            clock,
            settings,
            trace_request,
            asked_by=asked["place"].owner,
            question="Welcher <i>Tisch</i>?",
        )
    sign_in(client, asked["office"].staff, clock)
    url = f"/amt/requests/{trace_request.id}"
    page = client.get(url).text
    assert "Rückfrage des Betriebs, wartet auf Ihre Antwort" in page
    assert "Welcher &lt;i&gt;Tisch&lt;/i&gt;?" in page and "<i>Tisch" not in page
    assert 'id="answer"' in page and 'id="refile"' in page and "Anfrage zurückziehen" in page

    refused = client.post(f"{url}/answer", data={"answer": "x" * 1001})
    assert refused.status_code == 422 and 'id="answer-error"' in refused.text
    answered = client.post(f"{url}/answer", data={"answer": "Tisch 1, Terrasse"})
    assert answered.status_code == 303
    db_session.expire_all()
    assert trace_request.state is State.REQUESTED
    page = client.get(url).text
    assert "Tisch 1, Terrasse" in page and 'id="answer"' not in page
    assert client.post(f"{url}/answer", data={"answer": "noch mal"}).status_code == 303
    events = db_session.scalars(
        select(AuditEvent.action).where(AuditEvent.trace_request_id == trace_request.id)
    ).all()
    assert events.count("office.request.answered") == 1


def test_a_declined_request_shows_the_reason_and_offers_a_new_request_only(
    client: FlaskClient,
    asked: dict[str, Any],
    app: Flask,
    db_session: Session,
    clock: Any,
    settings: Any,
) -> None:
    trace_request: TraceRequest = asked["request"]
    with app.test_request_context("/"):
        decline_trace_request(
            db_session,
            clock,
            settings,
            trace_request,
            declined_by=asked["place"].owner,
            reason="Wir hatten an dem Tag geschlossen.",
        )
    sign_in(client, asked["office"].staff, clock)
    url = f"/amt/requests/{trace_request.id}"
    page = client.get(url).text
    assert "vom Betrieb abgelehnt" in page
    assert "Wir hatten an dem Tag geschlossen." in page
    assert 'id="refile"' in page and "Anfrage zurückziehen" not in page
    assert client.post(f"{url}/abort").status_code == 303
    db_session.expire_all()
    assert trace_request.state is State.DECLINED
    dashboard = client.get("/amt/").text
    assert "vom Betrieb abgelehnt" in dashboard


def test_the_office_may_withdraw_a_queried_request(
    client: FlaskClient,
    asked: dict[str, Any],
    app: Flask,
    db_session: Session,
    clock: Any,
    settings: Any,
) -> None:
    trace_request: TraceRequest = asked["request"]
    with app.test_request_context("/"):
        query_trace_request(
            db_session, clock, settings, trace_request, asked_by=asked["place"].owner, question="?"
        )
    sign_in(client, asked["office"].staff, clock)
    assert client.post(f"/amt/requests/{trace_request.id}/abort").status_code == 303
    db_session.expire_all()
    assert trace_request.state is State.ABORTED
