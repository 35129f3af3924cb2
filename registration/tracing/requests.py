"""Trace requests: how a health office asks for one location and one time window, and
which state may follow which.

The rules of the promise (docs/ARCHITECTURE.md, "The promise", 3) live here, not in the views: a case reference and a reason
are required, the window lies in the past and inside the retention period and is
no longer than `trace_window_max_days`, the location is in the office's
jurisdiction. States follow IRIS: requested → released → downloaded → closed, or
aborted / expired; every change is audited and mailed to both sides.

Besides releasing, the owner may decline a request (final, with a reason; IRIS calls
the end of such a request "aborted", here it stays told apart from the office's own
withdrawal) or ask back (queried, with a question). A queried request waits for the
office: its answer makes the request requested again with a fresh release deadline,
or the office withdraws it and, if need be, files a new one. The texts are notes on
the request (TraceRequestNote), never in the audit log, so retention can blank them
with the request's reason.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from registration.audit import record_event
from registration.clock import Clock
from registration.config import Settings
from registration.models import (
    Area,
    CheckIn,
    Location,
    TraceRequest,
    TraceRequestNote,
    TraceRequestNoteKind,
    TraceRequestState,
    User,
)
from registration.offices import location_in_jurisdiction, sealed_for_office
from registration.tracing.errors import (
    InvalidTransitionError,
    OutsideJurisdictionError,
    RequestValidationError,
)
from registration.tracing.notices import STATE_NAMES, notify_request_change

State = TraceRequestState

# Which state may follow which; anything else is refused with InvalidTransitionError.
TRANSITIONS: dict[State, frozenset[State]] = {
    State.REQUESTED: frozenset(
        {State.RELEASED, State.DECLINED, State.QUERIED, State.ABORTED, State.EXPIRED}
    ),
    State.QUERIED: frozenset({State.REQUESTED, State.ABORTED, State.EXPIRED}),
    State.DECLINED: frozenset(),
    State.RELEASED: frozenset({State.DOWNLOADED, State.CLOSED, State.ABORTED, State.EXPIRED}),
    State.DOWNLOADED: frozenset({State.CLOSED}),
    State.CLOSED: frozenset(),
    State.ABORTED: frozenset(),
    State.EXPIRED: frozenset(),
}
OPEN_STATES = (State.REQUESTED, State.QUERIED, State.RELEASED, State.DOWNLOADED)
CASE_REFERENCE_MAX = 100
REASON_MAX = 2000
NOTE_MAX = 1000
"""A decline reason, a question or an answer: a short message, not a letter."""
# Line breaks and tabs are text; every other control character (NUL included) is refused.
_NOTE_CONTROLS = frozenset(chr(code) for code in (*range(32), 127)) - {"\n", "\r", "\t"}


def change_state(trace_request: TraceRequest, to: State, now: dt.datetime) -> None:
    """Move a request to `to` and stamp the matching time column."""
    if to not in TRANSITIONS[trace_request.state]:
        raise InvalidTransitionError(
            _l(
                "This request is “%(state)s” and cannot change to “%(to)s”.",
                state=STATE_NAMES[trace_request.state],
                to=STATE_NAMES[to],
            )
        )
    trace_request.state = to
    stamp = {
        State.RELEASED: "released_at",
        State.DOWNLOADED: "downloaded_at",
        State.CLOSED: "closed_at",
        State.ABORTED: "aborted_at",
        State.EXPIRED: "expired_at",
        State.DECLINED: "declined_at",
    }.get(to)
    if stamp is not None:
        setattr(trace_request, stamp, now)


def office_request(session: Session, office_id: int, request_id: int) -> TraceRequest | None:
    """A request of this office; another office's request is None (the view answers 404)."""
    trace_request: TraceRequest | None = session.scalar(
        select(TraceRequest).where(
            TraceRequest.id == request_id, TraceRequest.health_office_id == office_id
        )
    )
    return trace_request


