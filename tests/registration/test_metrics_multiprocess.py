"""Multiprocess mode: several processes count, any one of them answers the scrape.

prometheus_client chooses its mode when it is imported, from PROMETHEUS_MULTIPROC_DIR,
so these tests run the service in processes of their own: plain Python processes, and
gunicorn with two workers and the hooks of gastregister/gunicorn_conf.py.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from registration import metrics
from tests.local_servers import gunicorn, http_get, wait_until
from tests.metrics_support import Samples, parse, value

ROOT = Path(__file__).resolve().parents[2]

# Builds the app as configured by the environment, then: `count N` answers N
# requests to /healthz, counts one check-in and prints its pid, `accept N` counts N
# check-ins, `scrape` prints /metrics.
SCRIPT = textwrap.dedent(
    """
    import os, sys
    from gastregister import create_app
    from registration import metrics

    app = create_app()
    client = app.test_client()
    command, number = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0
    if command == "count":
        for _ in range(number):
            assert client.get("/healthz").status_code == 200
        metrics.checkin_accepted("guest_page")
        print(os.getpid())
    elif command == "accept":
        for _ in range(number):
            metrics.checkin_accepted("guest_page")
    elif command == "scrape":
        response = client.get("/metrics")
        assert response.status_code == 200, response.status_code
        sys.stdout.write(response.get_data(as_text=True))
    """
)


@pytest.fixture
def metrics_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "prometheus"
    directory.mkdir()
    return directory


def _env(database_url: str, instance_path: Path, metrics_dir: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GASTREGISTER_", "PROMETHEUS_")) and key != "DATABASE_URL"
    }
    env.update(
        GASTREGISTER_ENV="test",
        DATABASE_URL=database_url,
        GASTREGISTER_INSTANCE_PATH=str(instance_path),
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    )
    return env


def _run(env: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, *arguments],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def _pool_pids(samples: Samples) -> set[str]:
    return {dict(labels)["pid"] for name, labels in samples if name == "gastregister_db_pool_size"}


def test_counts_of_two_processes_are_summed(
    database_url: str, instance_path: Path, metrics_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _env(database_url, instance_path, metrics_dir)
    first_pid = _run(env, "count", "3").stdout.strip()
    second_pid = _run(env, "count", "4").stdout.strip()
    first = parse(_run(env, "scrape").stdout)
    assert value(first, "gastregister_http_responses_total", status_class="2xx") == 7
    assert value(first, "gastregister_checkins_accepted_total", source="guest_page") == 2
    assert value(first, "gastregister_checkins_accepted_total", source="staff_entry") == 0
    # Each process that served requests has its own pool series (the scraping one too).
    pids = _pool_pids(first)
    assert {first_pid, second_pid} <= pids and len(pids) == 3
    for pid in (first_pid, second_pid):
        assert value(first, "gastregister_db_pool_size", pid=pid) == 5
        assert value(first, "gastregister_db_pool_checked_out", pid=pid) == 0

    # What gunicorn's child_exit hook does for a dead worker: its gauges go, its counts stay.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(metrics_dir))
    metrics.worker_exited(int(first_pid))
    second = parse(_run(env, "scrape").stdout)
    assert first_pid not in _pool_pids(second)
    assert second_pid in _pool_pids(second)
    assert value(second, "gastregister_http_responses_total", status_class="2xx") == 7


@pytest.fixture
def gunicorn_server(
    database_url: str, instance_path: Path, metrics_dir: Path, tmp_path: Path
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Two gunicorn workers as deployed, after a stale count was left in the folder."""
    env = _env(database_url, instance_path, metrics_dir)
    _run(env, "accept", "5")  # a previous run's count: the master must clear it
    assert list(metrics_dir.glob("counter_*.db"))
    env.update(
        GASTREGISTER_ENV="production",
        SECRET_KEY=secrets.token_urlsafe(48),
        GASTREGISTER_MAIL_SERVER="127.0.0.1",
        GASTREGISTER_SCHEDULER="off",
        GASTREGISTER_WORKERS="2",
        GASTREGISTER_THREADS="2",
    )
    with gunicorn(env, log=tmp_path / "gunicorn.log", cwd=ROOT, ready_path="/metrics") as server:
        yield server.url, server.process


@pytest.mark.slow
def test_gunicorn_workers_share_the_counts_and_the_hooks_keep_the_folder_right(
    gunicorn_server: tuple[str, subprocess.Popen[bytes]], metrics_dir: Path
) -> None:
    base, _server = gunicorn_server
    samples = parse(http_get(base + "/metrics")[1])
    # on_starting emptied the folder: the stale count of 5 is gone.
    accepted = ("gastregister_checkins_accepted_total", frozenset({("source", "guest_page")}))
    assert samples.get(accepted, 0) == 0

    for _ in range(20):
        assert http_get(base + "/healthz")[0] == 200
    samples = parse(http_get(base + "/metrics")[1])
    assert value(samples, "gastregister_http_responses_total", status_class="2xx") == 20
    serving = {path.stem.rsplit("_", 1)[1] for path in metrics_dir.glob("gauge_liveall_*.db")}
    assert serving and serving <= _pool_pids(samples)

    # A worker dies: child_exit drops its pool series; its 2xx stay in the sum. The
    # victim is one that answered a /healthz (a counts file of its own): a worker that
    # only answered /metrics, which is not counted, has pool gauges but no counts, and
    # which worker takes which connection is the kernel's choice.
    counted = {path.stem.rsplit("_", 1)[1] for path in metrics_dir.glob("counter_*.db")}
    assert serving & counted
    victim = sorted(serving & counted)[0]
    os.kill(int(victim), signal.SIGTERM)
    wait_until(lambda: not (metrics_dir / f"gauge_liveall_{victim}.db").exists(), guard_seconds=30)
    assert (metrics_dir / f"counter_{victim}.db").exists()
    samples = parse(http_get(base + "/metrics")[1])
    assert victim not in _pool_pids(samples)
    assert value(samples, "gastregister_http_responses_total", status_class="2xx") == 20
