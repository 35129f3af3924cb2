"""Staff entry: paper forms typed in by staff, sealed in their browser.

The times are put into words here from the check-in storage's own rules, and the
entry is stored with its audit event in one transaction.
"""

from __future__ import annotations

import datetime as dt

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from registration.audit import record_event
from registration.checkin.lookup import AreaTarget
from registration.checkin.rules import DepartureProblem, arrival_window, departure_problem
from registration.checkin.storage import CheckInReceipt, store_checkin
from registration.clock import Clock
from registration.config import Settings
from registration.models import Area, CheckInSource, User
from registration.request_guard import berlin_moment


def parse_local_time(text: object) -> dt.datetime | None:
    """'2026-11-20T19:30' typed in Europe/Berlin → aware UTC; None when it is not such a
    time or has no UTC form (registration.request_guard.berlin_moment)."""
    return berlin_moment(text)


def check_staff_entry_times(
    clock: Clock,
    settings: Settings,
    arrival: dt.datetime | None,
    departure: dt.datetime | None,
    *,
    departure_given: bool,
) -> dict[str, str]:
    """Reasons by field ('arrival', 'departure') why typed-in times cannot be stored.

    The rule is the storage's (arrival_window, departure_problem), so the page refuses
    exactly what store_checkin would; here it is only put into words for staff.
    """
    problems: dict[str, str] = {}
    earliest, latest = arrival_window(clock.now(), settings, CheckInSource.STAFF_ENTRY)
    if arrival is None:
        problems["arrival"] = _("Please enter the arrival as date and time.")
    elif arrival > latest:
        problems["arrival"] = _("The arrival cannot be in the future.")
    elif arrival < earliest:
        problems["arrival"] = _(
            "The arrival must lie within the last %(days)s days.", days=settings.retention_days
        )
    if departure_given and departure is None:
        problems["departure"] = _("Please enter the departure as date and time.")
    elif departure is not None and arrival is not None:
        problem = departure_problem(arrival, departure)
        if problem is DepartureProblem.NOT_AFTER_ARRIVAL:
            problems["departure"] = _("The departure must be after the arrival.")
        elif problem is DepartureProblem.TOO_LONG:
            problems["departure"] = _("A visit can last at most 24 hours.")
    return problems


def store_staff_entry(
    session: Session,
    clock: Clock,
    settings: Settings,
    *,
    by: User,
    area: Area,
    envelope: bytes,
    persons: int,
    arrival: dt.datetime,
    departure: dt.datetime | None,
    idempotency_key: str,
) -> CheckInReceipt:
    """Store a typed-in paper form and its audit event together: both or neither.

    The audit log names every staff entry (who typed in a visit, and for how many),
    so the event is written inside the storing transaction (store_checkin's
    on_created); a retry stores nothing and records nothing.
    """
    location = area.location

    def record_staff_entry() -> None:
        record_event(
            session,
            clock,
            action="checkin.staff_entry",
            actor=by,
            business_id=location.business_id,
            location_id=location.id,
            details={"persons": persons},
        )

    return store_checkin(
        session,
        clock,
        settings,
        target=AreaTarget.of(area),
        envelope=envelope,
        persons=persons,
        source=CheckInSource.STAFF_ENTRY,
        arrival=arrival,
        departure=departure,
        idempotency_key=idempotency_key,
        on_created=record_staff_entry,
    )
