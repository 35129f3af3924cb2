"""Mails about a trace request to the health office and to the business's owners.

A notice names the request, the office, the location and the window — never a visit.
It is sent after the step it reports is committed and audited: a mail that fails is
logged and does not undo the step, because both portals show the state anyway.
"""

from __future__ import annotations

import datetime as dt
import logging

from flask_babel import force_locale, format_datetime
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from registration.clock import to_berlin
from registration.config import Settings
from registration.mail import MailError, send_mail
from registration.models import HealthOffice, Role, TraceRequest, TraceRequestState, User

log = logging.getLogger("gastregister.tracing.notices")

State = TraceRequestState

_CHANGE_SUBJECTS = {
    State.REQUESTED: ("Neue Anfrage des Gesundheitsamts", "New request from the health office"),
    State.RELEASED: ("Anfrage freigegeben", "Request released"),
    State.DOWNLOADED: ("Daten heruntergeladen", "Data downloaded"),
    State.CLOSED: ("Anfrage abgeschlossen", "Request closed"),
    State.ABORTED: ("Anfrage zurückgezogen", "Request withdrawn"),
    State.EXPIRED: ("Anfrage abgelaufen", "Request expired"),
}


def _when(moment: object) -> str:
    if not isinstance(moment, dt.datetime):
        return ""
    return str(format_datetime(to_berlin(moment), "short"))


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]


# --- state changes, to both sides ------------------------------------------------------


def _mail_text(
    settings: Settings, trace_request: TraceRequest, state: State, audience: str
) -> tuple[str, str]:
    """Subject and body in German and English: mails also leave from background jobs,
    where no request tells the language. They name the request, never any visit."""
    german, english = _CHANGE_SUBJECTS[state]
    location = trace_request.location
    link = (
        f"{settings.public_base_url}/amt/requests/{trace_request.id}"
        if audience == "office"
        else f"{settings.public_base_url}/portal/"
    )
    subject = f"Gastregister: {german} / {english} (#{trace_request.id})"
    body = "\n".join(
        [
            f"{german} / {english}",
            "",
            f"Anfrage / Request: #{trace_request.id}",
            f"Gesundheitsamt / Health office: {trace_request.health_office.name}",
            f"Standort / Location: {location.name}, {location.zip_code} {location.city}",
            f"Zeitraum / Window: {to_berlin(trace_request.window_start):%Y-%m-%d %H:%M} - "
            f"{to_berlin(trace_request.window_end):%Y-%m-%d %H:%M} (Europe/Berlin)",
            f"Status / State: {state.value}",
            "",
            link,
        ]
    )
    return subject, body


def _send(settings: Settings, to: str, subject: str, body: str) -> None:
    try:
        send_mail(settings, to, subject, body)
    except MailError:
        # The state change is committed and audited; a lost notice must not undo it.
        log.warning("notice for a trace request could not be mailed")


def office_recipients(session: Session, trace_request: TraceRequest) -> list[str]:
    office: HealthOffice = trace_request.health_office
    recipients = {office.email} if office.email else set()
    requester = (
        session.get(User, trace_request.requested_by_id) if trace_request.requested_by_id else None
    )
    if requester is not None and requester.disabled_at is None:
        recipients.add(requester.email)
    return sorted(recipients)


def owner_recipients(session: Session, trace_request: TraceRequest) -> list[str]:
    business = trace_request.location.business
    recipients = {business.contact_email} if business.contact_email else set()
    recipients.update(
        member.email
        for member in business.members
        if member.role is Role.BUSINESS_OWNER and member.disabled_at is None
    )
    return sorted(recipients)


def notify_request_change(
    session: Session, settings: Settings, trace_request: TraceRequest, state: State
) -> None:
    """Mail the office and the owners about a change. A new request reaches each owner
    in their own language with the release deadline (`notify_owners_of_request`)."""
    subject, body = _mail_text(settings, trace_request, state, "office")
    for recipient in office_recipients(session, trace_request):
        _send(settings, recipient, subject, body)
    if state is State.REQUESTED:
        notify_owners_of_request(session, settings, trace_request)
        return
    subject, body = _mail_text(settings, trace_request, state, "owner")
    for recipient in owner_recipients(session, trace_request):
        _send(settings, recipient, subject, body)


# --- the owner's release: asked for, and given ------------------------------------------


def notify_owners_of_request(
    session: Session, settings: Settings, trace_request: TraceRequest
) -> int:
    """Mail every owner of the location's business that a request waits for their release.

    Returns how many mails went out. A failed mail is logged, not raised: the request
    exists either way and the owner's portal shows it.
    """
    location = trace_request.location
    owners = session.scalars(
        select(User).where(
            User.business_id == location.business_id,
            User.role == Role.BUSINESS_OWNER,
            User.disabled_at.is_(None),
        )
    ).all()
    link = settings.public_base_url.rstrip("/") + f"/portal/requests/{trace_request.id}"
    sent = 0
    for owner in owners:
        with force_locale(owner.language or "de"):
            subject = _(
                "Gastregister: the health office asks for the guest list of %(location)s",
                location=_one_line(location.name),
            )
            body = _(
                "%(office)s asks for the guest list of %(location)s from %(start)s to "
                "%(end)s (case %(reference)s).\n\nPlease check the request and release it "
                "by %(deadline)s:\n\n%(link)s\n\nThe data stays encrypted; only the health "
                "office can read it.",
                office=_one_line(trace_request.health_office.name),
                location=_one_line(location.name),
                start=_when(trace_request.window_start),
                end=_when(trace_request.window_end),
                reference=_one_line(trace_request.case_reference),
                deadline=_when(trace_request.release_deadline),
                link=link,
            )
        try:
            send_mail(settings, owner.email, subject, body)
        except MailError:
            log.warning("request notice to owner %s not sent", owner.id)
            continue
        sent += 1
    return sent


def notify_office_of_release(
    settings: Settings, trace_request: TraceRequest, *, automatic: bool
) -> None:
    """Tell the office (in German, its portal's language) that it can download the data."""
    office = trace_request.health_office
    if not office.email:
        return
    location = trace_request.location
    with force_locale("de"):
        subject = _(
            "Gastregister: request %(reference)s was released",
            reference=_one_line(trace_request.case_reference),
        )
        body = _(
            "The guest data for case %(reference)s (location %(location)s, "
            "%(start)s to %(end)s) was released %(how)s.\n\nYou can download the "
            "encrypted export in the health-office portal:\n\n%(link)s",
            reference=_one_line(trace_request.case_reference),
            location=_one_line(location.name),
            start=_when(trace_request.window_start),
            end=_when(trace_request.window_end),
            how=_("automatically after the deadline") if automatic else _("by the business"),
            link=settings.public_base_url.rstrip("/") + "/amt/",
        )
    try:
        send_mail(settings, office.email, subject, body)
    except MailError:
        log.warning("release notice to health office %s not sent", office.id)
