"""Trace requests: validation, jurisdiction, matching (IRIS rule), states, jobs."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from registration.audit import all_events, verify_chain
from registration.config import Settings
from registration.models import AuditEvent, TraceRequest, TraceRequestState
from registration.offices import search_locations
from registration.portal.locations import LocationDetails, update_location
from registration.tracing.errors import (
    InvalidTransitionError,
    OutsideJurisdictionError,
    RequestValidationError,
)
from registration.tracing.jobs import run_request_jobs
from registration.tracing.packages import current_package
from registration.tracing.release import release_trace_request
from registration.tracing.requests import (
    abort_trace_request,
    close_trace_request,
    count_matching,
    create_trace_request,
    matching_checkins,
)
from tests import factories

H = dt.timedelta(hours=1)
pytestmark = pytest.mark.usefixtures("request_context")


def _request(
    db_session: Session, clock: Any, settings: Settings, office: Any, location: Any, **changes: Any
) -> TraceRequest:
    now = clock.now()
    values: dict[str, Any] = {
        "office_id": office.office.id,
        "requested_by": office.staff,
        "location_id": location.location.id,
        "window_start": now - 6 * H,
        "window_end": now - 2 * H,
        "case_reference": "AZ 2026/4711",
        "reason": "Index case visited the location",
    }
    values.update(changes)
    return create_trace_request(db_session, clock, settings, **values)


@pytest.fixture
def scene(make_office: Any, make_location: Any) -> tuple[Any, Any]:
    office = make_office()
    location = make_location(office.office)
    return office, location


def test_a_valid_request_is_recorded_audited_and_mailed_to_both_sides(
    db_session: Session,
    clock: Any,
    settings: Settings,
    scene: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    office, location = scene
    trace_request = _request(db_session, clock, settings, office, location)
    assert trace_request.state is TraceRequestState.REQUESTED
    assert trace_request.release_deadline == clock.now() + dt.timedelta(
        hours=settings.release_deadline_hours
    )
    event = db_session.scalar(
        select(AuditEvent).where(AuditEvent.action == "office.request.created")
    )
    assert event is not None and event.trace_request_id == trace_request.id
    assert "AZ 2026/4711" not in json.dumps(event.details)  # in the request row only
    mails = capsys.readouterr().out
    assert f"To: {office.office.email}" in mails
    assert f"To: {location.owner.email}" in mails


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        (-2 * H, +1 * H, "window"),  # reaches into the future
        (-30 * 24 * H, -29 * 24 * H, "window"),  # before the 28-day retention period
        (-16 * 24 * H, -1 * H, "window"),  # longer than 14 days
        (-1 * H, -2 * H, "window"),  # ends before it starts
    ],
)
def test_windows_outside_the_rules_are_refused(
    db_session: Session,
    clock: Any,
    settings: Settings,
    scene: Any,
    start: dt.timedelta,
    end: dt.timedelta,
    field: str,
) -> None:
    office, location = scene
    now = clock.now()
    with pytest.raises(RequestValidationError) as caught:
        _request(
            db_session,
            clock,
            settings,
            office,
            location,
            window_start=now + start,
            window_end=now + end,
        )
    assert caught.value.field == field
    assert str(caught.value)


def test_the_window_cap_follows_the_setting(
    db_session: Session, clock: Any, settings: Settings, scene: Any
) -> None:
    office, location = scene
    now = clock.now()
    short = Settings.from_mapping({"trace_window_max_days": 1}, base=settings)
    with pytest.raises(RequestValidationError, match="1"):
        _request(
            db_session,
            clock,
            short,
            office,
            location,
            window_start=now - 30 * H,
            window_end=now - H,
        )
    assert _request(
        db_session, clock, short, office, location, window_start=now - 24 * H, window_end=now
    )


@pytest.mark.parametrize(
    ("field", "value"), [("case_reference", "   "), ("reason", ""), ("case_reference", "x" * 101)]
)
def test_case_reference_and_reason_are_required(
    db_session: Session, clock: Any, settings: Settings, scene: Any, field: str, value: str
) -> None:
    office, location = scene
    with pytest.raises(RequestValidationError) as caught:
        _request(db_session, clock, settings, office, location, **{field: value})
    assert caught.value.field == field


def test_a_location_outside_the_jurisdiction_is_refused_and_audited(
    db_session: Session, clock: Any, settings: Settings, make_office: Any, make_location: Any
) -> None:
    office = make_office()
    other = make_office("Gesundheitsamt Anderswo", "20095")
    foreign = make_location(other.office, zip_code="20095")
    with pytest.raises(OutsideJurisdictionError):
        _request(db_session, clock, settings, office, foreign)
    assert db_session.scalar(select(TraceRequest)) is None
    refused = db_session.scalar(
        select(AuditEvent).where(AuditEvent.action == "office.request.refused")
    )
    assert refused is not None
    assert refused.health_office_id == office.office.id
    assert refused.details["location_id"] == foreign.location.id


def test_a_location_without_office_falls_to_the_office_of_its_postal_code(
    db_session: Session, clock: Any, settings: Settings, make_office: Any, make_location: Any
) -> None:
    office = make_office()
    orphan = make_location(None, zip_code=office.postal_code)
    assert _request(db_session, clock, settings, office, orphan).location_id == orphan.location.id
    elsewhere = make_location(None, zip_code="99990")
    with pytest.raises(OutsideJurisdictionError):
        _request(db_session, clock, settings, office, elsewhere)


def test_areas_must_belong_to_the_location(
    db_session: Session, clock: Any, settings: Settings, scene: Any, make_location: Any
) -> None:
    office, location = scene
    other = make_location(office.office, name="Nebenan")
    with pytest.raises(RequestValidationError) as caught:
        _request(db_session, clock, settings, office, location, area_ids=[other.areas[0].id])
    assert caught.value.field == "areas"


def test_matching_follows_the_iris_rule_at_its_boundaries(
    db_session: Session, clock: Any, settings: Settings, scene: Any, make_location: Any
) -> None:
    office, location = scene
    terrace, hall = location.areas
    now = clock.now()
    start, end = now - 6 * H, now - 2 * H
    visits = {
        "arrives_at_end": factories.build_checkin(
            terrace, office.key, arrival=end, departure=end + H
        ),
        "leaves_at_start": factories.build_checkin(
            terrace, office.key, arrival=start - H, departure=start
        ),
        "auto_departure_inside": factories.build_checkin(
            hall, office.key, arrival=start - H, stay=2 * H
        ),
        "spans_window": factories.build_checkin(
            hall, office.key, arrival=start - H, departure=end + H
        ),
    }
    excluded = {
        "left_before": factories.build_checkin(
            terrace,
            office.key,
            arrival=start - 2 * H,
            departure=start - dt.timedelta(seconds=1),
        ),
        "arrived_after": factories.build_checkin(
            terrace, office.key, arrival=end + dt.timedelta(seconds=1), departure=end + H
        ),
        "auto_departure_before": factories.build_checkin(
            hall, office.key, arrival=start - 3 * H, stay=2 * H
        ),
    }
    neighbour = make_location(office.office, name="Nebenan")
    excluded["other_location"] = factories.build_checkin(
        neighbour.areas[0], office.key, arrival=start, departure=end
    )
    db_session.add_all([*visits.values(), *excluded.values()])
    db_session.commit()
    trace_request = _request(
        db_session, clock, settings, office, location, window_start=start, window_end=end
    )
    found = {checkin.id for checkin in db_session.scalars(matching_checkins(trace_request))}
    assert found == {checkin.id for checkin in visits.values()}
    assert count_matching(db_session, trace_request) == 4
    only_hall = _request(
        db_session,
        clock,
        settings,
        office,
        location,
        window_start=start,
        window_end=end,
        area_ids=[hall.id],
    )
    found_hall = {checkin.id for checkin in db_session.scalars(matching_checkins(only_hall))}
    assert found_hall == {visits["auto_departure_inside"].id, visits["spans_window"].id}


def test_states_move_only_along_the_allowed_paths(
    db_session: Session, clock: Any, settings: Settings, scene: Any
) -> None:
    office, location = scene
    trace_request = _request(db_session, clock, settings, office, location)
    with pytest.raises(InvalidTransitionError):
        close_trace_request(db_session, clock, settings, trace_request, closed_by=office.staff)
    abort_trace_request(db_session, clock, settings, trace_request, aborted_by=office.staff)
    assert trace_request.state is TraceRequestState.ABORTED
    assert trace_request.aborted_at == clock.now()
    with pytest.raises(InvalidTransitionError):
        abort_trace_request(db_session, clock, settings, trace_request, aborted_by=office.staff)
    assert verify_chain(all_events(db_session)).intact


def test_jobs_release_after_the_deadline_only_when_enabled(
    db_session: Session, clock: Any, settings: Settings, scene: Any
) -> None:
    office, location = scene
    db_session.add(
        factories.build_checkin(location.areas[0], office.key, arrival=clock.now() - 5 * H)
    )
    db_session.commit()
    trace_request = _request(db_session, clock, settings, office, location)
    clock.advance(dt.timedelta(hours=settings.release_deadline_hours, seconds=1))
    assert run_request_jobs(db_session, clock, settings)["auto_released"] == 0
    assert trace_request.state is TraceRequestState.REQUESTED
    automatic = Settings.from_mapping({"auto_release_after_deadline": True}, base=settings)
    counts = run_request_jobs(db_session, clock, automatic)
    assert counts["auto_released"] == 1
    assert trace_request.state is TraceRequestState.RELEASED
    assert trace_request.packages and trace_request.packages[0].record_count == 1
    released = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "request.released"))
    assert released is not None and released.details == {"automatic": True}


def test_jobs_expire_unreleased_requests_and_close_downloaded_ones(
    db_session: Session, clock: Any, settings: Settings, scene: Any
) -> None:
    from registration.tracing.packages import download_package
    from registration.tracing.release import release_trace_request

    office, location = scene
    waiting = _request(db_session, clock, settings, office, location)
    downloaded = _request(db_session, clock, settings, office, location)
    release_trace_request(db_session, clock, settings, downloaded, released_by=location.owner)
    download_package(db_session, clock, settings, downloaded, user=office.staff)
    assert downloaded.state is TraceRequestState.DOWNLOADED
    clock.advance(dt.timedelta(days=settings.retention_days))
    counts = run_request_jobs(db_session, clock, settings)
    assert counts == {"auto_released": 0, "expired": 1, "closed": 1}
    assert waiting.state is TraceRequestState.EXPIRED
    assert downloaded.state is TraceRequestState.CLOSED
    assert run_request_jobs(db_session, clock, settings) == {
        "auto_released": 0,
        "expired": 0,
        "closed": 0,
    }


def _move(db_session: Session, clock: Any, place: Any, zip_code: str) -> None:
    """The owner changes the location's postal code in the portal (the service it calls)."""
    location = place.location
    update_location(
        db_session,
        clock,
        location,
        changed_by=place.owner,
        details=LocationDetails(
            name=location.name,
            street=location.street,
            house_number=location.house_number,
            zip_code=zip_code,
            city=location.city,
            default_stay_minutes=location.default_stay_minutes,
            capacity=location.capacity,
            checkin_mode=location.checkin_mode,
        ),
    )


