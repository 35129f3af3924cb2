"""Who runs maintenance, as deployed: `gastregister worker`, the demo's web workers, and
commands that must run nothing. Real processes of the installed `gastregister`."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from gastregister.cli import main
from registration.database import Database
from registration.migrate import upgrade
from tests import factories
from tests.local_servers import free_port, wait_until
from tests.registration.retention.retention_helpers import (
    add_checkin,
    checkin_exists,
    finished_runs,
    job_runs,
)

pytestmark = pytest.mark.engine_independent(
    "each test runs gastregister in processes on a demo SQLite database of its own, not the suite's"
)

GASTREGISTER = Path(sys.executable).with_name("gastregister")
SCHEDULER_WORDS = ("scheduler", "maintenance timer", "maintenance worker", "scheduled every")


@pytest.fixture
def instance(tmp_path: Path) -> Path:
    path = tmp_path / "instance"
    path.mkdir()
    return path


@pytest.fixture
def demo_env(instance: Path) -> dict[str, str]:
    """A demo deployment of its own: SQLite in a temporary instance folder."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("GASTREGISTER_") and key not in {"DATABASE_URL", "SECRET_KEY"}
    }
    env.update(
        {
            "GASTREGISTER_ENV": "demo",
            "GASTREGISTER_INSTANCE_PATH": str(instance),
            "GASTREGISTER_PURGE_INTERVAL_MINUTES": "1",
            "GASTREGISTER_LOG_LEVEL": "INFO",
        }
    )
    return env


@pytest.fixture
def demo_database(instance: Path) -> Iterator[Database]:
    url = f"sqlite:///{instance / 'gastregister.db'}"
    database = Database(url)
    with database.engine.begin() as connection:
        upgrade(connection)
    yield database
    database.dispose()


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(GASTREGISTER), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _scheduler_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if any(w in line.lower() for w in SCHEDULER_WORDS)]


def test_commands_start_no_timer_and_print_no_scheduler_line(demo_env: dict[str, str]) -> None:
    for command in (["db", "upgrade"], ["demo", "seed"], ["purge"], ["status"]):
        result = _run(demo_env, *command)
        assert result.returncode == 0, result.stdout + result.stderr
        assert _scheduler_lines(result.stdout + result.stderr) == [], command


def test_commands_in_process_leave_no_thread_behind(
    demo_env: dict[str, str], instance: Path
) -> None:
    before = {thread.ident for thread in threading.enumerate()}
    runner = CliRunner()
    for command in (["db", "upgrade"], ["demo", "seed"], ["purge"], ["status"]):
        result = runner.invoke(main, command, env=demo_env)
        assert result.exit_code == 0, result.output
    assert {thread.ident for thread in threading.enumerate()} == before


def _stop(process: subprocess.Popen[bytes], signum: int = signal.SIGTERM) -> int:
    process.send_signal(signum)
    try:
        return process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_worker_purges_within_seconds_and_exits_0_on_a_stop_signal(
    demo_env: dict[str, str], demo_database: Database, tmp_path: Path, signum: int
) -> None:
    place = factories.add_venue(demo_database.engine)
    expired = add_checkin(
        demo_database.engine, place, dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
    )
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log_file:
        worker = subprocess.Popen(
            [str(GASTREGISTER), "worker"], env=demo_env, stdout=log_file, stderr=log_file
        )
        try:
            seconds = wait_until(
                guard_seconds=90.0,
                condition=lambda: not checkin_exists(demo_database.engine, expired),
            )
            wait_until(lambda: finished_runs(demo_database) == 1, guard_seconds=90)
        finally:
            returncode = _stop(worker, signum)
    output = log_path.read_text()

    assert seconds < 30, output  # first run a few seconds after start, not 20-90 s
    assert returncode == 0, output
    assert "maintenance worker started: every 1 minutes" in output
    assert f"maintenance worker stopped ({signal.Signals(signum).name})" in output
    (run,) = job_runs(demo_database)
    assert run.succeeded and run.runner.endswith(":worker"), (run.details, output)


def test_serve_demo_deletes_on_schedule_from_its_web_workers(
    demo_env: dict[str, str], demo_database: Database, tmp_path: Path
) -> None:
    place = factories.add_venue(demo_database.engine)
    expired = add_checkin(
        demo_database.engine, place, dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
    )
    port = free_port()
    env = {**demo_env, "GASTREGISTER_WORKERS": "2", "GASTREGISTER_THREADS": "2"}
    log_path = tmp_path / "serve-demo.log"
    with log_path.open("wb") as log_file:
        server = subprocess.Popen(
            [str(GASTREGISTER), "serve-demo", "--port", str(port)],
            env=env,
            stdout=log_file,
            stderr=log_file,
            cwd=tmp_path,
        )
        try:
            wait_until(
                guard_seconds=90.0,
                condition=lambda: not checkin_exists(demo_database.engine, expired),
            )
            wait_until(lambda: finished_runs(demo_database) == 1, guard_seconds=90)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=30) as answer:
                health = answer.status
        finally:
            returncode = _stop(server)
    output = log_path.read_text()

    assert health == 200, output
    assert returncode == 0, output
    assert output.count("maintenance timer started in web worker") == 2, output
    runs = job_runs(demo_database)
    assert [run.succeeded for run in runs] == [True], "two workers, one run per interval"
    assert runs[0].runner.endswith(":web")
