"""Outgoing mail over SMTP, or printed to the console in the demo.

Mails carry notices and links only (a request arrived, a link to verify an address),
never contact data. Each mail is a plain-text Jinja template with a `subject` and a
`body` block, rendered in the recipient's language (`render_mail`); links in it come
from `public_url`, so they name the configured public address and the routes' own
URLs, whether the mail leaves during a request or from the maintenance worker.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
import sys
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import force_locale
from jinja2 import Environment

from registration.config import Settings

log = logging.getLogger("gastregister.mail")

MAX_ADDRESS_LENGTH = 254
_ADDRESS = re.compile(
    r"^[^@\s\x00-\x1f\x7f]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}\.)+[A-Za-z0-9-]{2,63}$"
)


def normalise_address(raw: str) -> str:
    """The one spelling of an address we store and compare (accounts, offices)."""
    return raw.strip().lower()


def is_plausible_address(address: str) -> bool:
    """One rule for every address we will mail to, so no caller keeps a looser copy."""
    return len(address) <= MAX_ADDRESS_LENGTH and _ADDRESS.match(address) is not None


class MailError(RuntimeError):
    """The mail server could not take the message."""


def build_message(settings: Settings, to: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="gastregister.invalid")
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(body)
    return message


# The headers a person reads; the MIME ones describe an encoding the console text lacks.
_CONSOLE_HEADERS = ("From", "To", "Subject", "Date", "Message-ID")


def console_text(message: EmailMessage) -> str:
    """A demo mail as a person reads it: headers and the plain-text body decoded.

    The wire form is quoted-printable: it breaks long lines with "=" and writes "=" as
    "=3D", so a verification link copied from it would not work.
    """
    headers = "".join(f"{name}: {message[name]}\n" for name in _CONSOLE_HEADERS if name in message)
    body = message.get_content()
    return f"\n----- mail (console) -----\n{headers}\n{body}----- end of mail -----\n"


def send_mail(settings: Settings, to: str, subject: str, body: str) -> None:
    """Send one plain-text mail; raises MailError when the server refuses it."""
    if "\n" in to or "\r" in to or "\n" in subject or "\r" in subject:
        raise MailError("header injection refused")
    message = build_message(settings, to, subject, body)
    # Never in production (Settings.validate refuses console mail there, and this holds
    # even if it did not): a printed mail would put its link, a credential, into the log.
    if not settings.is_production and (settings.mail_to_console or not settings.mail_server):
        sys.stdout.write(console_text(message))
        sys.stdout.flush()
        return
    try:
        with smtplib.SMTP(settings.mail_server, settings.mail_port, timeout=10) as smtp:
            if settings.mail_use_tls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.mail_username:
                smtp.login(settings.mail_username, settings.mail_password)
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("mail to the SMTP server failed: %s", type(exc).__name__)
        raise MailError("mail could not be sent") from exc


def public_url(settings: Settings, endpoint: str, **values: Any) -> str:
    """The absolute URL of a route at the configured public address, for a mail.

    Never the request's Host: a forged Host header would otherwise put a stranger's
    domain into a reset link. It also works outside any request (the worker sends
    notices), where `url_for(_external=True)` would need SERVER_NAME, which would make
    Flask answer to that one host name only.
    """
    base = urlsplit(settings.public_base_url)
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path or "/", url_scheme=base.scheme
    )
    current_app.inject_url_defaults(endpoint, values)
    return adapter.build(endpoint, values, force_external=True)


def _text_templates() -> Environment:
    """The app's templates without HTML escaping: a mail is plain text, and a business
    called "Müller & Söhne" must not arrive as "Müller &amp; Söhne"."""
    environment: Environment | None = current_app.extensions.get("gastregister.mail_templates")
    if environment is None:
        environment = current_app.jinja_env.overlay(autoescape=False)
        current_app.extensions["gastregister.mail_templates"] = environment
    return environment


def render_mail(template_name: str, language: str, context: Mapping[str, Any]) -> tuple[str, str]:
    """Subject and body of one mail, rendered in the recipient's language."""
    with force_locale(language):
        template = _text_templates().get_template(template_name)
        rendered = template.new_context(dict(context))
        subject = "".join(template.blocks["subject"](rendered))
        body = "".join(template.blocks["body"](rendered))
    return " ".join(subject.split()), body.strip("\n") + "\n"
