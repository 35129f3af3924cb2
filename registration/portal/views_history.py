"""A location's visits over time: charts of check-ins per hour and per day, and the
daily counts as CSV. Counts only, for the business's own locations."""

from __future__ import annotations

import datetime as dt

from flask import render_template, request
from flask_babel import format_date, format_time
from flask_babel import gettext as _
from markupsafe import Markup
from werkzeug.wrappers import Response

from registration import charts
from registration.accounts.access import acting_user, business_member_required, owned_location
from registration.counting import local_today
from registration.portal import visit_history
from registration.portal.blueprint import Page, bp
from registration.session import get_clock, get_session

OLDEST_DAY = 400  # how far back the day picker goes; older days hold no rows anyway


def _chosen_day(today: dt.date) -> tuple[dt.date | None, str | None]:
    """The `?day=` of the request, or None for the last 24 hours; with an error text."""
    raw = request.args.get("day", "").strip()
    if not raw:
        return None, None
    try:
        day = dt.date.fromisoformat(raw[:10])
    except ValueError:
        return None, _("Please enter a date like 2026-11-26.")
    if not today - dt.timedelta(days=OLDEST_DAY) <= day <= today:
        return None, _("Please choose a day from the past year, today at the latest.")
    return day, None


def _hour_chart(counts: visit_history.Counts) -> charts.Chart:
    bars = []
    for bucket, value in zip(counts.buckets, counts.values, strict=True):
        start = bucket.local_start
        span = f"{format_time(start, 'HH:mm')}\u2013{format_time(bucket.end, 'HH:mm')}"
        name = f"{format_date(start, 'short')} {span}"
        bars.append(charts.Bar(format_time(start, "HH"), name, value))
    return charts.Chart(bars, label_every=3)


def _day_chart(counts: visit_history.Counts) -> charts.Chart:
    bars = [
        charts.Bar(
            format_date(bucket.local_start, "d.M."), format_date(bucket.local_start, "full"), value
        )
        for bucket, value in zip(counts.buckets, counts.values, strict=True)
    ]
    return charts.Chart(bars, label_every=7)


def _figure(chart: charts.Chart, element_id: str, caption: str, label_header: str) -> Markup:
    return charts.figure(
        chart,
        element_id=element_id,
        caption=caption,
        summary=_(
            "%(caption)s: %(total)s check-ins in all, at most %(peak)s in one bar.",
            caption=caption,
            total=chart.total,
            peak=chart.peak,
        ),
        table_toggle=_("Show the numbers as a table"),
        label_header=label_header,
        value_header=_("Check-ins"),
    )


@bp.get("/locations/<int:location_id>/history")
@business_member_required
def visit_history_page(location_id: int) -> Page:
    session = get_session()
    clock = get_clock()
    place = owned_location(session, acting_user(), location_id)
    today = local_today(clock.now())
    day, error = _chosen_day(today)
    hourly = visit_history.hourly(session, clock, place, day)
    daily = visit_history.daily(session, clock, place)
    hour_caption = (
        _("Check-ins per hour on %(day)s", day=format_date(day, "full"))
        if day is not None
        else _("Check-ins per hour, last 24 hours")
    )
    page = render_template(
        "portal/history.html",
        location=place,
        day=day,
        today=today,
        oldest=today - dt.timedelta(days=OLDEST_DAY),
        error=error,
        hourly=hourly,
        daily=daily,
        hour_figure=_figure(_hour_chart(hourly), "hours-chart", hour_caption, _("Hour")),
        day_figure=_figure(
            _day_chart(daily),
            "days-chart",
            _("Check-ins per day, last %(days)s days", days=visit_history.DAYS),
            _("Day"),
        ),
    )
    return page, 422 if error else 200


@bp.get("/locations/<int:location_id>/history.csv")
@business_member_required
def visit_history_csv(location_id: int) -> Response:
    """The daily counts of the last 28 days for a spreadsheet: `date;count`, UTF-8 BOM."""
    session = get_session()
    place = owned_location(session, acting_user(), location_id)
    data = visit_history.daily_csv(visit_history.daily(session, get_clock(), place))
    response = Response(data, content_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="gastregister-{place.id}-daily-checkins.csv"'
    )
    return response