def office_requests(session: Session, office_id: int, *, limit: int = 200) -> list[TraceRequest]:
    return list(
        session.scalars(
            select(TraceRequest)
            .where(TraceRequest.health_office_id == office_id)
            .order_by(TraceRequest.created_at.desc(), TraceRequest.id.desc())
            .limit(limit)
        )
    )


def validate_window(
    clock: Clock, settings: Settings, window_start: dt.datetime, window_end: dt.datetime
) -> None:
    """The window is in the past, inside the retention period, and not too long."""
    now = clock.now()
    if window_start.tzinfo is None or window_end.tzinfo is None:
        raise RequestValidationError("window", _l("The time window needs a time zone."))
    if window_start >= window_end:
        raise RequestValidationError("window", _l("The window must end after it starts."))
    if window_end > now:
        raise RequestValidationError(
            "window", _l("The window lies in the future. Choose an end no later than now.")
        )
    earliest = now - dt.timedelta(days=settings.retention_days)
    if window_start < earliest:
        raise RequestValidationError(
            "window",
            _l(
                "The window starts before the retention period of %(days)s days: "
                "older visits have already been deleted.",
                days=settings.retention_days,
            ),
        )
    if window_end - window_start > dt.timedelta(days=settings.trace_window_max_days):
        raise RequestValidationError(
            "window",
            _l(
                "The window is too long: at most %(days)s days.",
                days=settings.trace_window_max_days,
            ),
        )


def _required_text(value: str, field: str, maximum: int, missing: object) -> str:
    text = " ".join(value.split()) if field == "case_reference" else value.strip()
    if not text:
        raise RequestValidationError(field, missing)
    if len(text) > maximum:
        raise RequestValidationError(
            field, _l("At most %(count)s characters, please.", count=maximum)
        )
    return text


def note_text(value: str, field: str) -> str:
    """A decline reason, question or answer as it is stored: trimmed, required, at most
    NOTE_MAX characters, no control characters other than line breaks and tabs."""
    text = value.replace("\r\n", "\n").strip()
    if not text:
        raise RequestValidationError(field, _l("Please write a short text."))
    if len(text) > NOTE_MAX:
        raise RequestValidationError(
            field, _l("At most %(count)s characters, please.", count=NOTE_MAX)
        )
    if any(character in _NOTE_CONTROLS for character in text):
        raise RequestValidationError(
            field, _l("The text contains characters that are not allowed.")
        )
    return text


def refuse_outside_jurisdiction(
    session: Session, clock: Clock, *, office_id: int, user: User, location_id: int
) -> OutsideJurisdictionError:
    """Audit an attempt to reach a location outside the jurisdiction, then commit.

    The attempt is logged even though nothing was created: asking for another
    office's locations is exactly what an auditor wants to see.
    """
    record_event(
        session,
        clock,
        action="office.request.refused",
        actor=user,
        health_office_id=office_id,
        details={"reason": "outside_jurisdiction", "location_id": location_id},
    )
    session.commit()
    return OutsideJurisdictionError()


def create_trace_request(
    session: Session,
    clock: Clock,
    settings: Settings,
    *,
    office_id: int,
    requested_by: User,
    location_id: int,
    window_start: dt.datetime,
    window_end: dt.datetime,
    case_reference: str,
    reason: str,
    area_ids: Sequence[int] = (),
) -> TraceRequest:
    """Record a request, audit it, commit, and tell both sides by mail."""
    location = location_in_jurisdiction(session, office_id, location_id)
    if location is None:
        raise refuse_outside_jurisdiction(
            session, clock, office_id=office_id, user=requested_by, location_id=location_id
        )
    case_reference = _required_text(
        case_reference,
        "case_reference",
        CASE_REFERENCE_MAX,
        _l("A case reference (Aktenzeichen) is required."),
    )
    reason = _required_text(reason, "reason", REASON_MAX, _l("A reason is required."))
    validate_window(clock, settings, window_start, window_end)
    areas = _chosen_areas(location, area_ids)
    now = clock.now()
    trace_request = TraceRequest(
        health_office_id=office_id,
        location_id=location.id,
        window_start=window_start.astimezone(dt.UTC),
        window_end=window_end.astimezone(dt.UTC),
        case_reference=case_reference,
        reason=reason,
        state=State.REQUESTED,
        requested_by_id=requested_by.id,
        created_at=now,
        release_deadline=now + dt.timedelta(hours=settings.release_deadline_hours),
        areas=areas,
    )
    session.add(trace_request)
    session.flush()
    _audit_created(session, clock, trace_request, requested_by, location)
    session.commit()
    notify_request_change(session, settings, trace_request, State.REQUESTED)
    return trace_request


