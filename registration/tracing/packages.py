"""Export packages: the one file a health office downloads for a released request.

The file is not encrypted as a whole — every contact record in it is sealed to the
office's key — but it carries a SHA-256 of its content, so a truncated download or
a changed byte is noticed before anything is opened. Layout (docs/FORMAT.md,
"Export package"): one header line of JSON, a line feed, then the content JSON,
whose exact bytes the header's length and hash describe.

This is the server's half: building a package when the request is released and
handing it out. Reading one is the office's half (health_export.packages), which the
offline CLI uses on a machine without the server; both follow the constants here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session, undefer

import crypto
from crypto import b64url_encode
from crypto.package_format import PACKAGE_FORMAT, PACKAGE_VERSION
from registration.audit import record_event
from registration.clock import Clock
from registration.config import Settings
from registration.database import BINARY_RESULTS
from registration.models import (
    Area,
    CheckIn,
    CheckInSource,
    ExportPackage,
    TraceRequest,
    TraceRequestState,
    User,
)
from registration.tracing.errors import PackageUnavailableError
from registration.tracing.notices import notify_request_change
from registration.tracing.requests import change_state, matching_conditions

MEDIA_TYPE = "application/vnd.gastregister.export"
FILE_SUFFIX = ".grexport"


def iso_utc(moment: dt.datetime) -> str:
    """Times in a package: the format's one time form (crypto.format_utc)."""
    return crypto.format_utc(moment)


# --- building --------------------------------------------------------------------------


def package_content(
    session: Session,
    clock: Clock,
    trace_request: TraceRequest,
    package_id: uuid.UUID,
    expires_at: dt.datetime,
) -> tuple[bytes, int]:
    """The content JSON (bytes) and the number of records in it."""
    location = trace_request.location
    office = trace_request.health_office
    records = _package_records(session, trace_request)
    content = {
        "package": {
            "id": str(package_id),
            "createdAt": iso_utc(clock.now()),
            "expiresAt": iso_utc(expires_at),
        },
        "request": {
            "id": trace_request.id,
            "healthOffice": {"id": office.id, "name": office.name},
            "caseReference": trace_request.case_reference,
            "windowStart": iso_utc(trace_request.window_start),
            "windowEnd": iso_utc(trace_request.window_end),
            "areas": [area.code for area in trace_request.areas],
            "releasedAt": iso_utc(trace_request.released_at) if trace_request.released_at else None,
        },
        "location": {
            "code": location.code,
            "name": location.name,
            "street": location.street,
            "houseNumber": location.house_number,
            "zipCode": location.zip_code,
            "city": location.city,
        },
        "areas": [{"id": area.id, "code": area.code, "name": area.name} for area in location.areas],
        "records": records,
    }
    text = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8"), len(records)


def _package_records(session: Session, trace_request: TraceRequest) -> list[dict[str, Any]]:
    """The matching visits as package records, oldest first.

    Columns are selected directly rather than as ORM objects, on the session's
    connection rather than through the session, in binary on PostgreSQL
    (database.BINARY_RESULTS): a busy location's package holds tens of thousands of
    envelopes, and the ORM's row loading was a sixth of the build.
    """
    rows = session.connection().execute(
        select(
            Area.code,
            CheckIn.arrival,
            CheckIn.departure,
            CheckIn.auto_departure,
            CheckIn.persons,
            CheckIn.source,
            CheckIn.key_id,
            CheckIn.envelope,
            CheckIn.delivered_late,
        )
        .join(Area, Area.id == CheckIn.area_id)
        .where(*matching_conditions(trace_request))
        .order_by(CheckIn.arrival, CheckIn.id)
        .execution_options(**{BINARY_RESULTS: True})
    )
    return [_package_record(*row) for row in rows]


def _package_record(
    area_code: str,
    arrival: dt.datetime,
    departure: dt.datetime | None,
    auto_departure: dt.datetime,
    persons: int,
    source: CheckInSource,
    key_id: str,
    envelope: bytes,
    delivered_late: bool,
) -> dict[str, Any]:
    """One record of docs/FORMAT.md §11.1; `deliveredLate` only where it is true, so a
    package without late deliveries reads as before in every reader."""
    record: dict[str, Any] = {
        "area": area_code,
        "arrival": iso_utc(arrival),
        "departure": iso_utc(departure) if departure is not None else None,
        "autoDeparture": iso_utc(auto_departure),
        "persons": persons,
        "source": source.value,
        "keyId": key_id,
        "envelope": b64url_encode(envelope),
    }
    if delivered_late:
        record["deliveredLate"] = True
    return record


