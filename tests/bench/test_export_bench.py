"""bench.export_bench counts the CPU of the browser renderers it started, from /proc."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.export_bench import _renderer_cpu_seconds

pytestmark = [
    pytest.mark.engine_independent("reads /proc; no database is involved"),
    pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc"),
]

# Spends about 0.4 s of CPU, then waits (alive, its time still counted) for its stdin.
BURN = (
    "import sys, time\n"
    "end = time.process_time() + 0.4\n"
    "while time.process_time() < end: pass\n"
    "print('spent', flush=True)\n"
    "sys.stdin.read()\n"
)


def _burn(*arguments: str) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", BURN, *arguments],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline() == "spent\n"
    return child


def _stop(child: subprocess.Popen[str]) -> None:
    child.communicate("", timeout=10)


def test_a_renderer_started_here_is_counted_and_another_process_is_not() -> None:
    before = _renderer_cpu_seconds()
    assert before is not None
    renderer = _burn("--type=renderer")
    other = _burn("--type=gpu-process")
    try:
        time.sleep(0.05)
        after = _renderer_cpu_seconds()
    finally:
        _stop(renderer)
        _stop(other)
    assert after is not None
    # The renderer's 0.4 s, not the other process's too (0.8 s).
    assert 0.3 <= after - before < 0.7