def _chosen_areas(location: Location, area_ids: Sequence[int]) -> list[Area]:
    """The areas a request is narrowed to (none: the whole location); each must be the location's."""
    if not area_ids:
        return []
    wanted = set(area_ids)
    areas = [area for area in location.areas if area.id in wanted]
    if len(areas) != len(wanted):
        raise RequestValidationError("areas", _l("Choose only areas of this location."))
    return areas


def _audit_created(
    session: Session,
    clock: Clock,
    trace_request: TraceRequest,
    requested_by: User,
    location: Location,
) -> None:
    """The audit entry of a new request: what was asked for, never any contact data.

    The case reference is not in it. It names a person's case, so retention blanks it
    in the request row once the request has been finished for a retention period
    (retention.office_data.redact_finished_trace_requests), while audit entries stay
    for the much longer audit period. The entry names the request by its id instead,
    which is enough to find the reference while the request row keeps it. Leaving the
    reference out when the entry is written — rather than blanking it later — is what
    keeps the chain verifiable: an entry's hash covers its details, so editing them
    afterwards would break every later hash (registration.audit.verify_chain), while
    an entry that never held the reference is never edited. (Entries written before
    this change keep theirs until the audit period removes them, for the same reason.)
    """
    record_event(
        session,
        clock,
        action="office.request.created",
        actor=requested_by,
        health_office_id=trace_request.health_office_id,
        business_id=location.business_id,
        location_id=location.id,
        trace_request_id=trace_request.id,
        details={
            "window_start": trace_request.window_start.isoformat(),
            "window_end": trace_request.window_end.isoformat(),
            "areas": [area.code for area in trace_request.areas],
        },
    )


def _state_change(
    session: Session,
    clock: Clock,
    settings: Settings,
    trace_request: TraceRequest,
    to: State,
    *,
    actor: User | None,
    action: str,
    details: dict[str, object] | None = None,
    note: tuple[TraceRequestNoteKind, str] | None = None,
    change: object = None,
) -> TraceRequest:
    """One step of the state machine: change, note, audit, commit, then mail both sides."""
    change_state(trace_request, to, clock.now())
    if note is not None:
        kind, text = note
        trace_request.notes.append(
            TraceRequestNote(
                kind=kind,
                text=text,
                author_id=actor.id if actor else None,
                created_at=clock.now(),
            )
        )
    record_event(
        session,
        clock,
        action=action,
        actor=actor,
        health_office_id=trace_request.health_office_id,
        business_id=trace_request.location.business_id,
        location_id=trace_request.location_id,
        trace_request_id=trace_request.id,
        details=dict(details or {}),
    )
    session.commit()
    notify_request_change(session, settings, trace_request, to, change=change)
    return trace_request


def decline_trace_request(
    session: Session,
    clock: Clock,
    settings: Settings,
    trace_request: TraceRequest,
    *,
    declined_by: User,
    reason: str,
) -> TraceRequest:
    """The owner refuses to release (final); the office reads the reason on its page."""
    text = note_text(reason, "reason")
    return _state_change(
        session,
        clock,
        settings,
        trace_request,
        State.DECLINED,
        actor=declined_by,
        action="request.declined",
        note=(TraceRequestNoteKind.DECLINE_REASON, text),
    )


