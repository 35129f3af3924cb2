"""The data model of the whole service: accounts, businesses, locations, check-ins,
health offices with their keys, and the offices' trace requests with their packages.

One module, longer than the others, because the tables reference each other both ways
(a user or a location belongs to a health office; a trace request names a location and
its areas) and Alembic keeps one history for all of them. Both portals read it;
neither owns it.

Guest contact data has no column here. It exists only inside `CheckIn.envelope`,
sealed to the health office's public key; everything else is the minimum metadata
that counting and matching need (area, arrival, departure, persons, source). A
health office only ever holds public keys on the server; the private halves stay
in key files on the office's own machines (docs/FORMAT.md).
"""

from __future__ import annotations

import datetime as dt
import enum
import secrets
import uuid
from typing import Any

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registration.database import Base


def utcnow() -> dt.datetime:
    """Default for created-at columns: evaluated per row, never once at import."""
    return dt.datetime.now(dt.UTC)


def new_public_code() -> str:
    """An unguessable code for a QR URL: 128 bits, URL-safe, 22 characters."""
    return secrets.token_urlsafe(16)


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(
        cls,
        name=name,
        native_enum=False,
        validate_strings=True,
        length=32,
        values_callable=lambda members: [m.value for m in members],
    )


class Role(enum.StrEnum):
    BUSINESS_OWNER = "business_owner"
    BUSINESS_STAFF = "business_staff"
    HEALTH_OFFICE_STAFF = "health_office_staff"
    HEALTH_OFFICE_ADMIN = "health_office_admin"
    # The town's IT that runs the service: sees counts over all of it, never guest data.
    OPERATOR = "operator"


class CheckInMode(enum.StrEnum):
    STATIC = "static"
    ROTATING = "rotating"


class CheckInSource(enum.StrEnum):
    GUEST_PAGE = "guest_page"
    GUEST_FORM = "guest_form"
    STAFF_ENTRY = "staff_entry"


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
    # The owner's answers other than a release (registration.tracing.requests.TRANSITIONS):
    # declined is final; queried waits for the office's answer, which makes it requested again.
    DECLINED = "declined"
    QUERIED = "queried"


class TraceRequestNoteKind(enum.StrEnum):
    """What a note on a trace request is: the owner's reason or question, the office's answer."""

    DECLINE_REASON = "decline_reason"
    QUESTION = "question"
    ANSWER = "answer"


class User(UserMixin, Base):  # type: ignore[misc]  # UserMixin is untyped
    """An account of a business (owner/staff), of a health office (staff/admin), or of
    the operator (neither; created on the command line)."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(
            "(business_id IS NULL) OR (health_office_id IS NULL)", name="one_organisation"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(100), default="")
    role: Mapped[Role] = mapped_column(_enum(Role, "role"))
    business_id: Mapped[int | None] = mapped_column(
        ForeignKey("businesses.id", ondelete="CASCADE"), index=True
    )
    health_office_id: Mapped[int | None] = mapped_column(
        ForeignKey("health_offices.id", ondelete="CASCADE"), index=True
    )
    language: Mapped[str] = mapped_column(String(5), default="de")
    email_verified_at: Mapped[dt.datetime | None]
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enabled_at: Mapped[dt.datetime | None]
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    # Wrong passwords in a row from clients that are not one of the owner's devices;
    # from the fifth on, such clients wait until `login_throttled_until` (accounts.throttling).
    failed_login_count: Mapped[int] = mapped_column(default=0)
    login_throttled_until: Mapped[dt.datetime | None]
    session_version: Mapped[int] = mapped_column(default=1)
    # A TOTP secret being set up, kept here and never in the (signed, readable) cookie.
    pending_totp_secret: Mapped[str | None] = mapped_column(String(64))
    pending_totp_started_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[dt.datetime | None]
    disabled_at: Mapped[dt.datetime | None]

    business: Mapped[Business | None] = relationship(back_populates="members")
    health_office: Mapped[HealthOffice | None] = relationship(back_populates="users")
    recovery_codes: Mapped[list[RecoveryCode]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )
    login_sessions: Mapped[list[LoginSession]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )

    def get_id(self) -> str:
        """Flask-Login's session id: user id and session version (see accounts.loader)."""
        return f"{self.id}:{self.session_version}"

    @property
    def is_active(self) -> bool:
        return self.disabled_at is None