def test_a_postal_code_change_leaves_past_visits_with_the_office_they_were_sealed_for(
    db_session: Session, clock: Any, settings: Settings, make_office: Any, make_location: Any
) -> None:
    """A changed postal code moved every stored visit to the new office: it could ask
    for and download records sealed to the old one (times, persons, areas), while the
    old office's request was refused as outside its jurisdiction."""
    old = make_office("Gesundheitsamt Alt", "10115")
    new = make_office("Gesundheitsamt Neu", "20095")
    place = make_location(old.office, zip_code="10115")
    now = clock.now()
    sealed_to_old = factories.checkin(db_session, place.areas[0], old.key, arrival=now - 5 * H)
    db_session.commit()
    _move(db_session, clock, place, "20095")
    assert place.location.health_office_id == new.office.id
    sealed_to_new = factories.checkin(db_session, place.areas[0], new.key, arrival=now - 3 * H)
    db_session.commit()
    window = {"window_start": now - 6 * H, "window_end": now - 1 * H}

    asked_by_new = _request(db_session, clock, settings, new, place, **window)
    assert count_matching(db_session, asked_by_new) == 1
    release_trace_request(db_session, clock, settings, asked_by_new, released_by=place.owner)
    package = current_package(db_session, asked_by_new)
    assert package is not None and package.record_count == 1
    assert new.key_id.encode() in package.content and old.key_id.encode() not in package.content

    asked_by_old = _request(db_session, clock, settings, old, place, **window)
    assert [c.id for c in db_session.scalars(matching_checkins(asked_by_old))] == [sealed_to_old.id]
    assert sealed_to_new.id not in {
        c.id for c in db_session.scalars(matching_checkins(asked_by_old))
    }
    assert [found.id for found in search_locations(db_session, old.office.id, "Café")] == [
        place.location.id
    ]