def query_trace_request(
    session: Session,
    clock: Clock,
    settings: Settings,
    trace_request: TraceRequest,
    *,
    asked_by: User,
    question: str,
) -> TraceRequest:
    """The owner asks the office back before releasing; the request waits for its answer
    and nothing is released automatically meanwhile."""
    text = note_text(question, "question")
    return _state_change(
        session,
        clock,
        settings,
        trace_request,
        State.QUERIED,
        actor=asked_by,
        action="request.queried",
        note=(TraceRequestNoteKind.QUESTION, text),
    )


def answer_trace_request(
    session: Session,
    clock: Clock,
    settings: Settings,
    trace_request: TraceRequest,
    *,
    answered_by: User,
    answer: str,
) -> TraceRequest:
    """The office answers a question back: the request waits for the release again, with
    a fresh deadline (the owner could not release while the question was open)."""
    text = note_text(answer, "answer")
    if trace_request.state is not State.QUERIED:
        raise InvalidTransitionError(_l("This request has no open question."))
    trace_request.release_deadline = clock.now() + dt.timedelta(
        hours=settings.release_deadline_hours
    )
    return _state_change(
        session,
        clock,
        settings,
        trace_request,
        State.REQUESTED,
        actor=answered_by,
        action="office.request.answered",
        note=(TraceRequestNoteKind.ANSWER, text),
        change=_l("The health office answered your question"),
    )


def abort_trace_request(
    session: Session,
    clock: Clock,
    settings: Settings,
    trace_request: TraceRequest,
    *,
    aborted_by: User,
) -> TraceRequest:
    """The office withdraws a request (before it downloaded anything)."""
    return _state_change(
        session,
        clock,
        settings,
        trace_request,
        State.ABORTED,
        actor=aborted_by,
        action="office.request.aborted",
    )


def close_trace_request(
    session: Session,
    clock: Clock,
    settings: Settings,
    trace_request: TraceRequest,
    *,
    closed_by: User,
) -> TraceRequest:
    """The office is done with the data; the package can no longer be downloaded."""
    return _state_change(
        session,
        clock,
        settings,
        trace_request,
        State.CLOSED,
        actor=closed_by,
        action="office.request.closed",
    )


def expire_trace_request(
    session: Session, clock: Clock, settings: Settings, trace_request: TraceRequest, *, why: str
) -> TraceRequest:
    return _state_change(
        session,
        clock,
        settings,
        trace_request,
        State.EXPIRED,
        actor=None,
        action="office.request.expired",
        details={"why": why},
    )


def matching_conditions(trace_request: TraceRequest) -> list[ColumnElement[bool]]:
    """The visits of a request (IRIS rule): arrival ≤ window end, departure ≥ window start.

    A guest who never checked out counts until the automatic departure. With areas
    chosen, only visits in those areas match. Only visits sealed for the asking office
    match: a location whose postal code changed holds records of two offices, and
    each office gets only its own (registration.offices.sealed_for_office).
    """
    departure = func.coalesce(CheckIn.departure, CheckIn.auto_departure)
    conditions: list[ColumnElement[bool]] = [
        CheckIn.location_id == trace_request.location_id,
        sealed_for_office(trace_request.health_office_id),
        CheckIn.arrival <= trace_request.window_end,
        departure >= trace_request.window_start,
    ]
    area_ids = [area.id for area in trace_request.areas]
    if area_ids:
        conditions.append(CheckIn.area_id.in_(area_ids))
    return conditions


def matching_checkins(trace_request: TraceRequest) -> Select[CheckIn]:
    """The matching visits in the order of the export package: arrival, then id."""
    return (
        select(CheckIn)
        .where(*matching_conditions(trace_request))
        .order_by(CheckIn.arrival, CheckIn.id)
    )


def count_matching(session: Session, trace_request: TraceRequest) -> int:
    return int(
        session.scalar(
            select(func.count()).select_from(CheckIn).where(*matching_conditions(trace_request))
        )
        or 0
    )
