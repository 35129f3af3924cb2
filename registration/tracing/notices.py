"""Mails about a trace request to the health office and to the business's owners.

A notice names the request, the office, the location and the window — never a visit.
It is sent after the step it reports is committed and audited: a mail that fails is
logged and does not undo the step, because both portals show the state anyway.

Each mail is a template under `tracing/mail/`, rendered per recipient in their
language: a user's stored language, German for the office's and the business's own
addresses (the portals' first language). Mails also leave from background jobs, where
no request tells the language, so it never comes from the current request.
"""

from __future__ import annotations

import logging
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from registration.clock import to_berlin
from registration.config import Settings
from registration.mail import MailError, public_url, render_mail, send_mail
from registration.models import HealthOffice, Role, TraceRequest, TraceRequestState, User

log = logging.getLogger("gastregister.tracing.notices")

State = TraceRequestState

OFFICE_LANGUAGE = "de"
"""The office has no stored language; its portal and its notices are German."""

_CHANGE_SUBJECTS = {
    State.REQUESTED: _l("New request from the health office"),
    State.RELEASED: _l("Request released"),
    State.DOWNLOADED: _l("Data downloaded"),
    State.CLOSED: _l("Request closed"),
    State.ABORTED: _l("Request withdrawn"),
    State.EXPIRED: _l("Request expired"),
    State.DECLINED: _l("Request declined by the business"),
    State.QUERIED: _l("The business has a question about the request"),
}
STATE_NAMES = {
    State.REQUESTED: _l("waiting for the release"),
    State.RELEASED: _l("released"),
    State.DOWNLOADED: _l("downloaded"),
    State.CLOSED: _l("closed"),
    State.ABORTED: _l("withdrawn by the health office"),
    State.EXPIRED: _l("expired"),
    State.DECLINED: _l("declined by the business"),
    State.QUERIED: _l("question from the business, waiting for the health office"),
}
"""A state as a mail names it, in the recipient's language: never the stored code."""


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]


def _render(template: str, language: str, **context: Any) -> tuple[str, str]:
    return render_mail(f"tracing/mail/{template}.txt", language, context)


# --- state changes, to both sides ------------------------------------------------------


def _change_mail(
    settings: Settings,
    trace_request: TraceRequest,
    state: State,
    audience: str,
    language: str,
    change: object = None,
) -> tuple[str, str]:
    """Subject and body of a state change; the office's link opens the request, the
    owner's the business portal (the office routes are the office side's: by name only)."""
    location = trace_request.location
    link = (
        public_url(settings, "office.request_detail", request_id=trace_request.id)
        if audience == "office"
        else public_url(settings, "portal.dashboard")
    )
    return _render(
        "request_change",
        language,
        change=change or _CHANGE_SUBJECTS[state],
        request_id=trace_request.id,
        office=trace_request.health_office.name,
        location=f"{location.name}, {location.zip_code} {location.city}",
        window_start=f"{to_berlin(trace_request.window_start):%Y-%m-%d %H:%M}",
        window_end=f"{to_berlin(trace_request.window_end):%Y-%m-%d %H:%M}",
        state=STATE_NAMES[state],
        link=link,
    )


def _send(settings: Settings, to: str, subject: str, body: str) -> None:
    try:
        send_mail(settings, to, subject, body)
    except MailError:
        # The state change is committed and audited; a lost notice must not undo it.
        log.warning("notice for a trace request could not be mailed")


def office_recipients(session: Session, trace_request: TraceRequest) -> dict[str, str]:
    """Address → language: the office's own address, and the user who asked."""
    office: HealthOffice = trace_request.health_office
    recipients = {office.email: OFFICE_LANGUAGE} if office.email else {}
    requester = (
        session.get(User, trace_request.requested_by_id) if trace_request.requested_by_id else None
    )
    if requester is not None and requester.disabled_at is None:
        recipients[requester.email] = requester.language
    return dict(sorted(recipients.items()))


def owner_recipients(session: Session, trace_request: TraceRequest) -> dict[str, str]:
    """Address → language: the business's contact address, and every active owner."""
    business = trace_request.location.business
    recipients = {business.contact_email: OFFICE_LANGUAGE} if business.contact_email else {}
    recipients.update(
        (member.email, member.language)
        for member in business.members
        if member.role is Role.BUSINESS_OWNER and member.disabled_at is None
    )
    return dict(sorted(recipients.items()))


def notify_request_change(
    session: Session,
    settings: Settings,
    trace_request: TraceRequest,
    state: State,
    *,
    change: object = None,
) -> None:
    """Mail the office and the owners about a change. A new request reaches each owner
    with the release deadline instead (`notify_owners_of_request`); `change` names a
    step whose new state alone would not (an answer makes a request `requested` again)."""
    for recipient, language in office_recipients(session, trace_request).items():
        _send(
            settings,
            recipient,
            *_change_mail(settings, trace_request, state, "office", language, change),
        )
    if state is State.REQUESTED and change is None:
        notify_owners_of_request(session, settings, trace_request)
        return
    for recipient, language in owner_recipients(session, trace_request).items():
        _send(
            settings,
            recipient,
            *_change_mail(settings, trace_request, state, "owner", language, change),
        )


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
    link = public_url(settings, "portal.trace_request", request_id=trace_request.id)
    sent = 0
    for owner in owners:
        subject, body = _render(
            "owner_request",
            owner.language or OFFICE_LANGUAGE,
            office=_one_line(trace_request.health_office.name),
            location=_one_line(location.name),
            window_start=trace_request.window_start,
            window_end=trace_request.window_end,
            reference=_one_line(trace_request.case_reference),
            deadline=trace_request.release_deadline,
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
    subject, body = _render(
        "office_release",
        OFFICE_LANGUAGE,
        reference=_one_line(trace_request.case_reference),
        location=_one_line(trace_request.location.name),
        window_start=trace_request.window_start,
        window_end=trace_request.window_end,
        automatic=automatic,
        link=public_url(settings, "office.dashboard"),
    )
    try:
        send_mail(settings, office.email, subject, body)
    except MailError:
        log.warning("release notice to health office %s not sent", office.id)
