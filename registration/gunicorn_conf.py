"""gunicorn settings: `gunicorn -c python:registration.gunicorn_conf registration.wsgi:app`.

Shipped inside the package, so an installed wheel runs with exactly these settings.

The access log never contains the client address (%(h)s) nor the query string,
only time, method, path, status, size and duration.
"""

import multiprocessing
import os

bind = os.environ.get("GASTREGISTER_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GASTREGISTER_WORKERS", str(multiprocessing.cpu_count() * 2)))
worker_class = "gthread"
threads = int(os.environ.get("GASTREGISTER_THREADS", "4"))
timeout = 30
graceful_timeout = 20
keepalive = 5
preload_app = False
forwarded_allow_ips = os.environ.get("GASTREGISTER_FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = os.environ.get("GASTREGISTER_ACCESS_LOG", "-")
access_log_format = '%(t)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
errorlog = "-"
loglevel = os.environ.get("GASTREGISTER_LOG_LEVEL", "info").lower()
