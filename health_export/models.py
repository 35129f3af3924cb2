"""The health-office side of the data model: offices, their keys, requests, packages.

A health office only ever holds public keys on the server; the private halves stay
in key files on the office's own machines (docs/FORMAT.md).
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import (
    CheckConstraint,
    Column,
    Enum,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registration.database import Base
from registration.models import Area, Location, User, utcnow


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(
        cls,
        name=name,
        native_enum=False,
        validate_strings=True,
        length=32,
        values_callable=lambda members: [m.value for m in members],
    )


class KeyState(enum.StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    RETIRED = "retired"


class TraceRequestState(enum.StrEnum):
    REQUESTED = "requested"
    RELEASED = "released"
    DOWNLOADED = "downloaded"
    CLOSED = "closed"
    ABORTED = "aborted"
    EXPIRED = "expired"


class HealthOffice(Base):
    """A Gesundheitsamt, responsible for the postal codes listed for it."""

    __tablename__ = "health_offices"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    email: Mapped[str] = mapped_column(String(254), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    is_demo: Mapped[bool] = mapped_column(default=False)

    postal_codes: Mapped[list[HealthOfficePostalCode]] = relationship(
        back_populates="health_office", cascade="all, delete-orphan"
    )
    keys: Mapped[list[HealthOfficeKey]] = relationship(
        back_populates="health_office", cascade="all, delete-orphan"
    )
    users: Mapped[list[User]] = relationship(back_populates="health_office")


class HealthOfficePostalCode(Base):
    """One postal code in an office's jurisdiction; a code has exactly one office."""

    __tablename__ = "health_office_postal_codes"

    postal_code: Mapped[str] = mapped_column(String(10), primary_key=True)
    health_office_id: Mapped[int] = mapped_column(
        ForeignKey("health_offices.id", ondelete="CASCADE"), index=True
    )

    health_office: Mapped[HealthOffice] = relationship(back_populates="postal_codes")


class HealthOfficeKey(Base):
    """A public key of a health office, activated only after a second person confirms it."""

    __tablename__ = "health_office_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    health_office_id: Mapped[int] = mapped_column(
        ForeignKey("health_offices.id", ondelete="CASCADE"), index=True
    )
    key_id: Mapped[str] = mapped_column(String(64), unique=True)
    public_spki: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[KeyState] = mapped_column(_enum(KeyState, "key_state"), default=KeyState.PENDING)
    label: Mapped[str] = mapped_column(String(100), default="")
    registered_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    activated_at: Mapped[dt.datetime | None]
    retired_at: Mapped[dt.datetime | None]

    health_office: Mapped[HealthOffice] = relationship(back_populates="keys")


trace_request_areas = Table(
    "trace_request_areas",
    Base.metadata,
    Column(
        "trace_request_id",
        Integer,
        ForeignKey("trace_requests.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("area_id", Integer, ForeignKey("areas.id", ondelete="CASCADE"), primary_key=True),
)


class TraceRequest(Base):
    """A health office's request for one location and one bounded time window."""

    __tablename__ = "trace_requests"
    __table_args__ = (CheckConstraint("window_start < window_end", name="window_order"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    health_office_id: Mapped[int] = mapped_column(
        ForeignKey("health_offices.id", ondelete="CASCADE"), index=True
    )
    location_id: Mapped[int] = mapped_column(
        ForeignKey("locations.id", ondelete="CASCADE"), index=True
    )
    window_start: Mapped[dt.datetime]
    window_end: Mapped[dt.datetime]
    case_reference: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[TraceRequestState] = mapped_column(
        _enum(TraceRequestState, "trace_request_state"), default=TraceRequestState.REQUESTED
    )
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    released_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    release_deadline: Mapped[dt.datetime]
    released_at: Mapped[dt.datetime | None]
    downloaded_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]
    aborted_at: Mapped[dt.datetime | None]
    expired_at: Mapped[dt.datetime | None]

    health_office: Mapped[HealthOffice] = relationship()
    location: Mapped[Location] = relationship()
    areas: Mapped[list[Area]] = relationship(secondary=trace_request_areas)
    packages: Mapped[list[ExportPackage]] = relationship(
        back_populates="trace_request", cascade="all, delete-orphan"
    )


class ExportPackage(Base):
    """The sealed records of one released request, as one downloadable file."""

    __tablename__ = "export_packages"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    trace_request_id: Mapped[int] = mapped_column(
        ForeignKey("trace_requests.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    record_count: Mapped[int] = mapped_column(default=0)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    download_count: Mapped[int] = mapped_column(default=0)
    first_downloaded_at: Mapped[dt.datetime | None]

    trace_request: Mapped[TraceRequest] = relationship(back_populates="packages")
