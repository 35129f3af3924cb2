"""Faults made for real, without touching the shared servers: a TCP relay that can
freeze like a stopped PostgreSQL, and a small tmpfs that can fill up or turn read-only."""

from __future__ import annotations

import contextlib
import os
import select
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import Engine, func, make_url
from sqlalchemy import select as sql_select
from sqlalchemy.orm import Session

from registration.checkin.storage import KEY_BODY_DIGITS, idempotency_key_digest
from registration.config import DEMO_SECRET_KEY, Settings
from registration.models import CheckIn


def checkins_with_key(
    engine: Engine, idempotency_key: str, settings: Settings | None = None
) -> int:
    """Check-ins stored under this key (hashed with the test settings' secret, as
    fault_app's service hashes it)."""
    settings = settings or Settings(environment="test", secret_key=DEMO_SECRET_KEY)
    with Session(engine) as session:
        return int(
            session.scalar(
                sql_select(func.count())
                .select_from(CheckIn)
                .where(
                    # The stored form ends with the digest's first KEY_BODY_DIGITS digits.
                    func.substr(CheckIn.idempotency_key_hash, 9)
                    == idempotency_key_digest(settings, idempotency_key)[:KEY_BODY_DIGITS]
                )
            )
            or 0
        )


class FreezableRelay:
    """Forwards TCP between the app and PostgreSQL; `freeze()` stops forwarding bytes but
    keeps every socket open, exactly what a SIGSTOPped server looks like from the
    client (the kernel still accepts connections and ACKs data, nobody answers)."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self._thawed = threading.Event()
        self._thawed.set()
        self._closing = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def url_for(self, database_url: str) -> str:
        """The same database, reached through this relay."""
        return (
            make_url(database_url)
            .set(host="127.0.0.1", port=self.port)
            .render_as_string(hide_password=False)
        )

    def start(self) -> FreezableRelay:
        self._spawn(self._accept_loop)
        return self

    def freeze(self) -> None:
        self._thawed.clear()

    def thaw(self) -> None:
        self._thawed.set()

    def close(self) -> None:
        self._closing.set()
        self._thawed.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                sock.close()

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self._sockets.append(client)
            self._spawn(self._pump, client)

    def _pump(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            client.close()
            return
        with self._lock:
            self._sockets.append(upstream)
        peer = {client: upstream, upstream: client}
        while not self._closing.is_set():
            if not self._thawed.wait(0.05):
                continue  # frozen: read nothing, send nothing, keep the sockets open
            try:
                readable, _, _ = select.select(list(peer), [], [], 0.05)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        client.close()
                        upstream.close()
                        return
                    peer[sock].sendall(data)
            except OSError:
                client.close()
                upstream.close()
                return


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str = "4m") -> Iterator[Path]:
    """A real, small file system of its own (we are root on the test machines)."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill_up(directory: Path) -> Path:
    """Write a file until the file system is full; delete it to give the space back."""
    filler = directory / "filler.bin"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 1 << 16, 1 << 12, 1):
            block = b"\0" * size
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, block)
    finally:
        os.close(fd)
    return filler


def remount(path: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(path)], check=True)
