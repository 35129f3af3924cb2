"""bench.peer_bench reads wrk's report: the figures its comparison prints."""

from __future__ import annotations

import pytest

from bench.peer_bench import parse_wrk

pytestmark = pytest.mark.engine_independent("parses a text; no database is involved")

# wrk 4.1's report with --latency; the latency's "+/- Stdev" happens to end in 99%.
REPORT = """\
Running 10s test @ http://127.0.0.1:8102/
  2 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     9.28ms    4.10ms  30.66ms   71.99%
    Req/Sec   433.12     50.21   540.00     70.50%
  Latency Distribution
     50%    8.50ms
     75%   11.00ms
     90%   14.50ms
     99%   21.00ms
  8654 requests in 10.00s, 2.10MB read
  Non-2xx or 3xx responses: 3
Requests/sec:    865.40
Transfer/sec:    215.00KB
"""


def test_the_figures_are_read_from_their_own_lines() -> None:
    result = parse_wrk(REPORT)
    assert (result.requests, result.seconds, result.rate, result.failed) == (8654, 10.0, 865.4, 3)
    assert result.latency == "mean 9.28ms, max 30.66ms, p99 21.00ms"
