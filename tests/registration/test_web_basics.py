"""Errors, headers, language and health: the web basics every page relies on."""

from __future__ import annotations

import json
import logging
import time

import pytest
from flask import Flask, abort, request
from flask.testing import FlaskClient
from sqlalchemy.exc import OperationalError

from gastregister import create_app
from registration.config import Settings
from registration.database import Database
from registration.errors import ApiError
from registration.extensions import csrf


@pytest.fixture
def probe_app(app: Flask) -> Flask:
    """The real app plus a few routes that fail on purpose."""

    @csrf.exempt
    @app.post("/api/v1/probe")
    def api_probe() -> dict[str, object]:
        body = request.get_json()
        if not isinstance(body, dict):
            raise ApiError(400, "invalid_json", "Body must be a JSON object.")
        return {"ok": True}

    @app.post("/probe/form")
    def form_probe() -> str:
        return str(len(request.form))

    @app.get("/probe/boom")
    def boom() -> str:
        raise RuntimeError("Erika Mustermann, Hauptstraße 5")

    @app.get("/probe/db-down")
    def db_down() -> str:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    @app.get("/probe/<int:status>")
    def status(status: int) -> str:
        abort(status)

    return app


@pytest.fixture
def probe(probe_app: Flask) -> FlaskClient:
    return probe_app.test_client()


@pytest.mark.parametrize("status", [400, 403, 404, 405, 409, 413, 429, 500, 503])
def test_every_error_status_has_german_page_and_english_json(
    probe: FlaskClient, status: int
) -> None:
    page = probe.get(f"/probe/{status}")
    assert page.status_code == status
    assert page.content_type.startswith("text/html")
    assert '<html lang="de">' in page.text
    assert "Traceback" not in page.text

    api = probe.get(
        f"/probe/{status}", headers={"Accept": "application/json", "Accept-Language": "en"}
    )
    assert api.status_code == status
    error = api.get_json()["error"]
    assert error["code"]
    assert error["message"] and error["message"].isascii()


def test_language_follows_browser_then_explicit_switch(client: FlaskClient) -> None:
    assert "Diese Seite gibt es nicht" in client.get("/missing").text
    english = client.get("/missing", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert "This page does not exist" in english.text
    switched = client.get("/lang/en?next=/missing")
    assert switched.status_code == 303
    assert switched.headers["Location"] == "/missing"
    assert "This page does not exist" in client.get("/missing").text
    client.get("/lang/de")
    assert (
        "Diese Seite gibt es nicht"
        in client.get("/missing", headers={"Accept-Language": "en"}).text
    )


@pytest.mark.parametrize(
    "target",
    ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"],
)
def test_language_switch_is_not_an_open_redirect(client: FlaskClient, target: str) -> None:
    response = client.get("/lang/en", query_string={"next": target})
    assert response.headers["Location"] == "/"


def test_security_headers_on_pages_errors_and_json(probe: FlaskClient) -> None:
    for response in (probe.get("/"), probe.get("/missing"), probe.get("/healthz")):
        csp = response.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert "http:" not in csp and "https:" not in csp
        # Our own origin gets the Referer (CSRF's same-origin check needs it over HTTPS,
        # tests/browser/test_https_forms.py); other sites get nothing.
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "Strict-Transport-Security" not in response.headers


def test_hsts_when_served_over_https(client: FlaskClient) -> None:
    response = client.get("/", headers={"X-Forwarded-Proto": "https"})
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_no_inline_script_in_pages(client: FlaskClient) -> None:
    page = client.get("/").text
    assert "<script>" not in page and "onclick" not in page


def test_unknown_method_is_405_with_allow(client: FlaskClient) -> None:
    response = client.delete("/healthz")
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]


def test_body_over_limit_is_413(probe: FlaskClient, app: Flask) -> None:
    limit = app.config["MAX_CONTENT_LENGTH"]
    response = probe.post("/api/v1/probe", data=b"x" * (limit + 1), content_type="application/json")
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "too_large"


def test_broken_json_and_wrong_content_type_are_400(probe: FlaskClient) -> None:
    broken = probe.post("/api/v1/probe", data=b"{not json", content_type="application/json")
    assert broken.status_code == 400
    assert broken.get_json()["error"]["code"] in {"bad_request", "invalid_json"}
    text = probe.post("/api/v1/probe", data=b"hello", content_type="text/plain")
    assert text.status_code in {400, 415}
    assert "error" in text.get_json()


def test_csrf_protects_forms(probe: FlaskClient) -> None:
    response = probe.post("/probe/form", data={"a": "b"})
    assert response.status_code == 400
    assert "abgelaufen" in response.text


def test_500_hides_details_and_logs_no_message(
    probe: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        response = probe.get("/probe/boom")
    assert response.status_code == 500
    assert "Mustermann" not in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" in caplog.text
    assert "Mustermann" not in caplog.text


def test_database_outage_is_503_with_retry_after(probe: FlaskClient) -> None:
    response = probe.get("/probe/db-down", headers={"Accept": "application/json"})
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert response.get_json()["error"]["code"] == "unavailable"


def test_healthz_ok(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["reasons"] == []
    assert body["checks"] == {"database": "ok", "disk": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


def test_healthz_503_when_database_unreachable(settings: Settings) -> None:
    unreachable = Database("postgresql://postgres@127.0.0.1:1/none?connect_timeout=1")
    app = create_app(settings, database=unreachable)
    started = time.monotonic()
    response = app.test_client().get("/healthz")
    assert time.monotonic() - started < 2.0
    assert response.status_code == 503
    body = json.loads(response.data)
    assert body["status"] == "unavailable"
    assert body["reasons"] == ["database_unreachable"]
    assert body["checks"]["database"] == "unreachable"


def test_session_cookie_flags(app: Flask) -> None:
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_secure_cookies_in_production(settings: Settings) -> None:
    production = Settings.from_mapping(
        {"environment": "production", "secret_key": "x" * 40, "mail_server": "127.0.0.1"},
        base=settings,
    )
    app = create_app(production)
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["REMEMBER_COOKIE_SECURE"] is True


def test_production_says_loudly_when_rate_limits_are_per_process(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    values = {
        "environment": "production",
        "secret_key": "x" * 40,
        "mail_server": "127.0.0.1",
        "ratelimit_enabled": True,
    }
    with caplog.at_level(logging.WARNING, logger="gastregister"):
        create_app(Settings.from_mapping(values, base=settings))
    assert "counted per process" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="gastregister"):
        shared = {**values, "ratelimit_storage_url": "redis://127.0.0.1:6379/0"}
        create_app(Settings.from_mapping(shared, base=settings))
    assert "counted per process" not in caplog.text
