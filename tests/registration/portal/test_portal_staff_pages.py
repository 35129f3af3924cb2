"""Staff find the staff entry on their dashboard, and the browser does not fill the
staff entry with the staff member's own details."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import Flask

from tests.forms import log_in
from tests.registration.portal.portal_helpers import Tenant

PERSONAL_TOKENS = (
    "given-name",
    "family-name",
    "street-address",
    "postal-code",
    "address-level2",
    "tel",
    "email",
)


def test_staff_dashboard_links_to_the_staff_entry_of_each_location(
    app: Flask, make_tenant: Callable[..., Tenant]
) -> None:
    tenant = make_tenant("Staffed", staff=True)
    client = app.test_client()
    log_in(client, tenant.owner.email)
    page = client.get("/portal/").text
    assert f'href="/portal/locations/{tenant.location.id}/staff-entry"' in page


def test_staff_entry_turns_the_browsers_autofill_off(
    app: Flask, make_tenant: Callable[..., Tenant]
) -> None:
    tenant = make_tenant("Autofill", staff=True)
    client = app.test_client()
    log_in(client, tenant.owner.email)
    page = client.get(f"/portal/locations/{tenant.location.id}/staff-entry")
    assert page.status_code == 200
    form = re.search(r'<form id="staff-entry-form"[^>]*>', page.text)
    assert form and 'autocomplete="off"' in form.group(0)
    tokens = set(re.findall(r'autocomplete="([^"]+)"', page.text))
    assert tokens == {"off"}, tokens
    assert not tokens & set(PERSONAL_TOKENS)


def test_the_guest_page_keeps_its_autofill(app: Flask, make_tenant: Callable[..., Tenant]) -> None:
    tenant = make_tenant("Guest")
    page = app.test_client().get(f"/c/{tenant.area.code}").text
    assert 'autocomplete="given-name"' in page and 'autocomplete="street-address"' in page
