"""Logging that never carries an IP address or a request body.

Werkzeug's development request log prints the client address, so it is silenced;
gunicorn's access log format is set without `%(h)s` in gastregister/gunicorn_conf.py.
"""

from __future__ import annotations

import logging
import sys

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str) -> None:
    root = logging.getLogger()
    if not any(getattr(h, "_gastregister", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler._gastregister = True  # type: ignore[attr-defined]  # marks our own handler
        root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
