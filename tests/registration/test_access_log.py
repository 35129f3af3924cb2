"""Access logs name the route, never the path (registration/access_log.py).

A verification link in the access log is a working log-in link for whoever reads
the log; an entrance screen's secret there lets anyone show the rotating code from
home. The system test found both logs (nginx, gunicorn) recording such paths.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from flask.testing import FlaskClient

from gastregister import gunicorn_conf
from registration.access_log import GUNICORN_ROUTE_ATOM, ROUTE_HEADER

GUNICORN = Path(sys.executable).with_name("gunicorn")


def test_every_response_names_its_rule_not_its_values(client: FlaskClient) -> None:
    cases = {
        "/konto/verify/SEKRET-TOKEN-123": "/konto/verify/<token>",
        "/c/SomeAreaCode": "/c/<code>",
        "/display/SEKRET-DISPLAY": "/display/<secret>",
        "/healthz": "/healthz",
        "/no/such/page%0aforged": "-",
    }
    for path, rule in cases.items():
        response = client.get(path)
        assert response.headers[ROUTE_HEADER] == rule, path


def test_the_gunicorn_format_has_the_route_and_no_path_query_or_address() -> None:
    fmt = gunicorn_conf.access_log_format
    assert GUNICORN_ROUTE_ATOM in fmt
    for atom in ("%(U)s", "%(r)s", "%(q)s", "%(h)s", "%({x-forwarded-for}i)s", "%(f)s"):
        assert atom not in fmt


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.close()
        return int(error.code)


def test_gunicorn_logs_the_rule_of_a_secret_link(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "GASTREGISTER_ENV": "demo",
        "GASTREGISTER_INSTANCE_PATH": str(tmp_path / "instance"),
        "GASTREGISTER_BIND": f"127.0.0.1:{port}",
        "GASTREGISTER_WORKERS": "1",
        "GASTREGISTER_SCHEDULER": "off",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(GUNICORN), "-c", "python:gastregister.gunicorn_conf", "gastregister.wsgi:app"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if _get(f"http://127.0.0.1:{port}/healthz") in (200, 503):
                        break
                except OSError:
                    assert time.monotonic() < deadline, log.read_text()
                    time.sleep(0.2)
            # No database here (not migrated): the answers may be 503; the log is the point.
            _get(f"http://127.0.0.1:{port}/konto/verify/SEKRET-TOKEN-123")
            _get(f"http://127.0.0.1:{port}/display/SEKRET-DISPLAY")
            assert _get(f"http://127.0.0.1:{port}/nothing%0aforged") == 404
        finally:
            server.terminate()
            server.wait(timeout=30)
    text = log.read_text()
    assert "SEKRET" not in text and "forged" not in text
    assert re.search(r'"GET /konto/verify/<token>" \d{3} ', text), text
    assert re.search(r'"GET /display/<secret>" \d{3} ', text), text
    assert re.search(r'"GET -" 404 ', text), text
