"""gunicorn settings: `gunicorn -c python:gastregister.gunicorn_conf gastregister.wsgi:app`.

Shipped inside the package, so an installed wheel runs with exactly these settings.

The access log never contains the client address (%(h)s), the path or the query
string: only time, method, the URL rule that served the request (never its values,
registration.access_log), status, size and duration.

Web workers run no maintenance timer unless GASTREGISTER_SCHEDULER=web (the demo);
production runs `gastregister worker` as a service of its own.
"""

import gc
import multiprocessing
import os
from typing import Any

from registration.access_log import GUNICORN_ROUTE_ATOM

bind = os.environ.get("GASTREGISTER_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GASTREGISTER_WORKERS", str(multiprocessing.cpu_count() * 2)))
# gthread with one change: a connection waits for its first byte in the worker's poller,
# not in one of its threads (gastregister/gunicorn_worker.py, gunicorn issue #3634).
worker_class = "gastregister.gunicorn_worker.ThreadWorker"
threads = int(os.environ.get("GASTREGISTER_THREADS", "4"))
timeout = 30
graceful_timeout = 20
keepalive = 5
preload_app = False
forwarded_allow_ips = os.environ.get("GASTREGISTER_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# "off" when nginx keeps the access log (deploy/gastregister.env): formatting a line per
# request was about a tenth of a check-in's CPU time in gunicorn, for a second copy of
# what nginx already records (route name, status, size, duration).
_access_log = os.environ.get("GASTREGISTER_ACCESS_LOG", "-")
accesslog = None if _access_log == "off" else _access_log
access_log_format = f'%(t)s "%(m)s {GUNICORN_ROUTE_ATOM}" %(s)s %(B)s %(M)sms'
errorlog = "-"
loglevel = os.environ.get("GASTREGISTER_LOG_LEVEL", "info").lower()


# Prometheus multiprocess mode (registration/metrics.py), active when the service's
# environment sets PROMETHEUS_MULTIPROC_DIR. Imported in the hooks, not at the top, so
# gunicorn reads these settings without loading the application.


def on_starting(server: Any) -> None:
    """Empty the metrics folder before the first worker starts: files of a previous
    run would otherwise be added to this run's counts."""
    from registration.metrics import clear_multiprocess_directory

    clear_multiprocess_directory()


def child_exit(server: Any, worker: Any) -> None:
    """Drop a dead worker's gauges (its connection pool); its counters stay summed."""
    from registration.metrics import worker_exited

    worker_exited(worker.pid)


def post_worker_init(worker: Any) -> None:
    """On SQLite, this worker's thread checkpoints the WAL, not its guests' commits
    (registration.database.sqlite.Checkpointer). Web mode only: this worker also runs
    the maintenance timer (registration.retention.scheduler).

    Last, everything the worker has built so far (the app, its modules, templates and
    engine) is frozen out of the garbage collector: a full collection went through all
    of it and held every thread of the worker for 90 to 370 ms, the check-in bench's
    slowest requests at a steady 200/s. Frozen objects stay alive, as they would
    anyway; later ones are collected as before.
    """
    from registration.retention.scheduler import start_web_timer

    extensions = getattr(worker.wsgi, "extensions", {})
    database = extensions.get("gastregister.db") if isinstance(extensions, dict) else None
    if database is not None:
        database.checkpoint_in_background()
    start_web_timer(worker.wsgi)
    gc.collect()
    gc.freeze()


def worker_exit(server: Any, worker: Any) -> None:
    """Stop this worker's timer, if it runs one, so a run ends at a batch boundary."""
    from registration.retention.scheduler import stop_web_timer

    stop_web_timer()