class RecoveryCode(Base):
    """One-time codes for a lost second factor; only their hashes are stored."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(255))
    used_at: Mapped[dt.datetime | None]

    user: Mapped[User] = relationship(back_populates="recovery_codes")


class LoginSession(Base):
    """One logged-in browser. Its cookie carries a random token whose hash alone is
    kept; deleting the row ends that session even for a copy of the cookie."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(back_populates="login_sessions")


class Business(Base):
    """A Betrieb: the organisation that owns locations and releases data."""

    __tablename__ = "businesses"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    contact_email: Mapped[str] = mapped_column(String(254), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    is_demo: Mapped[bool] = mapped_column(default=False)

    members: Mapped[list[User]] = relationship(back_populates="business")
    locations: Mapped[list[Location]] = relationship(back_populates="business")
    invitations: Mapped[list[StaffInvitation]] = relationship(
        back_populates="business", cascade="all, delete-orphan"
    )


class StaffInvitation(Base):
    """An owner's invitation for a staff member; the token is mailed, its hash kept."""

    __tablename__ = "staff_invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    business_id: Mapped[int] = mapped_column(
        ForeignKey("businesses.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(254))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    accepted_at: Mapped[dt.datetime | None]

    business: Mapped[Business] = relationship(back_populates="invitations")


class Location(Base):
    """A Standort: one address; its postal code decides the responsible health office."""

    __tablename__ = "locations"
    __table_args__ = (
        CheckConstraint("default_stay_minutes BETWEEN 15 AND 1440", name="default_stay_range"),
        CheckConstraint("capacity IS NULL OR capacity > 0", name="capacity_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    business_id: Mapped[int] = mapped_column(
        ForeignKey("businesses.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(64), unique=True, default=new_public_code)
    name: Mapped[str] = mapped_column(String(120))
    street: Mapped[str] = mapped_column(String(150))
    house_number: Mapped[str] = mapped_column(String(20))
    zip_code: Mapped[str] = mapped_column(String(10), index=True)
    city: Mapped[str] = mapped_column(String(100))
    health_office_id: Mapped[int | None] = mapped_column(
        ForeignKey("health_offices.id", ondelete="SET NULL"), index=True
    )
    default_stay_minutes: Mapped[int] = mapped_column(default=180)
    capacity: Mapped[int | None]
    checkin_mode: Mapped[CheckInMode] = mapped_column(
        _enum(CheckInMode, "checkin_mode"), default=CheckInMode.STATIC
    )
    display_secret: Mapped[str] = mapped_column(String(64), unique=True, default=new_public_code)
    rotating_secret: Mapped[bytes] = mapped_column(
        LargeBinary(32), default=lambda: secrets.token_bytes(32)
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    archived_at: Mapped[dt.datetime | None]

    business: Mapped[Business] = relationship(back_populates="locations")
    health_office: Mapped[HealthOffice | None] = relationship()
    areas: Mapped[list[Area]] = relationship(
        back_populates="location", order_by="Area.sort_key", cascade="all, delete-orphan"
    )


class Area(Base):
    """A Bereich or Tisch with its own QR code; the code can only create check-ins."""

    __tablename__ = "areas"

    id: Mapped[int] = mapped_column(primary_key=True)
    location_id: Mapped[int] = mapped_column(
        ForeignKey("locations.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(64), unique=True, default=new_public_code)
    name: Mapped[str] = mapped_column(String(120))
    sort_key: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    archived_at: Mapped[dt.datetime | None]

    location: Mapped[Location] = relationship(back_populates="areas")


class CheckIn(Base):
    """One visit: sealed contact data plus the plain metadata needed to count and match.

    The primary key includes `arrival` so that PostgreSQL can range-partition the
    table by arrival day and drop whole days at the end of the retention period.
    """

    __tablename__ = "checkins"
    __table_args__ = (
        UniqueConstraint("idempotency_key_hash", "arrival", name="uq_checkins_idempotency"),
        CheckConstraint("persons BETWEEN 1 AND 21", name="persons_range"),
        Index("ix_checkins_location_arrival", "location_id", "arrival"),
        Index("ix_checkins_area_open", "area_id", "departure"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    arrival: Mapped[dt.datetime] = mapped_column(primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id", ondelete="CASCADE"))
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="CASCADE"))
    departure: Mapped[dt.datetime | None]
    auto_departure: Mapped[dt.datetime]
    persons: Mapped[int] = mapped_column(default=1)
    source: Mapped[CheckInSource] = mapped_column(_enum(CheckInSource, "checkin_source"))
    key_id: Mapped[str] = mapped_column(String(64))
    envelope: Mapped[bytes] = mapped_column(LargeBinary)
    checkout_token_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    # HMAC of the client's idempotency key (checkin.storage.idempotency_key_hash), hex:
    # the key itself proves a retry and derives the check-out token, so it is not kept.
    idempotency_key_hash: Mapped[str] = mapped_column(String(64))
    # For the no-JavaScript form only, which seals anew on every submission: a digest
    # of the typed-in values keyed with the plain idempotency key, to tell a resend
    # from another guest's form (checkin.storage.form_submission_digest).
    submission_digest: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # A guest's check-in that reached the server after the late-arrival window (kept in
    # the phone's outbox): stored, and marked for the health office (checkin.rules).
    delivered_late: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Rotating mode: a keyed hash of an admission that had expired by the server's
    # clock when this check-in arrived (a phone that went offline after scanning).
    # Such an admission is spent once (checkin.rules.admission_for); None otherwise.
    admission_digest: Mapped[str | None] = mapped_column(String(64))


class AuditEvent(Base):
    """Append-only, hash-chained record of who did what; never holds contact data."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    action: Mapped[str] = mapped_column(String(64))
    actor_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    actor_label: Mapped[str] = mapped_column(String(254), default="")
    health_office_id: Mapped[int | None] = mapped_column(index=True)
    business_id: Mapped[int | None] = mapped_column(index=True)
    location_id: Mapped[int | None] = mapped_column(index=True)
    trace_request_id: Mapped[int | None] = mapped_column(index=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64), unique=True)


class JobRun(Base):
    """One run of a scheduled job, shown to the operator in `status` and /healthz."""

    __tablename__ = "job_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(64), index=True)
    started_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]
    succeeded: Mapped[bool] = mapped_column(default=False)
    runner: Mapped[str] = mapped_column(String(128), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class HealthCheck(Base):
    """A row that /healthz rewrites and commits on every probe.

    A `SELECT 1` succeeds on a database that can no longer store anything (a full
    disk, a read-only file system, a standby after a failover); a committed write is
    the only proof that check-ins can be stored.
    """

    __tablename__ = "health_checks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    checked_at: Mapped[dt.datetime]


# --- health offices, their keys and their requests ---------------------------------------


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
    declined_at: Mapped[dt.datetime | None]

    health_office: Mapped[HealthOffice] = relationship()
    location: Mapped[Location] = relationship()
    areas: Mapped[list[Area]] = relationship(secondary=trace_request_areas)
    notes: Mapped[list[TraceRequestNote]] = relationship(
        back_populates="trace_request",
        cascade="all, delete-orphan",
        order_by="TraceRequestNote.id",
    )
    packages: Mapped[list[ExportPackage]] = relationship(
        back_populates="trace_request", cascade="all, delete-orphan"
    )


class TraceRequestNote(Base):
    """A short text between owner and office on one request: why it was declined, a
    question back, the office's answer. Free text, so retention blanks it together with
    the request's reason (registration.retention.office_data)."""

    __tablename__ = "trace_request_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    trace_request_id: Mapped[int] = mapped_column(
        ForeignKey("trace_requests.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[TraceRequestNoteKind] = mapped_column(
        _enum(TraceRequestNoteKind, "trace_request_note_kind")
    )
    text: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    trace_request: Mapped[TraceRequest] = relationship(back_populates="notes")


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
    # Tens of megabytes for a busy location: loaded only for a download
    # (tracing.packages.current_package with_content), not for every page or
    # maintenance run that asks after the package's dates and counts.
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    download_count: Mapped[int] = mapped_column(default=0)
    first_downloaded_at: Mapped[dt.datetime | None]

    trace_request: Mapped[TraceRequest] = relationship(back_populates="packages")
