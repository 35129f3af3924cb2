"""Processes as Linux's /proc shows them: the benchmarks count server and browser CPU there."""

from __future__ import annotations

import os
from pathlib import Path


def stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (the state at 0, the
    parent's pid at 1, utime, stime, cutime and cstime at 11 to 14), or None for a
    process that has ended."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()


def processes() -> dict[int, list[str]]:
    """Every process there is now, by pid, with its stat_fields."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = stat_fields(int(entry.name))
            if fields is not None:
                found[int(entry.name)] = fields
    return found


def cpu_seconds(fields: list[str]) -> float:
    """User + system CPU time of one process (all its threads, ended ones included)."""
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
