"""What a serving process counts: check-ins stored and refused, HTTP answers.

Every label has a small fixed set of values, bound once, so a caller can never turn a
label into a channel for data, and a count is a dictionary look-up and an increment:
a check-in pays microseconds for it.
"""

from __future__ import annotations

import functools

from prometheus_client import Counter, disable_created_metrics
from prometheus_client.registry import Collector

CHECKIN_SOURCES = ("guest_page", "guest_form", "staff_entry")
# The error codes a refused check-in answers with (registration/checkin/errors.py,
# the staff entry's and the service's generic codes); anything else counts as "other".
REFUSAL_REASONS = (
    "invalid_json",
    "invalid",
    "too_large",
    "unsupported_media_type",
    "invalid_envelope",
    "unsupported_envelope_version",
    "unsupported_suite",
    "unknown_area",
    "checkin_unavailable",
    "entrance_code_required",
    "stale_key",
    "idempotency_conflict",
    "arrival_out_of_range",
    "arrival_expired",
    "too_many_requests",
    "bad_request",
    "other",
)
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")

# Counters export only their `_total` series, in both modes alike.
disable_created_metrics()  # type: ignore[no-untyped-call]  # unannotated in prometheus_client


class _Counters:
    """The per-process counters, created at the first count (see `_counters`)."""

    def __init__(self) -> None:
        accepted = Counter(
            "gastregister_checkins_accepted",
            "Check-ins stored (a retry of a stored check-in is not counted again), by source.",
            ["source"],
            registry=None,
        )
        refused = Counter(
            "gastregister_checkins_refused",
            "Check-ins refused, by the error code the guest or staff member got.",
            ["reason"],
            registry=None,
        )
        responses = Counter(
            "gastregister_http_responses",
            "HTTP responses, by status class (scrapes of /metrics not counted).",
            ["status_class"],
            registry=None,
        )
        unavailable = Counter(
            "gastregister_http_unavailable_responses",
            "HTTP 503 responses: database unreachable, or no health-office key for a check-in.",
            registry=None,
        )
        self.collectors: tuple[Collector, ...] = (accepted, refused, responses, unavailable)
        # Children bound once: every label value exists from the first count, at 0.
        self.accepted = {source: accepted.labels(source) for source in CHECKIN_SOURCES}
        self.refused = {reason: refused.labels(reason) for reason in REFUSAL_REASONS}
        self.responses = {status: responses.labels(status) for status in STATUS_CLASSES}
        self.unavailable = unavailable


@functools.cache
def _counters() -> _Counters:
    """Created at the first count, not at import: a process that only builds the app
    (the `gastregister` CLI, the maintenance runner) leaves no files in the
    multiprocess folder, which only gunicorn's start empties."""
    return _Counters()


def counter_collectors() -> tuple[Collector, ...]:
    """This process's counters, for a scrape without multiprocess mode."""
    return _counters().collectors


def checkin_accepted(source: str) -> None:
    """A check-in was stored for the first time (`source`: a CheckInSource value)."""
    _counters().accepted[source].inc()


def checkin_refused(reason: str) -> None:
    """A check-in was refused with this error code (unknown codes count as "other")."""
    refused = _counters().refused
    (refused.get(reason) or refused["other"]).inc()


def http_response(status: int) -> None:
    counters = _counters()
    counters.responses[f"{min(max(status // 100, 1), 5)}xx"].inc()
    if status == 503:
        counters.unavailable.inc()
