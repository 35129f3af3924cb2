"""Outgoing mail over SMTP, or printed to the console in the demo.

Mails carry notices and links only (a request arrived, a link to verify an address),
never contact data.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
import sys
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

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


def send_mail(settings: Settings, to: str, subject: str, body: str) -> None:
    """Send one plain-text mail; raises MailError when the server refuses it."""
    if "\n" in to or "\r" in to or "\n" in subject or "\r" in subject:
        raise MailError("header injection refused")
    message = build_message(settings, to, subject, body)
    if settings.mail_to_console or not settings.mail_server:
        sys.stdout.write(f"\n----- mail (console) -----\n{message}\n----- end of mail -----\n")
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
