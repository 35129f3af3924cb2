"""Helpers for portal tests (imported by name; fixtures live in conftest.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask.testing import FlaskClient

from registration.models import Area, Business, Location, User

PASSWORD = "correct horse battery"
OFFICE_ZIP = "10115"


@dataclass
class Tenant:
    business: Business
    owner: User
    location: Location
    area: Area


def csrf_token(page: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
        r'name="csrf_token" value="([^"]+)"', page
    )
    assert match, "no CSRF token on the page"
    return match.group(1)


def login(client: FlaskClient, email: str, password: str = PASSWORD) -> None:
    page = client.get("/konto/login")
    response = client.post(
        "/konto/login",
        data={"csrf_token": csrf_token(page.text), "email": email, "password": password},
    )
    assert response.status_code == 303, response.text
