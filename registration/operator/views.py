"""The operator's pages: the overview of counts and the health offices (read-only).

Only operator accounts (with their second factor) open them; a business or office
account gets 403. The pages show numbers over the whole service and per health
office, never guest data and never one business's or location's occupancy.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, current_app, render_template
from flask_babel import format_date
from flask_babel import gettext as _
from markupsafe import Markup

from registration import charts
from registration.accounts.access import operator_required
from registration.models import TraceRequestState
from registration.operator import figures
from registration.session import get_clock, get_session, get_settings

bp = Blueprint("operator", __name__, url_prefix="/betreiber", template_folder="templates")


def _state_names() -> dict[TraceRequestState, str]:
    return {
        TraceRequestState.REQUESTED: _("requested"),
        TraceRequestState.RELEASED: _("released"),
        TraceRequestState.DOWNLOADED: _("downloaded"),
        TraceRequestState.CLOSED: _("closed"),
        TraceRequestState.ABORTED: _("aborted"),
        TraceRequestState.EXPIRED: _("expired"),
    }


def _purge_sentence(summary: dict[str, object]) -> str:
    problem = summary.get("problem")
    sentences = {
        "last_run_failed": _("The last run failed; the next run tries again."),
        "overdue": _("Overdue: no run succeeded within two intervals. Check the worker."),
        "never_ran": _("No run has succeeded since the service started. Check the worker."),
        "run_dated_in_future": _("A run is dated in the future: check the servers' clocks."),
    }
    if isinstance(problem, str) and problem in sentences:
        return str(sentences[problem])
    if summary.get("last_run") is None:
        return str(_("No run yet."))
    return str(_("Deletion runs on schedule."))


def _chart(
    series: figures.Series,
    *,
    element_id: str,
    caption: str,
    label_header: str,
    monthly: bool,
) -> Markup:
    bars = [
        charts.Bar(
            format_date(bucket.local_start, "MMM" if monthly else "d.M."),
            format_date(bucket.local_start, "MMMM yyyy" if monthly else "full"),
            value,
        )
        for bucket, value in zip(series.buckets, series.values, strict=True)
    ]
    chart = charts.Chart(bars, label_every=1 if monthly else 7)
    return charts.figure(
        chart,
        element_id=element_id,
        caption=caption,
        summary=_(
            "%(caption)s: %(total)s in all, at most %(peak)s in one bar.",
            caption=caption,
            total=chart.total,
            peak=chart.peak,
        ),
        table_toggle=_("Show the numbers as a table"),
        label_header=label_header,
        value_header=_("Count"),
    )


def _moment(iso: object) -> dt.datetime | None:
    return dt.datetime.fromisoformat(iso) if isinstance(iso, str) else None


@bp.get("/")
@operator_required
def overview() -> str:
    session = get_session()
    clock = get_clock()
    businesses, locations = figures.registrations(session, clock)
    started: dt.datetime = current_app.extensions["gastregister.started_at"]
    purge = figures.purge(session, clock, get_settings(), started)
    return render_template(
        "operator/overview.html",
        totals=figures.totals(session),
        business_chart=_chart(
            businesses,
            element_id="businesses-chart",
            caption=_("New businesses per month"),
            label_header=_("Month"),
            monthly=True,
        ),
        location_chart=_chart(
            locations,
            element_id="locations-chart",
            caption=_("New locations per month"),
            label_header=_("Month"),
            monthly=True,
        ),
        checkin_chart=_chart(
            figures.checkins_per_day(session, clock),
            element_id="checkins-chart",
            caption=_(
                "Check-ins per day over all locations, last %(days)s days", days=figures.DAYS
            ),
            label_header=_("Day"),
            monthly=False,
        ),
        requests=figures.requests_per_office(session),
        states=_state_names(),
        purge=purge,
        purge_sentence=_purge_sentence(purge),
        last_run=_moment(purge.get("last_run")),
        last_success=_moment(purge.get("last_success")),
        as_of=clock.now(),
    )


@bp.get("/gesundheitsaemter")
@operator_required
def offices() -> str:
    return render_template("operator/offices.html", offices=figures.offices(get_session()))
