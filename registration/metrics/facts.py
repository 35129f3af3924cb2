"""Maintenance runs and trace requests, read from the shared database at scrape time.

The maintenance may run in a process of its own, elsewhere: what it did is in
`job_runs`, so any host can answer for it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from registration.config import Settings
from registration.database import Database

REMOVED_KINDS = ("checkins", "export_packages", "trace_requests_redacted", "audit_events")
PURGE_OUTCOMES = ("succeeded", "failed", "unfinished")


def _timestamp(moment: dt.datetime | None) -> float:
    return moment.timestamp() if moment is not None else 0.0


class DatabaseFacts:
    """Maintenance runs and trace requests, as the shared database records them."""

    def __init__(self, database: Database, settings: Settings) -> None:
        self.database = database
        self.settings = settings

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "gastregister_database_up", "1 if the database answered this scrape's queries."
        )
        try:
            with self.database.session() as session:
                facts = list(self._facts(session))
        except SQLAlchemyError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from facts

    def _facts(self, session: Any) -> Iterator[Metric]:
        from registration.models import JobRun
        from registration.retention.history import JOB_NAME, last_job_run

        interval = GaugeMetricFamily(
            "gastregister_purge_interval_seconds",
            "Configured interval between maintenance runs.",
        )
        interval.add_metric([], self.settings.purge_interval_minutes * 60)
        yield interval

        counts = dict.fromkeys(PURGE_OUTCOMES, 0)
        finished = JobRun.finished_at.is_not(None)
        rows = session.execute(
            select(finished, JobRun.succeeded, func.count())
            .where(JobRun.job == JOB_NAME)
            .group_by(finished, JobRun.succeeded)
        )
        for is_finished, succeeded, count in rows:
            outcome = "unfinished" if not is_finished else "succeeded" if succeeded else "failed"
            counts[outcome] += count
        runs = GaugeMetricFamily(
            "gastregister_purge_runs",
            "Maintenance runs recorded in the database, by outcome. Rows older than the "
            "audit retention are deleted, so compare with delta(), not rate().",
            labels=["outcome"],
        )
        for outcome, count in counts.items():
            runs.add_metric([outcome], count)
        yield runs

        last_success = session.scalar(
            select(func.max(JobRun.finished_at)).where(
                JobRun.job == JOB_NAME, JobRun.succeeded.is_(True)
            )
        )
        success = GaugeMetricFamily(
            "gastregister_purge_last_success_timestamp_seconds",
            "When the last successful maintenance run finished (Unix time; 0: never).",
        )
        success.add_metric([], _timestamp(last_success))
        yield success

        last = last_job_run(session)
        if last is not None:
            yield from self._last_run(last)
        yield self._trace_requests(session)

    def _trace_requests(self, session: Any) -> Metric:
        from registration.models import TraceRequest, TraceRequestState

        states = dict.fromkeys((state.value for state in TraceRequestState), 0)
        for state, count in session.execute(
            select(TraceRequest.state, func.count()).group_by(TraceRequest.state)
        ):
            states[TraceRequestState(state).value] = count
        requests = GaugeMetricFamily(
            "gastregister_trace_requests",
            "Health-office trace requests, by state.",
            labels=["state"],
        )
        for state, count in states.items():
            requests.add_metric([state], count)
        return requests

    def _last_run(self, last: Any) -> Iterator[Metric]:
        details = last.details if isinstance(last.details, dict) else {}
        finished_at = GaugeMetricFamily(
            "gastregister_purge_last_run_timestamp_seconds",
            "When the last maintenance run finished (Unix time).",
        )
        finished_at.add_metric([], _timestamp(last.finished_at))
        yield finished_at
        succeeded = GaugeMetricFamily(
            "gastregister_purge_last_run_succeeded",
            "1 if the last maintenance run succeeded, 0 if a step failed.",
        )
        succeeded.add_metric([], 1 if last.succeeded else 0)
        yield succeeded
        duration_ms = details.get("duration_ms")
        if not isinstance(duration_ms, int):
            duration_ms = round((last.finished_at - last.started_at).total_seconds() * 1000)
        duration = GaugeMetricFamily(
            "gastregister_purge_last_run_duration_seconds",
            "How long the last maintenance run took.",
        )
        duration.add_metric([], duration_ms / 1000)
        yield duration
        removed_rows = details.get("removed")
        removed_rows = removed_rows if isinstance(removed_rows, dict) else {}
        removed = GaugeMetricFamily(
            "gastregister_purge_last_run_removed_rows",
            "Rows the last maintenance run deleted (or redacted), by kind.",
            labels=["kind"],
        )
        for kind in REMOVED_KINDS:
            count = removed_rows.get(kind)
            removed.add_metric([kind], count if isinstance(count, int) else 0)
        yield removed
