"""Access logs name the route, never the path (registration/access_log.py).

A verification link in the access log is a working log-in link for whoever reads
the log; an entrance screen's secret there lets anyone show the rotating code from
home. The system test found both logs (nginx, gunicorn) recording such paths.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from gastregister import gunicorn_conf
from registration.access_log import GUNICORN_ROUTE_ATOM, ROUTE_HEADER
from tests.local_servers import gunicorn, http_get


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


@pytest.mark.engine_independent(
    "gunicorn in demo mode without a database: only its access log is read"
)
def test_gunicorn_logs_the_rule_of_a_secret_link(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "GASTREGISTER_ENV": "demo",
        "GASTREGISTER_INSTANCE_PATH": str(tmp_path / "instance"),
        "GASTREGISTER_WORKERS": "1",
        "GASTREGISTER_SCHEDULER": "off",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = tmp_path / "gunicorn.log"
    # No database here (not migrated): the answers may be 503; the log is the point.
    with gunicorn(env, log=log, cwd=tmp_path, ready_statuses=(200, 503)) as server:
        http_get(f"{server.url}/konto/verify/SEKRET-TOKEN-123")
        http_get(f"{server.url}/display/SEKRET-DISPLAY")
        assert http_get(f"{server.url}/nothing%0aforged")[0] == 404
    text = log.read_text()
    assert "SEKRET" not in text and "forged" not in text
    assert re.search(r'"GET /konto/verify/<token>" \d{3} ', text), text
    assert re.search(r'"GET /display/<secret>" \d{3} ', text), text
    assert re.search(r'"GET -" 404 ', text), text


@pytest.mark.engine_independent(
    "gunicorn in demo mode without a database: only its access log is read"
)
def test_gunicorn_keeps_no_access_log_when_nginx_does(tmp_path: Path) -> None:
    """GASTREGISTER_ACCESS_LOG=off (deploy/gastregister.env): nginx logs, gunicorn does not."""
    env = {
        **os.environ,
        "GASTREGISTER_ENV": "demo",
        "GASTREGISTER_INSTANCE_PATH": str(tmp_path / "instance"),
        "GASTREGISTER_WORKERS": "1",
        "GASTREGISTER_SCHEDULER": "off",
        "GASTREGISTER_ACCESS_LOG": "off",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = tmp_path / "gunicorn.log"
    with gunicorn(env, log=log, cwd=tmp_path, ready_statuses=(200, 503)) as server:
        http_get(f"{server.url}/konto/verify/SEKRET-TOKEN-123")
    assert "/konto/verify/<token>" not in log.read_text()
    assert not (tmp_path / "off").exists()
