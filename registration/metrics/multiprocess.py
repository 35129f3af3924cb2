"""Summing every gunicorn worker's counts (`PROMETHEUS_MULTIPROC_DIR`), and its hooks.

prometheus_client keeps each process's counts in a file of its own there; the hooks
in gastregister/gunicorn_conf.py empty the folder at start and drop a dead worker's
gauges.
"""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import multiprocess as prometheus_multiprocess

# prometheus_client decides this once, at import, from the same variable.
MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def clear_multiprocess_directory() -> None:
    """At the master's start: counts left by a previous run would add to this one's."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink(missing_ok=True)


def worker_exited(pid: int) -> None:
    """A dead worker's gauges (its pool) go; its counters stay in the sums."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        prometheus_multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]  # unannotated in prometheus_client
