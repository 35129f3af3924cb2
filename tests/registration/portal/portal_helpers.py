"""What a portal test works with: a tenant (fixtures `make_tenant`, `owner_client`)."""

from __future__ import annotations

from dataclasses import dataclass

from registration.models import Area, Business, Location, User

OFFICE_ZIP = "10115"


@dataclass
class Tenant:
    business: Business
    owner: User
    location: Location
    area: Area
