"""Account mails that leave after the response has gone out.

A stranger can ask for a reset link, a sign-up or a new verification link for any
address. If the mail left during the request, the SMTP round trip would make the
answer for an existing account slower than for an unknown one, and the response time
would tell which addresses have an account. So these mails are rendered during the
request and handed to the WSGI server's close hook (`Response.call_on_close`), which
gunicorn and the development server call after the last byte of the response was
sent. A mail that fails then is logged (registration.mail), not shown: the page
says the same either way. Outside a request (CLI, worker) the mail is sent at once.
"""

from __future__ import annotations

import logging
from functools import partial

from flask import g, has_request_context
from werkzeug.wrappers import Response

from registration.config import Settings
from registration.mail import MailError, send_mail

log = logging.getLogger("gastregister.accounts.mail")

_PENDING = "accounts_mail_after_response"

Mail = tuple[Settings, str, str, str]


def send_after_response(settings: Settings, to: str, subject: str, body: str) -> None:
    """Send this mail once the response has left (at once outside a request)."""
    if not has_request_context():
        send_mail(settings, to, subject, body)
        return
    pending: list[Mail] = g.setdefault(_PENDING, [])
    pending.append((settings, to, subject, body))


def _deliver(mails: list[Mail]) -> None:
    for settings, to, subject, body in mails:
        try:
            send_mail(settings, to, subject, body)
        except MailError:
            log.warning("an account mail could not be sent after the response")


def hand_over_to_server(response: Response) -> Response:
    """`after_app_request` hook: the mails of this request leave when the response is closed."""
    pending: list[Mail] | None = g.pop(_PENDING, None)
    if pending:
        response.call_on_close(partial(_deliver, pending))
    return response
