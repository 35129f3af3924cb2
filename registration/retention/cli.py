"""`gastregister worker`, `purge` and `status` for operators.

`worker` runs maintenance every interval in the foreground until SIGTERM or SIGINT:
production's `gastregister-worker.service`. `purge` runs the same jobs once, at once,
for operators who prefer cron; neither ever runs beside another runner. `status`
answers "is deletion happening?" in a few lines. Exit codes: 0 done, skipped (another
runner is at it) or stopped by a signal; 1 failed.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from registration.clock import to_berlin
from registration.retention import partitions
from registration.retention.history import last_job_run
from registration.retention.lock import lock_holder
from registration.retention.scheduler import MaintenanceTimer, maintenance_timer
from registration.retention.services import MaintenanceResult, run_maintenance, runner_name
from registration.session import get_clock, get_db, get_session, get_settings

log = logging.getLogger(__name__)
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
# How long `worker` waits for a run to reach its next batch boundary after SIGTERM;
# systemd's TimeoutStopSec (90 s by default) should be longer.
WORKER_STOP_SECONDS = 60.0

REMOVED_LABELS = (
    ("checkins", "check-ins deleted"),
    ("export_packages", "export packages deleted"),
    ("trace_requests_redacted", "trace requests redacted"),
    ("audit_events", "audit entries deleted"),
)


def _local(moment: dt.datetime) -> str:
    return to_berlin(moment).strftime("%Y-%m-%d %H:%M:%S %Z")


def _removed_line(removed: dict[str, Any]) -> str:
    return ", ".join(f"{removed.get(key, 0)} {label}" for key, label in REMOVED_LABELS)


@click.command("purge")
@with_appcontext
def purge() -> None:
    """Delete everything past its retention period now (same jobs as the scheduler)."""
    result = run_maintenance(get_db(), get_clock(), get_settings(), runner_name("cli"))
    for line in purge_report(result):
        click.echo(line)
    if result.status == "failed":
        raise SystemExit(1)


def purge_report(result: MaintenanceResult) -> list[str]:
    if result.skipped:
        return [f"Skipped: {result.reason} (another runner is purging right now)."]
    verdict = "done" if result.ok else "FAILED"
    lines = [f"Purge {verdict} in {result.duration_ms / 1000:.1f} s (job run {result.job_run_id})."]
    lines += [f"  {label:<26} {result.removed.get(key, 0):>9}" for key, label in REMOVED_LABELS]
    lines.append(
        f"  {'automatic departures set':<26} {result.details.get('auto_departures', 0):>9}"
    )
    partition_facts = result.details.get("partitions")
    if partition_facts:
        lines.append(
            f"  partitions: {len(partition_facts['dropped'])} dropped, "
            f"{partition_facts['created']} created, {len(partition_facts['rewritten'])} rewritten"
        )
    if "wal_checkpoint" in result.details:
        lines.append(f"  WAL checkpoint: {result.details['wal_checkpoint']}")
    if "requests" in result.details:
        counts = ", ".join(f"{n} {name}" for name, n in result.details["requests"].items())
        lines.append(f"  trace requests: {counts or 'nothing to do'}")
    lines += [f"  error in {error}" for error in result.errors]
    return lines


@click.command("worker")
@with_appcontext
def worker() -> None:
    """Run maintenance every purge interval until SIGTERM or SIGINT (the worker service)."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]  # the real app, for the timer's thread
    settings = get_settings()
    timer = maintenance_timer(app, get_db(), "worker")
    log.info(
        "maintenance worker started: every %d minutes, first run in %.0f s",
        settings.purge_interval_minutes,
        timer.first_delay,
    )
    signalled = run_until_signalled(timer)
    log.info("maintenance worker stopped (%s)", signalled)


def run_until_signalled(timer: MaintenanceTimer) -> str:
    """Run the timer in a thread while this (main) thread waits for a stop signal.

    The signals are blocked and taken with `sigtimedwait` instead of a handler: a
    handler runs between any two bytecodes of the main thread and could not safely
    take the locks that stopping a timer needs. The timer thread inherits the mask, so
    the signal always reaches this thread. A run in progress ends at its next batch
    boundary; one that does not within WORKER_STOP_SECONDS is left to be recorded as
    died by the next runner.
    """
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        timer.start()
        received: str = "timer ended"
        while timer.alive:
            info = signal.sigtimedwait(STOP_SIGNALS, 1.0)
            if info is not None:
                received = signal.Signals(info.si_signo).name
                break
        if not timer.stop(WORKER_STOP_SECONDS):
            log.warning("maintenance run did not stop within %.0f s", WORKER_STOP_SECONDS)
        return received
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@click.command("status")
@with_appcontext
def status() -> None:
    """Show the last maintenance run, what it removed, the next one and the lock."""
    for line in status_report():
        click.echo(line)


def status_report() -> list[str]:
    clock, settings, database = get_clock(), get_settings(), get_db()
    # First, on its own connection: on SQLite every transaction takes the write lock.
    holder = lock_holder(database)
    session = get_session()
    last = last_job_run(session)
    latest = last_job_run(session, finished=False)
    lines: list[str] = []
    if last is None:
        lines.append("Last run:      never")
    else:
        details = last.details
        verdict = "succeeded" if last.succeeded else "FAILED"
        seconds = (details.get("duration_ms") or 0) / 1000
        lines.append(
            f"Last run:      {_local(last.started_at)} by {last.runner}, {verdict} in {seconds:.1f} s"
        )
        lines.append(f"Removed:       {_removed_line(details.get('removed', {}))}")
        if details.get("errors"):
            lines.append(f"Errors:        {', '.join(details['errors'])}")
    if latest is not None and latest.finished_at is None and holder is not None:
        lines.append(f"Running:       since {_local(latest.started_at)} by {latest.runner}")
    interval = settings.purge_interval_minutes
    if settings.scheduler == "off":
        lines.append(
            "Next planned:  scheduler off (GASTREGISTER_SCHEDULER=off); run "
            f"`gastregister purge` from cron at least every {interval} minutes"
        )
    else:
        base = last.started_at if last is not None else clock.now()
        planned = max(base + dt.timedelta(minutes=interval), clock.now())
        who = "`gastregister worker`" if settings.scheduler == "worker" else "the web workers"
        lines.append(f"Next planned:  about {_local(planned)} (every {interval} minutes, by {who})")
    if holder is None:
        lines.append("Lock:          free")
    else:
        lines.append(f"Lock:          held by {holder.holder}")
    lines.append(
        f"Retention:     {settings.retention_days} days (audit: {settings.audit_retention_days} days)"
    )
    if database.dialect == "postgresql":
        lines.append(f"Partitions:    {_partition_line(session.connection())}")
    return lines


def _partition_line(connection: Any) -> str:
    if not partitions.is_partitioned(connection):
        return "checkins is not partitioned (run `gastregister db upgrade`)"
    days = sorted(partitions.day_partitions(connection))
    default_rows = partitions.default_partition_rows(connection)
    if not days:
        return f"no day partitions; default partition: {default_rows} rows"
    return (
        f"{len(days)} days, {days[0]:%Y-%m-%d} to {days[-1]:%Y-%m-%d}; "
        f"default partition: {default_rows} rows"
    )


commands = [purge, status, worker]
