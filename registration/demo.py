"""Demo data for `make run`: a health office with a key pair, a business, a location.

The demo key file and its passphrase are written under `instance/demo/`, with a loud
warning in README-DEMO-ONLY.txt beside them and on the console: a private key next to the server is exactly what production must never
have, and the demo only does it so that the whole flow can be tried on one laptop.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pyotp
from sqlalchemy import select
from sqlalchemy.orm import Session

import crypto
from registration.accounts.passwords import hash_password
from registration.models import (
    Area,
    Business,
    HealthOffice,
    HealthOfficeKey,
    HealthOfficePostalCode,
    KeyState,
    Location,
    Role,
    User,
)
from registration.session import get_clock, get_session, get_settings

DEMO_POSTAL_CODE = "99999"
NEIGHBOUR_POSTAL_CODE = "99998"
DEMO_OFFICE = "Gesundheitsamt Demostadt (DEMO)"
NEIGHBOUR_OFFICE = "Gesundheitsamt Nachbarkreis (DEMO)"
OWNER_EMAIL = "inhaber@demo.gastregister.invalid"
OWNER_PASSWORD = "demo-inhaber-2026"  # noqa: S105 - printed demo login, demo mode only
OFFICE_EMAIL = "amt@demo.gastregister.invalid"
OFFICE_PASSWORD = "demo-amt-2026-pass"  # noqa: S105 - printed demo login, demo mode only
OFFICE2_EMAIL = "amt2@demo.gastregister.invalid"
OFFICE_TOTP_SECRET = "GASTREGISTERDEMOTOTPSECRET234567"  # noqa: S105 - demo mode only
DEMO_PASSPHRASE = "demo-passphrase-nur-zum-testen"  # noqa: S105 - demo mode only
WARNING = (
    "DEMO ONLY - NUR ZUR VORFÜHRUNG. This private key and passphrase sit next to the "
    "server so the demo works on one machine. In production the private key never "
    "reaches the server (docs/ARCHITECTURE.md)."
)


class DemoRefusedError(RuntimeError):
    """Demo data is never written into a production database."""


@dataclass
class DemoFacts:
    key_file: Path
    passphrase_file: Path
    fingerprint: str
    checkin_urls: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [
            "Demo data ready.",
            f"  Business owner:     {OWNER_EMAIL} / {OWNER_PASSWORD}",
            f"  Health office:      {OFFICE_EMAIL} / {OFFICE_PASSWORD}",
            f"    TOTP secret:      {OFFICE_TOTP_SECRET} (any authenticator app)",
            f"  Second office user: {OFFICE2_EMAIL} / {OFFICE_PASSWORD} (same TOTP secret)",
            f"  Demo key file:      {self.key_file}",
            f"  Key passphrase:     {self.passphrase_file}",
            f"  Key fingerprint:    {self.fingerprint}",
            *(f"  Guest check-in:     {url}" for url in self.checkin_urls),
            f"  {WARNING}",
        ]


def _demo_key(directory: Path, now: dt.datetime) -> tuple[Path, Path, bytes]:
    directory.mkdir(parents=True, exist_ok=True)
    key_file = directory / "demo-health-office.key.json"
    passphrase_file = directory / "demo-passphrase.txt"
    if not key_file.exists():
        private_key = crypto.generate_private_key()
        key_file.write_bytes(crypto.write_key_file(private_key, DEMO_PASSPHRASE, created=now))
    # The passphrase file holds the passphrase and nothing else, so it can be given to
    # `gastregister decrypt --passphrase-file` or pasted whole into the decryption page;
    # the warning lives in the README beside it and on the console. Written on every
    # seed, which also mends a file from an older demo that carried the warning too.
    passphrase_file.write_text(DEMO_PASSPHRASE + "\n", encoding="utf-8")
    (directory / "README-DEMO-ONLY.txt").write_text(WARNING + "\n", encoding="utf-8")
    metadata = crypto.read_key_file_metadata(key_file.read_bytes())
    return key_file, passphrase_file, metadata.public_spki


def _office(session: Session, name: str, postal_code: str) -> HealthOffice:
    office = session.scalar(select(HealthOffice).where(HealthOffice.name == name))
    if office is None:
        office = HealthOffice(
            name=name,
            email="gesundheitsamt@demo.gastregister.invalid",
            phone="+49 30 000000",
            address="Rathausplatz 1, " + postal_code + " Demostadt",
            is_demo=True,
        )
        session.add(office)
        session.flush()
    if session.get(HealthOfficePostalCode, postal_code) is None:
        session.add(HealthOfficePostalCode(postal_code=postal_code, health_office_id=office.id))
    return office


def _user(session: Session, email: str, password: str, role: Role, **links: int) -> User:
    user = session.scalar(select(User).where(User.email == email))
    if user is None:
        user = User(
            email=email,
            password_hash=hash_password(password),
            role=role,
            display_name=email.split("@")[0],
            email_verified_at=dt.datetime.now(dt.UTC),
            **links,
        )
        session.add(user)
    return user


def seed_demo() -> DemoFacts:
    """Seed (idempotently) one office with its key and staff, and one business with a location.

    Refused in production: the demo accounts' passwords are in this file, and the
    office's private key lies next to the server.
    """
    settings = get_settings()
    if settings.is_production:
        raise DemoRefusedError("demo data is only seeded with GASTREGISTER_ENV=demo or test")
    session = get_session()
    now = get_clock().now()
    key_file, passphrase_file, spki = _demo_key(settings.instance_path / "demo", now)
    office = _seed_office_side(session, now, spki)
    location = _seed_business_side(session, office)
    session.commit()
    base = settings.public_base_url
    return DemoFacts(
        key_file=key_file,
        passphrase_file=passphrase_file,
        fingerprint=crypto.format_fingerprint(crypto.key_id(spki)),
        checkin_urls=[f"{base}/c/{area.code}" for area in location.areas],
    )


def _seed_office_side(session: Session, now: dt.datetime, spki: bytes) -> HealthOffice:
    """The demo office and its neighbour, the demo key as active key, two staff with TOTP."""
    key_id = crypto.key_id(spki).hex()
    office = _office(session, DEMO_OFFICE, DEMO_POSTAL_CODE)
    _office(session, NEIGHBOUR_OFFICE, NEIGHBOUR_POSTAL_CODE)
    if session.scalar(select(HealthOfficeKey).where(HealthOfficeKey.key_id == key_id)) is None:
        session.add(
            HealthOfficeKey(
                health_office_id=office.id,
                key_id=key_id,
                public_spki=spki,
                state=KeyState.ACTIVE,
                label="Demo-Schlüssel",
                activated_at=now,
            )
        )
    for email, role in (
        (OFFICE_EMAIL, Role.HEALTH_OFFICE_ADMIN),
        (OFFICE2_EMAIL, Role.HEALTH_OFFICE_STAFF),
    ):
        staff = _user(session, email, OFFICE_PASSWORD, role, health_office_id=office.id)
        if staff.totp_secret is None:
            staff.totp_secret = OFFICE_TOTP_SECRET
            staff.totp_enabled_at = now
    pyotp.TOTP(OFFICE_TOTP_SECRET).now()  # fails early if the demo secret were not base32
    return office


def _seed_business_side(session: Session, office: HealthOffice) -> Location:
    """The demo business, its owner, and one location with two areas in the office's district."""
    business = session.scalar(select(Business).where(Business.is_demo.is_(True)))
    if business is None:
        business = Business(name="Café Demo", contact_email=OWNER_EMAIL, is_demo=True)
        session.add(business)
        session.flush()
    _user(session, OWNER_EMAIL, OWNER_PASSWORD, Role.BUSINESS_OWNER, business_id=business.id)

    location = session.scalar(select(Location).where(Location.business_id == business.id))
    if location is None:
        location = Location(
            business_id=business.id,
            name="Café Demo am Markt",
            street="Marktplatz",
            house_number="1",
            zip_code=DEMO_POSTAL_CODE,
            city="Demostadt",
            health_office_id=office.id,
            default_stay_minutes=120,
            capacity=40,
        )
        location.areas = [Area(name="Terrasse", sort_key=1), Area(name="Tisch 1", sort_key=2)]
        session.add(location)
    return location


def demo_banner(port: int) -> str:
    return "\n".join(
        [
            "",
            f"Gastregister demo: http://127.0.0.1:{port}/",
            f"  Business portal:  http://127.0.0.1:{port}/portal/",
            f"  Health office:    http://127.0.0.1:{port}/amt/",
            f"  Health check:     http://127.0.0.1:{port}/healthz",
            f"  Logins: owner {OWNER_EMAIL} / {OWNER_PASSWORD}; "
            f"office {OFFICE_EMAIL} / {OFFICE_PASSWORD}, TOTP {OFFICE_TOTP_SECRET}",
            "  Demo key file and passphrase: instance/demo/ (DEMO ONLY)",
            "",
        ]
    )
