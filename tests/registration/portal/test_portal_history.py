"""Visits over time: counts per hour and per day from check-in rows by arrival, the
charts with their tables, and the daily CSV; another business's location is a 404."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from registration.clock import BERLIN, FrozenClock
from registration.counting import hours_of_day, last_days
from registration.portal import visit_history
from tests import factories
from tests.registration.portal.portal_helpers import Tenant


def _utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


def _visits(db_session: Session, tenant: Tenant, *arrivals: dt.datetime) -> None:
    office = tenant.location.health_office
    assert office is not None
    for arrival in arrivals:
        factories.checkin(db_session, tenant.area, office.keys[0], arrival=arrival)
    db_session.commit()


def _fill(db_session: Session, tenant: Tenant, other: Tenant) -> None:
    """The clock stands at 2026-11-20 12:00 in Berlin (11:00 UTC)."""
    _visits(
        db_session,
        tenant,
        _utc(2026, 11, 20, 9, 30),
        _utc(2026, 11, 20, 9, 45),
        _utc(2026, 11, 19, 22, 30),  # 23:30 in Berlin: still the 19th
        _utc(2026, 11, 19, 23, 30),  # 00:30 in Berlin: already the 20th
        _utc(2026, 11, 1, 10, 0),
        _utc(2026, 11, 1, 10, 5),
        _utc(2026, 11, 1, 10, 10),
        _utc(2026, 10, 23, 12, 0),  # 29 days ago: outside the 28 days
    )
    _visits(db_session, other, _utc(2026, 11, 20, 9, 0))


def test_daily_and_hourly_counts_follow_berlin_days(
    app: Flask,
    db_session: Session,
    clock: FrozenClock,
    make_tenant: Callable[..., Tenant],
) -> None:
    tenant, other = make_tenant("Eins"), make_tenant("Zwei")
    _fill(db_session, tenant, other)
    daily = visit_history.daily(db_session, clock, tenant.location)
    by_day = {
        b.local_start.date().isoformat(): v
        for b, v in zip(daily.buckets, daily.values, strict=True)
    }
    assert len(by_day) == 28
    assert min(by_day) == "2026-10-24" and max(by_day) == "2026-11-20"
    assert by_day["2026-11-20"] == 3 and by_day["2026-11-19"] == 1
    assert by_day["2026-11-01"] == 3 and daily.total == 7

    last_24 = visit_history.hourly(db_session, clock, tenant.location, None)
    assert len(last_24.buckets) == 24 and last_24.buckets[-1].start == _utc(2026, 11, 20, 11)
    by_hour = {b.start: v for b, v in zip(last_24.buckets, last_24.values, strict=True)}
    assert by_hour[_utc(2026, 11, 20, 9)] == 2
    assert by_hour[_utc(2026, 11, 19, 22)] == 1 and by_hour[_utc(2026, 11, 19, 23)] == 1
    assert last_24.total == 4

    first_of_november = visit_history.hourly(
        db_session, clock, tenant.location, dt.date(2026, 11, 1)
    )
    assert first_of_november.values[11] == 3 and first_of_november.total == 3

    clock.advance(dt.timedelta(days=1))  # a day later the 20th's night visit left the 24 h
    assert visit_history.hourly(db_session, clock, tenant.location, None).total == 0
    assert visit_history.daily(db_session, clock, tenant.location).total == 7


def test_a_day_with_a_clock_change_has_its_own_number_of_hours() -> None:
    assert len(hours_of_day(dt.date(2026, 10, 25))) == 25
    assert len(hours_of_day(dt.date(2026, 3, 29))) == 23
    assert len(hours_of_day(dt.date(2026, 11, 20))) == 24
    days = last_days(dt.date(2026, 10, 26), 3)
    assert [d.local_start.astimezone(BERLIN).hour for d in days] == [0, 0, 0]
    assert days[1].end - days[1].start == dt.timedelta(hours=25)


def test_history_page_shows_charts_with_tables_and_the_csv_has_daily_counts(
    owner_client: tuple[FlaskClient, Tenant],
    db_session: Session,
    make_tenant: Callable[..., Tenant],
) -> None:
    client, tenant = owner_client
    _fill(db_session, tenant, make_tenant("Drei"))
    location_page = client.get(f"/portal/locations/{tenant.location.id}").text
    assert f"/portal/locations/{tenant.location.id}/history" in location_page

    page = client.get(f"/portal/locations/{tenant.location.id}/history")
    assert page.status_code == 200
    assert page.text.count("<svg") == 2 and 'role="img"' in page.text
    assert page.text.count("<table>") == 2
    assert "<script" not in page.text.split("<main", 1)[1]
    assert re.search(r'<td class="number">3</td>', page.text)

    chosen = client.get(f"/portal/locations/{tenant.location.id}/history?day=2026-11-01")
    assert chosen.status_code == 200 and 'value="2026-11-01"' in chosen.text

    csv = client.get(f"/portal/locations/{tenant.location.id}/history.csv")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    assert csv.data.startswith(b"\xef\xbb\xbf")
    lines = csv.data.decode("utf-8-sig").splitlines()
    assert lines[0] == "date;count" and len(lines) == 29
    assert lines[1] == "2026-10-24;0" and lines[-1] == "2026-11-20;3"
    assert "2026-11-19;1" in lines and "2026-11-01;3" in lines


def test_history_refuses_bad_days_without_an_error_page(
    owner_client: tuple[FlaskClient, Tenant],
) -> None:
    client, tenant = owner_client
    for day in ("gestern", "2026-13-40", "2027-01-01", "1900-01-01", "x" * 5000):
        response = client.get(f"/portal/locations/{tenant.location.id}/history?day={day}")
        assert response.status_code == 422, day
        assert 'aria-invalid="true"' in response.text


def test_history_of_another_business_is_not_found(
    owner_client: tuple[FlaskClient, Tenant], make_tenant: Callable[..., Tenant]
) -> None:
    client, _tenant = owner_client
    other = make_tenant("Vier")
    assert client.get(f"/portal/locations/{other.location.id}/history").status_code == 404
    assert client.get(f"/portal/locations/{other.location.id}/history.csv").status_code == 404
