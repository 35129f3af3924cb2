"""Posting the service's HTML forms from a Flask test client, CSRF token included."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.factories import PASSWORD


def csrf_token(page: str) -> str:
    """The CSRF token of the (first) form on `page`."""
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
        r'name="csrf_token" value="([^"]+)"', page
    )
    assert match, "no CSRF token on the page"
    return match.group(1)


def post_form(
    client: FlaskClient, page_url: str, data: dict[str, str], action: str | None = None
) -> TestResponse:
    """Open the form's page, then post `data` with the page's token (to `action`, if the
    form posts elsewhere)."""
    page = client.get(page_url)
    return client.post(action or page_url, data={"csrf_token": csrf_token(page.text), **data})


def log_in(client: FlaskClient, email: str, password: str = PASSWORD) -> None:
    """Log in with password (an account without two factors)."""
    response = post_form(client, "/konto/login", {"email": email, "password": password})
    assert response.status_code == 303, response.text
