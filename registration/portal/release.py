"""The owner's half of a health-office request: the notice mail and the release.

The release is an authorisation step on the server (BRIEF: no second key that an
owner could lose). The health-office side calls `release_trace_request` too, with
`automatic=True`, when the configured deadline passed without an answer, and
`notify_owners_of_request` right after a request was created.
"""

from __future__ import annotations

import datetime as dt
import logging

from flask_babel import force_locale, format_datetime
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from health_export.packages import build_export_package
from registration.audit import record_event
from registration.clock import Clock, to_berlin
from registration.config import Settings
from registration.mail import MailError, send_mail
from registration.models import Role, TraceRequest, TraceRequestState, User
from registration.portal.errors import ReleaseNotPossibleError

log = logging.getLogger("gastregister.portal.release")


def _when(moment: object) -> str:
    if not isinstance(moment, dt.datetime):
        return ""
    return str(format_datetime(to_berlin(moment), "short"))


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]


def release_trace_request(
    session: Session,
    clock: Clock,
    settings: Settings,
    trace_request: TraceRequest,
    *,
    released_by: User | None,
    automatic: bool = False,
) -> TraceRequest:
    """Mark a waiting request as released, audit it, commit, then tell the health office.

    Raises ReleaseNotPossibleError unless the request is waiting (state `requested`):
    a second click or a release after an abort changes nothing. The mail is a notice
    only; when it fails the release still stands and the office sees it in its portal.
    """
    if trace_request.state != TraceRequestState.REQUESTED:
        raise ReleaseNotPossibleError
    now = clock.now()
    trace_request.state = TraceRequestState.RELEASED
    trace_request.released_at = now
    trace_request.released_by_id = released_by.id if released_by else None
    location = trace_request.location
    record_event(
        session,
        clock,
        action="request.released",
        actor=released_by,
        actor_label="" if released_by else "system: release deadline passed",
        health_office_id=trace_request.health_office_id,
        business_id=location.business_id,
        location_id=location.id,
        trace_request_id=trace_request.id,
        details={"automatic": automatic},
    )
    # Sealed together with the release: visits that retention deletes before the
    # office's first download are not lost to the request.
    build_export_package(session, clock, settings, trace_request)
    session.commit()
    office = trace_request.health_office
    if office.email:
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
    return trace_request


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
