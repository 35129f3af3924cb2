"""Counts for the operator's Prometheus, served at `/metrics`.

The service runs as several gunicorn workers on one or more hosts, and the
maintenance runs in a process of its own, possibly elsewhere. So:

* what a worker sees (check-ins, HTTP answers, its connection pool) is counted in
  that worker (`counters`, `pool`). With `PROMETHEUS_MULTIPROC_DIR` set,
  prometheus_client keeps those counts in one small file per process, and whichever
  worker answers a scrape adds up every worker's files (`multiprocess`: the hooks in
  gastregister/gunicorn_conf.py empty the folder at start and drop a dead worker's
  gauges). Without the variable (demo, tests) the counts live in the process.
* what the maintenance did is read from the database (`job_runs`) at scrape time,
  and so are the trace requests (`facts`): any host can answer for them.

Only counts and times leave: no code, name or id of a business, location, area or
user, and no address. Domain code calls the names re-exported here.
"""

from __future__ import annotations

from registration.metrics.counters import (
    CHECKIN_SOURCES,
    REFUSAL_REASONS,
    STATUS_CLASSES,
    checkin_accepted,
    checkin_refused,
    http_response,
)
from registration.metrics.endpoint import (
    METRICS_ENDPOINT,
    address_allowed,
    bp,
    parse_networks,
    process_collectors,
    register_metrics,
    scrape_allowed,
)
from registration.metrics.facts import PURGE_OUTCOMES, REMOVED_KINDS, DatabaseFacts
from registration.metrics.multiprocess import (
    MULTIPROCESS,
    clear_multiprocess_directory,
    worker_exited,
)
from registration.metrics.pool import watch_pool

__all__ = [
    "CHECKIN_SOURCES",
    "METRICS_ENDPOINT",
    "MULTIPROCESS",
    "PURGE_OUTCOMES",
    "REFUSAL_REASONS",
    "REMOVED_KINDS",
    "STATUS_CLASSES",
    "DatabaseFacts",
    "address_allowed",
    "bp",
    "checkin_accepted",
    "checkin_refused",
    "clear_multiprocess_directory",
    "http_response",
    "parse_networks",
    "process_collectors",
    "register_metrics",
    "scrape_allowed",
    "watch_pool",
    "worker_exited",
]
