"""gunicorn's threads serve requests, not connections that have sent nothing yet.

gunicorn 24 and later hand a connection to a worker thread as soon as it is accepted,
and the thread waits up to `DEFAULT_WORKER_DATA_TIMEOUT` (5 s) for its first byte
(upstream issue benoitc/gunicorn#3634). A phone that opens a connection ahead of use
(browsers do, speculatively), a load generator's idle pool, or anyone with a socket
could hold every thread of a worker, and the guest who does send a request waits
5, 10, 15 s behind them. The check-in bench saw exactly that: single requests of
4.96 s and 9.95 s at a steady 200 check-ins/s.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from gunicorn.workers.gthread import DEFAULT_WORKER_DATA_TIMEOUT

from gastregister import gunicorn_conf
from tests.local_servers import Gunicorn, gunicorn

THREADS = 2


@contextmanager
def _one_worker(tmp_path: Path) -> Iterator[Gunicorn]:
    """The shipped settings with one worker of THREADS threads (demo mode, no database:
    /healthz answers 503 then, which is an answer all the same)."""
    env = {
        **os.environ,
        "GASTREGISTER_ENV": "demo",
        "GASTREGISTER_INSTANCE_PATH": str(tmp_path / "instance"),
        "GASTREGISTER_WORKERS": "1",
        "GASTREGISTER_THREADS": str(THREADS),
        "GASTREGISTER_SCHEDULER": "off",
        "GASTREGISTER_ACCESS_LOG": "off",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with gunicorn(env, log=tmp_path / "gunicorn.log", cwd=tmp_path, ready_statuses=None) as server:
        yield server


def _get(port: int, path: str = "/healthz", *, timeout: float = 30.0) -> tuple[bytes, float]:
    """Status line of a GET on a fresh connection, and the seconds it took."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        status_line = connection.makefile("rb").readline()
    return status_line, time.monotonic() - started


def test_the_shipped_settings_use_the_worker_that_waits_in_the_poller() -> None:
    assert gunicorn_conf.worker_class == "gastregister.gunicorn_worker.ThreadWorker"


@pytest.mark.engine_independent("gunicorn's connection handling; no database is read")
def test_idle_connections_do_not_hold_the_threads(tmp_path: Path) -> None:
    with _one_worker(tmp_path) as server, ExitStack() as idle:
        for _ in range(THREADS * 4):
            idle.enter_context(socket.create_connection(("127.0.0.1", server.port)))
        time.sleep(0.2)  # accepted by now
        status_line, seconds = _get(server.port)
        assert status_line.startswith(b"HTTP/1.1 "), status_line
        # Not a speed limit: behind the idle connections, the threads were free only
        # after waiting out gunicorn's data timeout for each of them.
        assert seconds < DEFAULT_WORKER_DATA_TIMEOUT, seconds


@pytest.mark.engine_independent("gunicorn's connection handling; no database is read")
def test_a_connection_that_sends_late_is_served_and_one_that_never_sends_is_closed(
    tmp_path: Path,
) -> None:
    with _one_worker(tmp_path) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as late:
            time.sleep(1.0)
            late.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert late.makefile("rb").readline().startswith(b"HTTP/1.1 ")
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as silent:
            started = time.monotonic()
            assert silent.recv(1) == b""  # closed by the server, not by the 30 s timeout
            assert time.monotonic() - started < 30


def test_a_worker_freezes_what_it_built_out_of_the_garbage_collector() -> None:
    """A full collection in a worker went through the whole app (90-370 ms, every thread
    held); after post_worker_init only what the worker builds later is collected."""
    import gc
    import types

    def plain_wsgi(_environ: object, _start_response: object) -> list[bytes]:
        return []

    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    try:
        gunicorn_conf.post_worker_init(types.SimpleNamespace(wsgi=plain_wsgi))
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
