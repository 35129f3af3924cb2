"""A staff entry typed in from a paper list counts as a check-in of its own source."""

from __future__ import annotations

import datetime as dt
import re
import uuid

from flask.testing import FlaskClient

import crypto
from registration.clock import FrozenClock, to_berlin
from registration.models import HealthOffice
from tests.metrics_support import scrape, value
from tests.registration.portal.portal_helpers import Tenant

ACCEPTED = "gastregister_checkins_accepted_total"
REFUSED = "gastregister_checkins_refused_total"


def test_staff_entries_are_counted_accepted_and_refused(
    owner_client: tuple[FlaskClient, Tenant], office: HealthOffice, clock: FrozenClock
) -> None:
    client, tenant = owner_client
    url = f"/portal/locations/{tenant.location.id}/staff-entry"
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', client.get(url).text)
    assert token
    headers = {"X-CSRFToken": token.group(1), "Accept": "application/json"}
    envelope = crypto.seal_contact_record(
        office.keys[0].public_spki,
        {"firstName": "Erika", "lastName": "Mustermann", "phone": "0301234567"},
        location_code=tenant.location.code,
        area_code=tenant.area.code,
    )
    arrival = to_berlin(clock.now() - dt.timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")
    entry = {
        "areaId": tenant.area.id,
        "envelope": crypto.encode_envelope(envelope),
        "persons": 1,
        "arrival": arrival,
        "idempotencyKey": uuid.uuid4().hex,
    }
    before = scrape(client)
    assert client.post(url, json=entry, headers=headers).status_code == 201
    assert client.post(url, json={**entry, "areaId": -1}, headers=headers).status_code == 422
    assert client.post(url, json={**entry, "envelope": "!"}, headers=headers).status_code == 422
    after = scrape(client)

    def grown(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grown(ACCEPTED, source="staff_entry") == 1
    assert grown(ACCEPTED, source="guest_page") == 0
    assert grown(REFUSED, reason="invalid") == 1
    assert grown(REFUSED, reason="invalid_envelope") == 1
