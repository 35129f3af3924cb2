"""What the operator's overview counts: registrations over time, check-ins per day,
health-office requests per office and state, the deletion job, and the offices
with their postal codes and key fingerprints.

Every figure is a count over the whole service or per health office. Nothing here
reads an envelope or groups check-ins by business or location, so the overview can
show neither who visited nor how full any one place was.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

import crypto
from registration.clock import Clock
from registration.config import Settings
from registration.counting import Bucket, count_in_buckets, last_days, last_months, local_today
from registration.models import (
    Business,
    CheckIn,
    HealthOffice,
    KeyState,
    Location,
    TraceRequest,
    TraceRequestState,
)
from registration.retention.health import purge_summary

DAYS = 28
MONTHS = 12


@dataclass(frozen=True)
class Series:
    """Counts per bucket, in order."""

    buckets: list[Bucket]
    values: list[int]


@dataclass(frozen=True)
class Totals:
    businesses: int
    locations_active: int
    locations_archived: int
    health_offices: int
    checkins_stored: int


@dataclass(frozen=True)
class OfficeRequests:
    """One office's requests by state (IRIS states, in their order)."""

    office: str
    by_state: dict[TraceRequestState, int]

    @property
    def total(self) -> int:
        return sum(self.by_state.values())


@dataclass(frozen=True)
class OfficeKey:
    state: KeyState
    label: str
    fingerprint: str
    activated_at: dt.datetime | None


@dataclass(frozen=True)
class OfficeFacts:
    name: str
    email: str
    postal_codes: list[str]
    keys: list[OfficeKey]


def totals(session: Session) -> Totals:
    active = Location.archived_at.is_(None)
    locations: dict[bool, int] = {
        bool(is_active): int(count)
        for is_active, count in session.execute(select(active, func.count()).group_by(active)).all()
    }
    return Totals(
        businesses=session.scalar(select(func.count()).select_from(Business)) or 0,
        locations_active=locations.get(True, 0),
        locations_archived=locations.get(False, 0),
        health_offices=session.scalar(select(func.count()).select_from(HealthOffice)) or 0,
        checkins_stored=session.scalar(select(func.count()).select_from(CheckIn)) or 0,
    )


def registrations(session: Session, clock: Clock) -> tuple[Series, Series]:
    """New businesses and new locations per month, the last twelve months."""
    months = last_months(local_today(clock.now()), MONTHS)
    return (
        Series(months, count_in_buckets(session, Business.created_at, months)),
        Series(months, count_in_buckets(session, Location.created_at, months)),
    )


def checkins_per_day(session: Session, clock: Clock) -> Series:
    """Check-ins over all locations per Berlin day, by arrival, the last 28 days."""
    days = last_days(local_today(clock.now()), DAYS)
    return Series(days, count_in_buckets(session, CheckIn.arrival, days))


def requests_per_office(session: Session) -> list[OfficeRequests]:
    """Every office with its requests counted by state (offices without any included)."""
    counts: dict[int, dict[TraceRequestState, int]] = {}
    for office_id, state, count in session.execute(
        select(TraceRequest.health_office_id, TraceRequest.state, func.count()).group_by(
            TraceRequest.health_office_id, TraceRequest.state
        )
    ).all():
        counts.setdefault(office_id, {})[state] = int(count)
    offices = session.execute(
        select(HealthOffice.id, HealthOffice.name).order_by(HealthOffice.name)
    )
    return [
        OfficeRequests(
            name, {state: counts.get(office_id, {}).get(state, 0) for state in TraceRequestState}
        )
        for office_id, name in offices.all()
    ]


def offices(session: Session) -> list[OfficeFacts]:
    """The health offices with their postal codes and their keys' fingerprints."""
    rows = session.scalars(
        select(HealthOffice)
        .options(selectinload(HealthOffice.postal_codes), selectinload(HealthOffice.keys))
        .order_by(HealthOffice.name)
    ).all()
    return [
        OfficeFacts(
            name=office.name,
            email=office.email,
            postal_codes=sorted(code.postal_code for code in office.postal_codes),
            keys=[
                OfficeKey(
                    state=key.state,
                    label=key.label,
                    fingerprint=crypto.format_fingerprint(bytes.fromhex(key.key_id)),
                    activated_at=key.activated_at,
                )
                for key in sorted(office.keys, key=lambda k: (k.state != KeyState.ACTIVE, k.id))
            ],
        )
        for office in rows
    ]


def purge(
    session: Session, clock: Clock, settings: Settings, watching_since: dt.datetime
) -> dict[str, Any]:
    """The deletion job as /healthz reports it (registration.retention.health)."""
    return purge_summary(session, clock, settings, watching_since)