def test_a_location_without_visits_sealed_to_an_office_is_not_in_its_jurisdiction(
    db_session: Session, clock: Any, settings: Settings, make_office: Any, make_location: Any
) -> None:
    old = make_office("Gesundheitsamt Alt", "10115")
    make_office("Gesundheitsamt Neu", "20095")
    place = make_location(old.office, zip_code="10115")
    _move(db_session, clock, place, "20095")
    with pytest.raises(OutsideJurisdictionError):
        _request(db_session, clock, settings, old, place)


def test_case_references_stay_out_of_the_audit_log(
    db_session: Session, clock: Any, settings: Settings, scene: Any
) -> None:
    """Retention blanks a finished request's case reference after its period; the audit
    log, kept for 1,095 days, held a copy in `details` of its creation entry."""
    office, location = scene
    asked = _request(db_session, clock, settings, office, location, case_reference="AZ 77/Geheim")
    abort_trace_request(db_session, clock, settings, asked, aborted_by=office.staff)
    refused_elsewhere = _request(
        db_session, clock, settings, office, location, case_reference="AZ 78/Geheim"
    )
    release_trace_request(
        db_session, clock, settings, refused_elsewhere, released_by=location.owner
    )
    close_trace_request(db_session, clock, settings, refused_elsewhere, closed_by=office.staff)
    events = list(all_events(db_session))
    assert {event.action for event in events} >= {
        "office.request.created",
        "office.request.aborted",
        "request.released",
        "office.package.built",
        "office.request.closed",
    }
    for event in events:
        assert "Geheim" not in json.dumps(event.details, ensure_ascii=False), event.action
    created = next(e for e in events if e.action == "office.request.created")
    assert created.trace_request_id == asked.id
    assert set(created.details) == {"window_start", "window_end", "areas"}
    assert verify_chain(events).intact
