"""The production-shaped stack, started once for the whole system test.

`make systemtest` runs this; `.ci/run` runs it on every change. It needs root (a
PostgreSQL cluster run as the postgres user, nginx as on a Debian server), nginx,
PostgreSQL's server binaries, redis-server, openssl and Chromium: `.ci/run`
installs them. Nothing is skipped: a missing part is an error.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, sync_playwright

from systemtest.stack import (
    REPOSITORY,
    Postgres,
    Service,
    Stack,
    free_port,
    install_wheel,
    port_open,
    wait_until,
)

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
RESULTS = REPOSITORY / "systemtest" / "results"
FIGURES: dict[str, Any] = {}


@pytest.fixture(scope="session")
def root() -> Iterator[Path]:
    """A folder the postgres and www-data users can enter (pytest's own are private)."""
    if os.geteuid() != 0:
        pytest.fail("the system test runs the stack as a server would: it needs root")
    folder = Path(tempfile.mkdtemp(prefix="gastregister-system-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def installed_venv(root: Path) -> Path:
    """The wheel, installed into a fresh virtualenv outside the checkout."""
    return install_wheel(root)


@pytest.fixture(scope="session")
def stack(root: Path, installed_venv: Path, request: pytest.FixtureRequest) -> Iterator[Stack]:
    postgres = Postgres(root / "postgresql", free_port())
    postgres.init()
    postgres.start()
    # docs/OPERATIONS.md: the service's own role owns its database.
    postgres.psql("CREATE ROLE gastregister LOGIN")
    postgres.psql("CREATE DATABASE gastregister OWNER gastregister")
    redis_port, smtp_port = free_port(), free_port()
    maildir = root / "mail"
    stack = Stack(
        root=root,
        venv=installed_venv,
        dev_python=Path(sys.executable),
        postgres=postgres,
        redis_port=redis_port,
        smtp_port=smtp_port,
        https_port=free_port(),
        http_port=free_port(),
        app_ports=[free_port(), free_port()],
        maildir=maildir,
    )
    redis = Service(
        "redis",
        [
            "redis-server",
            "--port",
            str(redis_port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(root),
        ],
        root / "logs" / "redis.log",
    )
    smtp = Service(
        "smtp",
        [
            sys.executable,
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            f"127.0.0.1:{smtp_port}",
            "-c",
            "aiosmtpd.handlers.Mailbox",
            str(maildir),
        ],
        root / "logs" / "smtp.log",
    )
    try:
        for service in (redis, smtp):
            service.start()
            stack.services[service.name] = service
        wait_until(lambda: port_open(redis_port), 20, "Redis")
        wait_until(lambda: port_open(smtp_port), 20, "SMTP server")
        stack.gastregister("db", "upgrade")
        stack.start_app_host("app1")
        stack.start_app_host("app2")
        stack.start_worker()
        stack.start_nginx()
        yield stack
    finally:
        stack.stop_all()
        if request.session.testsfailed:
            _keep_logs(root)


def _keep_logs(root: Path) -> None:
    """Failed: keep every log for the CI output and print the end of each."""
    target = RESULTS / "logs"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True, exist_ok=True)
    logs = [*root.glob("logs/*.log"), root / "postgresql" / "postgresql.log"]
    for log in logs:
        if log.exists():
            shutil.copy(log, target / log.name)
            tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-40:]
            print(f"\n----- {log.name} (last lines) -----", *tail, sep="\n")


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    if not Path("/usr/bin/chromium").exists():
        pytest.fail("/usr/bin/chromium is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The measured figures (faults, recovery, health answers), also in results/figures.json."""
    if not FIGURES:
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "figures.json").write_text(json.dumps(FIGURES, indent=2), encoding="utf-8")
    terminalreporter.section("system test figures")
    for name, values in FIGURES.items():
        terminalreporter.write_line(f"{name}: {json.dumps(values)}")
