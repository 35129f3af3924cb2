"""bench.peer_bench reads wrk's report: the figures its comparison prints."""

from __future__ import annotations

import pytest

from bench.peer_bench import Measured, WrkResult, compare, parse_wrk

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


def _round(rate: float, cpu_ms: float) -> Measured:
    return Measured(WrkResult(int(rate * 10), 10.0, rate, 0, ""), app_ms=cpu_ms, db_ms=0.0)


def test_the_goal_is_the_median_round_and_the_rounds_print_in_their_order() -> None:
    # Four rounds, the default: the median is the mean of the middle two (3.01 and 3.48),
    # not the upper one.
    ours = [_round(rate, 0.5) for rate in (3480.0, 2900.0, 3740.0, 3010.0)]
    theirs = [_round(1000.0, cpu) for cpu in (2.0, 1.5, 2.5, 1.0)]

    comparison = compare(ours, theirs)

    assert comparison.rate_ratios == [3.48, 2.9, 3.74, 3.01]
    assert round(comparison.rate_ratio, 3) == 3.245
    assert comparison.cpu_ratios == [4.0, 3.0, 5.0, 2.0]
    assert comparison.cpu_ratio == 3.5
    assert compare(ours[:3], theirs[:3]).rate_ratio == 3.48
