"""A reset request for a known and for an unknown address costs the same: the same
steps run, and no mail leaves while the request is still being answered (an SMTP
round trip would show in the response time). Counted, never timed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.wrappers import Response

from registration.accounts import deferred_mail, services, tokens
from registration.config import Settings
from registration.mail import MailError
from registration.models import User
from tests.forms import post_form
from tests.registration.accounts.account_helpers import Outbox


def _counting(calls: list[str], name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(name)
        return function(*args, **kwargs)

    return counted


def test_reset_for_a_known_and_an_unknown_address_runs_the_same_steps(
    client: FlaskClient,
    outbox: Outbox,
    make_user: Callable[..., User],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user = make_user()
    calls: list[str] = []
    for module, name in [
        (services, "find_user"),
        (services, "hash_password"),
        (services, "render_mail"),
        (tokens, "issue_token"),
    ]:
        monkeypatch.setattr(module, name, _counting(calls, name, getattr(module, name)))

    assert post_form(client, "/konto/reset", {"email": user.email}).status_code == 200
    known, calls[:] = list(calls), []
    assert post_form(client, "/konto/reset", {"email": "nobody@example.org"}).status_code == 200
    unknown = list(calls)

    assert sorted(known) == sorted(unknown)
    assert [mail.to for mail in outbox.mails] == [user.email]
    assert not any(mail.during_request for mail in outbox.mails)


def test_queued_mails_leave_when_the_server_closes_the_response(
    app: Flask,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sent: list[str] = []

    def refusing_send(_settings: object, to: str, subject: str, body: str) -> None:
        sent.append(to)
        if to == "refused@example.org":
            raise MailError("the server said no")

    monkeypatch.setattr(deferred_mail, "send_mail", refusing_send)
    with app.test_request_context("/konto/reset", method="POST"):
        deferred_mail.send_after_response(settings, "refused@example.org", "s", "b")
        deferred_mail.send_after_response(settings, "owner@example.org", "s", "b")
        response = deferred_mail.hand_over_to_server(Response("ok"))
        assert sent == []
    response.close()
    assert sent == ["refused@example.org", "owner@example.org"]  # one refusal stops no other
    assert "could not be sent" in caplog.text

    with app.app_context():  # outside a request (CLI, worker): at once
        deferred_mail.send_after_response(settings, "cli@example.org", "s", "b")
    assert sent[-1] == "cli@example.org"
