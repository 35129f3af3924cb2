"""The owner's answers other than a release: decline with a reason, ask back, and the
office's answer — one state machine (registration.tracing.requests.TRANSITIONS)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from registration.audit import all_events, verify_chain
from registration.clock import FrozenClock
from registration.config import Settings
from registration.models import (
    AuditEvent,
    Location,
    TraceRequest,
    TraceRequestNoteKind,
    TraceRequestState,
)
from registration.session import get_settings
from registration.tracing.errors import InvalidTransitionError, RequestValidationError
from registration.tracing.release import release_trace_request
from registration.tracing.requests import NOTE_MAX, answer_trace_request, note_text
from tests.forms import csrf_token
from tests.registration.portal.portal_helpers import Tenant

State = TraceRequestState
Mails = list[tuple[str, str, str]]


@pytest.fixture
def mails(monkeypatch: pytest.MonkeyPatch) -> Mails:
    import registration.tracing.notices as notices

    sent: Mails = []
    monkeypatch.setattr(
        notices, "send_mail", lambda s, to, subject, body: sent.append((to, subject, body))
    )
    return sent


def _actions(db_session: Session, trace_request: TraceRequest) -> list[str]:
    return list(
        db_session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.trace_request_id == trace_request.id)
            .order_by(AuditEvent.id)
        )
    )


def test_owner_declines_with_a_reason_that_is_final_audited_mailed_and_escaped(
    app: Flask,
    owner_client: tuple[FlaskClient, Tenant],
    make_trace_request: Callable[[Location], TraceRequest],
    db_session: Session,
    mails: Mails,
) -> None:
    client, tenant = owner_client
    trace_request = make_trace_request(tenant.location)
    page = client.get(f"/portal/requests/{trace_request.id}")
    assert "Anfrage ablehnen" in page.text and "Rückfrage senden" in page.text
    token = csrf_token(page.text)
    url = f"/portal/requests/{trace_request.id}/decline"

    empty = client.post(url, data={"csrf_token": token, "reason": "   "})
    assert empty.status_code == 422
    too_long = client.post(url, data={"csrf_token": token, "reason": "x" * (NOTE_MAX + 1)})
    assert too_long.status_code == 422 and "1000" in too_long.text
    # NUL is refused by the request guard for every form; other controls by the lifecycle.
    nul = client.post(url, data={"csrf_token": token, "reason": "nein\x00"})
    assert nul.status_code == 400
    escape = client.post(url, data={"csrf_token": token, "reason": "nein\x1b[31m"})
    assert escape.status_code == 422 and "Steuerzeichen" in escape.text
    db_session.expire_all()
    assert trace_request.state is State.REQUESTED and not trace_request.notes

    done = client.post(url, data={"csrf_token": token, "reason": "Kein <b>Gast</b>\nda"})
    assert done.status_code == 303
    db_session.expire_all()
    assert trace_request.state is State.DECLINED and trace_request.declined_at is not None
    assert [(n.kind, n.text) for n in trace_request.notes] == [
        (TraceRequestNoteKind.DECLINE_REASON, "Kein <b>Gast</b>\nda")
    ]
    shown = client.get(f"/portal/requests/{trace_request.id}").text
    assert "Kein &lt;b&gt;Gast&lt;/b&gt;" in shown and "<b>Gast" not in shown
    assert "von Ihnen abgelehnt" in shown and "Anfrage ablehnen" not in shown
    assert _actions(db_session, trace_request)[-1] == "request.declined"
    # The reason is free text: it stays on the request, never in the audit log.
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "request.declined"))
    assert event is not None and "Gast" not in str(event.details)
    assert verify_chain(all_events(db_session)).intact

    # Final: neither a release nor a second decline nor a question changes it.
    again = client.post(
        url, data={"csrf_token": token, "reason": "noch mal"}, follow_redirects=True
    )
    assert "den Stand „von Ihnen abgelehnt“" not in again.text  # the office's words, not yours
    assert "hat den Stand „vom Betrieb abgelehnt“" in again.text
    assert "zu „declined“" not in again.text
    with app.test_request_context("/"), pytest.raises(InvalidTransitionError):
        release_trace_request(
            db_session,
            FrozenClock(trace_request.declined_at),
            get_settings(),
            trace_request,
            released_by=tenant.owner,
        )
    db_session.expire_all()
    assert trace_request.state is State.DECLINED and len(trace_request.notes) == 1

    office_mails = [mail for mail in mails if mail[0] == "amt@example.invalid"]
    assert len(office_mails) == 1
    assert "vom Betrieb abgelehnt" in office_mails[0][1] + office_mails[0][2]
    assert "Status: declined" not in office_mails[0][2] and "declined" not in office_mails[0][2]


def test_owner_asks_back_office_answers_and_the_request_waits_for_the_release_again(
    app: Flask,
    owner_client: tuple[FlaskClient, Tenant],
    make_trace_request: Callable[[Location], TraceRequest],
    db_session: Session,
    clock: FrozenClock,
    mails: Mails,
) -> None:
    client, tenant = owner_client
    trace_request = make_trace_request(tenant.location)
    old_deadline = trace_request.release_deadline
    page = client.get(f"/portal/requests/{trace_request.id}")
    token = csrf_token(page.text)
    url = f"/portal/requests/{trace_request.id}/query"
    assert client.post(url, data={"csrf_token": token, "question": ""}).status_code == 422
    asked = client.post(url, data={"csrf_token": token, "question": "Welcher Tisch genau?"})
    assert asked.status_code == 303
    db_session.expire_all()
    assert trace_request.state is State.QUERIED
    shown = client.get(f"/portal/requests/{trace_request.id}").text
    assert "Welcher Tisch genau?" in shown and "Gästedaten freigeben" not in shown
    assert "wartet auf das Gesundheitsamt" in shown
    assert any("Rückfrage" in subject for _to, subject, _body in mails)

    clock.advance(dt.timedelta(hours=2))
    office_user = tenant.owner  # the service does not care who answers; the view checks it
    with app.test_request_context("/"):
        settings = get_settings()
        with pytest.raises(RequestValidationError):
            answer_trace_request(
                db_session, clock, settings, trace_request, answered_by=office_user, answer="\x07"
            )
        answer_trace_request(
            db_session, clock, settings, trace_request, answered_by=office_user, answer="Tisch 1"
        )
    db_session.expire_all()
    assert trace_request.state is State.REQUESTED
    assert trace_request.release_deadline > old_deadline
    assert [n.kind for n in trace_request.notes] == [
        TraceRequestNoteKind.QUESTION,
        TraceRequestNoteKind.ANSWER,
    ]
    assert _actions(db_session, trace_request)[-2:] == [
        "request.queried",
        "office.request.answered",
    ]
    with app.test_request_context("/"), pytest.raises(InvalidTransitionError):
        answer_trace_request(
            db_session,
            clock,
            settings,
            trace_request,
            answered_by=office_user,
            answer="nochmal",
        )
    shown = client.get(f"/portal/requests/{trace_request.id}").text
    assert "Tisch 1" in shown and "Gästedaten freigeben" in shown


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("Zeile 1\r\nZeile 2\tTab", True),
        ("  kurz  ", True),
        ("x" * NOTE_MAX, True),
        ("x" * (NOTE_MAX + 1), False),
        ("", False),
        ("\n\t ", False),
        ("a\x00b", False),
        ("a\x1bb", False),
        ("a\x7fb", False),
    ],
)
def test_note_texts_are_bounded_and_refuse_control_characters(text: str, ok: bool) -> None:
    if ok:
        assert note_text(text, "reason") == text.replace("\r\n", "\n").strip()
    else:
        with pytest.raises(RequestValidationError):
            note_text(text, "reason")


def test_a_queried_request_is_not_released_automatically(
    app: Flask,
    owner_client: tuple[FlaskClient, Tenant],
    make_trace_request: Callable[[Location], TraceRequest],
    db_session: Session,
    clock: FrozenClock,
    mails: Mails,
) -> None:
    from registration.tracing.jobs import run_request_jobs

    client, tenant = owner_client
    trace_request = make_trace_request(tenant.location)
    token = csrf_token(client.get(f"/portal/requests/{trace_request.id}").text)
    asked = client.post(
        f"/portal/requests/{trace_request.id}/query", data={"csrf_token": token, "question": "Wer?"}
    )
    assert asked.status_code == 303
    db_session.expire_all()
    with app.test_request_context("/"):
        automatic = Settings.from_mapping(
            {"auto_release_after_deadline": True}, base=get_settings()
        )
        clock.advance(dt.timedelta(hours=48))
        counts = run_request_jobs(db_session, clock, automatic)
    db_session.expire_all()
    assert counts["auto_released"] == 0 and trace_request.state is State.QUERIED
