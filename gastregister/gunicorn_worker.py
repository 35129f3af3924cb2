"""gunicorn's threaded worker, with new connections waiting in its poller, not in a thread.

Since gunicorn 24 the gthread worker hands every accepted connection straight to a
thread, which then waits up to 5 s for the first byte (gunicorn.workers.gthread,
`DEFAULT_WORKER_DATA_TIMEOUT`) before giving it back to the poller. Connections that
are open but silent (a browser's speculative preconnect, a load generator's idle
pool, anyone with a socket) so hold every thread of a worker, and the guest whose
request did arrive waits 5, 10, 15 s behind them: the check-in bench's single 4.96 s
and 9.95 s requests at a steady 200/s. Upstream: benoitc/gunicorn#3634, fixed the same
way in the open pull request #3635.

Here, as in gunicorn 21-23, an accepted connection goes to the poller first and reaches
a thread only once it is readable. One that sends nothing is closed after the
keep-alive timeout (gunicorn's own `murder_pending`), like a kept-alive connection that
falls silent. Everything else is gunicorn's: this class only overrides `accept`, and
tests/gastregister/test_gunicorn_worker.py runs it under the pinned version.
"""

from __future__ import annotations

import errno
import selectors
import socket
import time
from functools import partial

from gunicorn.workers import gthread


class ThreadWorker(gthread.ThreadWorker):  # type: ignore[misc]  # gunicorn is untyped
    """gthread, except that a new connection waits for its first byte in the poller."""

    def accept(self, listener: socket.socket) -> None:
        """Accept one connection and wait for its request in the poller, like a deferred
        connection (`finish_request`'s `_DEFER` branch): `pending_conns` stays sorted by
        timeout because every entry gets now + keepalive."""
        try:
            client_sock, client_addr = listener.accept()
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        conn = gthread.TConn(self.cfg, client_sock, client_addr, listener.getsockname())
        conn.timeout = time.monotonic() + self.cfg.keepalive
        self.pending_conns.append(conn)
        self.poller.register(
            conn.sock, selectors.EVENT_READ, partial(self.on_pending_socket_readable, conn)
        )