def frame(content: bytes) -> tuple[bytes, str]:
    """Header line + content; returns the file and the content's SHA-256 (hex)."""
    digest = hashlib.sha256(content).hexdigest()
    header = {
        "format": PACKAGE_FORMAT,
        "version": PACKAGE_VERSION,
        "contentLength": len(content),
        "contentSha256": digest,
    }
    return json.dumps(header, separators=(",", ":")).encode("ascii") + b"\n" + content, digest


def build_export_package(
    session: Session, clock: Clock, settings: Settings, trace_request: TraceRequest
) -> ExportPackage:
    """Seal the matching visits of a released request into a package; the caller commits.

    Call this when the request is released (the visits are then still inside the
    retention period); the package expires `export_package_days` after the release.
    """
    if trace_request.state not in (TraceRequestState.RELEASED, TraceRequestState.DOWNLOADED):
        raise PackageUnavailableError(_unavailable_message("not_released"))
    now = clock.now()
    package_id = uuid.uuid4()
    # Counted from the release, so building late (at the first download) gains no time.
    expires_at = (trace_request.released_at or now) + dt.timedelta(
        days=settings.export_package_days
    )
    if expires_at <= now:
        raise PackageUnavailableError(_unavailable_message("expired"))
    content, count = package_content(session, clock, trace_request, package_id, expires_at)
    data, digest = frame(content)
    package = ExportPackage(
        id=package_id,
        trace_request_id=trace_request.id,
        created_at=now,
        expires_at=expires_at,
        record_count=count,
        sha256=digest,
        content=data,
    )
    session.add(package)
    session.flush()
    record_event(
        session,
        clock,
        action="office.package.built",
        health_office_id=trace_request.health_office_id,
        business_id=trace_request.location.business_id,
        location_id=trace_request.location_id,
        trace_request_id=trace_request.id,
        details={"package_id": str(package_id), "records": count, "sha256": digest},
    )
    return package


def _unavailable_message(why: str) -> Any:
    return {
        "not_released": _l("The data has not been released yet."),
        "expired": _l("The export package has expired. It can no longer be downloaded."),
        "closed": _l("This request is closed; its data can no longer be downloaded."),
    }[why]


def current_package(
    session: Session, trace_request: TraceRequest, *, with_content: bool = False
) -> ExportPackage | None:
    """The request's newest package; its content (tens of megabytes, in binary from
    PostgreSQL) only `with_content`, for a download: the request's page and the
    maintenance run need its dates and counts."""
    query = (
        select(ExportPackage)
        .where(ExportPackage.trace_request_id == trace_request.id)
        .order_by(ExportPackage.created_at.desc())
        .limit(1)
    )
    if with_content:
        query = query.options(undefer(ExportPackage.content)).execution_options(
            **{BINARY_RESULTS: True}
        )
    package: ExportPackage | None = session.scalar(query)
    return package


def download_package(
    session: Session, clock: Clock, settings: Settings, trace_request: TraceRequest, *, user: User
) -> ExportPackage:
    """Hand the package to a member of the requesting office: audited, counted, committed.

    The first download moves the request to `downloaded`. A request released before
    its package was built gets its package now.
    """
    if trace_request.state in (TraceRequestState.CLOSED, TraceRequestState.ABORTED):
        raise PackageUnavailableError(_unavailable_message("closed"))
    if trace_request.state is TraceRequestState.EXPIRED:
        raise PackageUnavailableError(_unavailable_message("expired"))
    if trace_request.state is TraceRequestState.REQUESTED:
        raise PackageUnavailableError(_unavailable_message("not_released"))
    now = clock.now()
    package = current_package(session, trace_request, with_content=True)
    if package is None:
        package = build_export_package(session, clock, settings, trace_request)
    if package.expires_at <= now:
        raise PackageUnavailableError(_unavailable_message("expired"))
    package.download_count += 1
    if package.first_downloaded_at is None:
        package.first_downloaded_at = now
    first = trace_request.state is TraceRequestState.RELEASED
    if first:
        change_state(trace_request, TraceRequestState.DOWNLOADED, now)
    record_event(
        session,
        clock,
        action="office.package.downloaded",
        actor=user,
        health_office_id=trace_request.health_office_id,
        business_id=trace_request.location.business_id,
        location_id=trace_request.location_id,
        trace_request_id=trace_request.id,
        details={
            "package_id": str(package.id),
            "records": package.record_count,
            "sha256": package.sha256,
            "download": package.download_count,
        },
    )
    session.commit()
    if first:
        notify_request_change(session, settings, trace_request, TraceRequestState.DOWNLOADED)
    return package


def package_filename(trace_request: TraceRequest) -> str:
    return f"gastregister-anfrage-{trace_request.id}{FILE_SUFFIX}"
