"""Servers on 127.0.0.1 for tests and benchmarks, and waiting for them.

The app in a thread (`LiveServer`, with a clock a test can move), the app under
gunicorn as deployed (`gunicorn`), a mail server that keeps what it is given
(`SmtpInbox`), the repository's files for test pages in a browser
(`repository_server`), and the small things they share: a free port, a GET that
returns the status instead of raising, a bounded wait for a condition.
"""

from __future__ import annotations

import datetime as dt
import email
import email.message
import email.policy
import functools
import http.server
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Container, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from aiosmtpd.controller import Controller
from flask import Flask
from werkzeug.serving import make_server

from registration.database import Database

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A port nobody listens on now (for a server whose URL must be known before it starts)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def http_get(url: str, timeout: float = 10) -> tuple[int, str]:
    """Status and body of a GET; an error status is returned, not raised (its body is "")."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        error.close()
        return int(error.code), ""


def wait_until(
    condition: Callable[[], object], *, guard_seconds: float = 60.0, interval: float = 0.1
) -> float:
    """Seconds until `condition` held; the guard only stops a hang."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < guard_seconds, "condition not reached"
        time.sleep(interval)
    return time.monotonic() - started


# --- the app in a thread ------------------------------------------------------------------


class OffsetClock:
    """Real time plus an offset a test can move: for servers in another thread."""

    def __init__(self) -> None:
        self.offset = dt.timedelta(0)

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset

    def advance(self, delta: dt.timedelta) -> None:
        self.offset += delta


def _closed_after_body(app: Any) -> Any:
    """The app, its response closed right after the last byte, as gunicorn does.

    Werkzeug's development server closes a response only after draining the socket
    until the client hangs up, which a browser may put off for a long time; work a
    response does on close (mails that leave after the response, accounts/deferred_mail.py)
    then never happened within a test.
    """

    def wsgi(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        body = app(environ, start_response)
        try:
            yield from body
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()

    return wsgi


class LiveServer:
    """The real app on 127.0.0.1 in a thread (WebCrypto needs a secure context).

    It can be stopped and started again on the same port, to test what a phone does
    while the server is away.
    """

    def __init__(
        self,
        app: Flask,
        database: Database,
        clock: OffsetClock,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        self.app = app
        self.database = database
        self.clock = clock
        self.tls = tls
        self.port = 0
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._server = make_server(
            "127.0.0.1",
            self.port,
            _closed_after_body(self.app),
            threaded=True,
            ssl_context=self.tls,
        )
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


# --- the app under gunicorn -----------------------------------------------------------------


@dataclass(frozen=True)
class Gunicorn:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def gunicorn(
    env: Mapping[str, str],
    *,
    log: Path,
    cwd: Path,
    app: str = "gastregister.wsgi:app",
    ready_path: str = "/healthz",
    ready_statuses: Container[int] | None = (200,),
    guard_seconds: float = 60.0,
) -> Iterator[Gunicorn]:
    """`gunicorn -c python:gastregister.gunicorn_conf <app>` on a free port, as deployed,
    with `env` as its whole environment; yields once `ready_path` answers with one of
    `ready_statuses` (None: any answer), stops it with SIGTERM afterwards. Its output is
    appended to `log`, which an assertion quotes when it does not start."""
    port = free_port()
    environment = {**env, "GASTREGISTER_BIND": f"127.0.0.1:{port}"}
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "python:gastregister.gunicorn_conf", app],
            env=environment,
            cwd=cwd,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    server = Gunicorn(port, process)
    try:

        def ready() -> bool:
            assert process.poll() is None, log.read_text(errors="replace")[-3000:]
            try:
                status, _body = http_get(server.url + ready_path)
            except OSError:
                return False
            return ready_statuses is None or status in ready_statuses

        try:
            wait_until(ready, guard_seconds=guard_seconds, interval=0.2)
        except AssertionError as error:
            raise AssertionError(f"gunicorn did not start: {error}") from None
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


# --- mail ---------------------------------------------------------------------------------


class SmtpInbox:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self._arrived = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._arrived:
            self.messages.append(message)  # type: ignore[arg-type]
            self._arrived.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, to: str, timeout: float = 30) -> email.message.EmailMessage:
        """The first message to `to`, once it has arrived."""
        with self._arrived:
            found = self._arrived.wait_for(
                lambda: next((m for m in self.messages if m["To"] == to), None), timeout
            )
        assert found, f"no mail to {to}"
        return found


@contextmanager
def smtp_server() -> Iterator[tuple[SmtpInbox, int]]:
    """A mail server on 127.0.0.1 (the town's, in tests): its inbox and its port."""
    inbox = SmtpInbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


# --- the repository's files -------------------------------------------------------------


class _RepositoryFileHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files below the repository root, GET/HEAD only, no dot folders, and the
    in-memory `files` at their paths.

    Dot folders (.git, .venv) are refused so a test page can never depend on
    them, and nothing is logged, so served test data never reaches a log.
    """

    extensions_map = {  # noqa: RUF012 (class attribute of the standard library's handler)
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".json": "application/json",
    }

    def __init__(self, *args: Any, files: Mapping[str, bytes], **kwargs: Any) -> None:
        self.files = files
        super().__init__(*args, **kwargs)

    def send_head(self) -> BinaryIO | None:
        parts = urlsplit(self.path).path.split("/")
        if any(part.startswith(".") for part in parts if part):
            self.send_error(404)
            return None
        return super().send_head()

    def do_GET(self) -> None:
        body = self.files.get(self.path)
        if body is None:
            super().do_GET()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def translate_path(self, path: str) -> str:
        """/static/... is the package's static folder, as the app serves it."""
        if path.startswith("/static/"):
            path = "/registration" + path
        return super().translate_path(path)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def repository_server(files: Mapping[str, bytes] | None = None) -> Iterator[str]:
    """Base URL (http://127.0.0.1:<port>) of a read-only server for the repository:
    /static/... (registration/static), /tests/browser/pages/..., and `files` (path →
    bytes) for data a page fetches."""
    handler = functools.partial(
        _RepositoryFileHandler, directory=str(REPOSITORY_ROOT), files=dict(files or {})
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="repository-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
