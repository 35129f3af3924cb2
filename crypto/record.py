"""The contact record inside an envelope: its JSON schema and its padding.

The schema is closed (no members beyond the listed ones, at any level) and every
string has a length limit, so a record cannot smuggle extra data past the health
office's review and the largest record fits the largest padding bucket. Padding to a
few fixed sizes hides the length of names and addresses from everyone who sees only
the envelope: the server, its backups and the network.

Record version 2 (format v2) adds the visit's ``arrival``, the client's
``idempotencyKey`` and the ``source`` inside the sealed plaintext. They are metadata
the server also stores in plain text; sealing a copy lets the health office's reader
notice a row that was re-dated, relabelled or duplicated in the database.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from crypto.errors import RecordSchemaError
from crypto.times import format_utc

RECORD_VERSION = 2  # what writers write when they know the visit (VisitBinding)
RECORD_VERSIONS = frozenset((1, 2))
BUCKETS: tuple[int, ...] = (512, 1024, 2048, 4096, 8192, 16384, 32768)
MAX_RECORD_JSON_BYTES = BUCKETS[-1] - 1  # one byte is always needed for the 0x80 marker
PADDING_MARKER = 0x80

FIELD_LIMITS: Mapping[str, int] = MappingProxyType(
    {
        "firstName": 100,
        "lastName": 100,
        "street": 150,
        "houseNumber": 20,
        "zipCode": 10,
        "city": 100,
        "phone": 40,
        "email": 254,
        "note": 500,
    }
)
MAX_ADDITIONAL_PERSONS = 20

_GUEST_FIELDS = (
    "firstName",
    "lastName",
    "street",
    "houseNumber",
    "zipCode",
    "city",
    "phone",
    "email",
)
_TOP_LEVEL_FIELDS = frozenset(("v", *_GUEST_FIELDS, "additionalPersons", "note"))
# Record version 2: the visit metadata bound inside the sealed plaintext.
_BOUND_FIELDS = ("arrival", "idempotencyKey", "source")
_TOP_LEVEL_FIELDS_BY_VERSION: Mapping[int, frozenset[str]] = MappingProxyType(
    {1: _TOP_LEVEL_FIELDS, 2: _TOP_LEVEL_FIELDS | frozenset(_BOUND_FIELDS)}
)
SOURCES = frozenset(("guest_page", "guest_form", "staff_entry"))
_ARRIVAL = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
# The server's rule for idempotency keys (registration.checkin.services), restated here
# because crypto/ imports no service code.
_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")
_PERSON_REQUIRED_FIELDS = ("firstName", "lastName")
_PERSON_OPTIONAL_FIELDS = ("street", "houseNumber", "zipCode", "city", "phone", "email")
_PERSON_FIELDS = frozenset((*_PERSON_REQUIRED_FIELDS, *_PERSON_OPTIONAL_FIELDS, "sameAddress"))
# A JSON "\ud800" escape decodes to a lone surrogate, which is not Unicode text.
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class VisitBinding:
    """The visit metadata a writer seals into a version 2 record.

    ``arrival`` is the arrival the writer sends to the server (timezone-aware; it is
    sealed in UTC, truncated to whole seconds, as export packages show it);
    ``idempotency_key`` the key of the submission, which the server keeps only as a
    check and the reader uses to find duplicates; ``source`` one of ``guest_page``,
    ``guest_form``, ``staff_entry``.
    """

    arrival: dt.datetime
    idempotency_key: str
    source: str

    def members(self) -> dict[str, str]:
        """The record members; ValueError for a naive arrival."""
        return {
            "arrival": format_utc(self.arrival),
            "idempotencyKey": self.idempotency_key,
            "source": self.source,
        }


def normalise_contact_record(
    record: Mapping[str, Any], visit: VisitBinding | None = None
) -> dict[str, Any]:
    """Validate a record for sealing and complete it to the form writers emit.

    Missing top-level strings become "", a missing ``additionalPersons`` becomes [].
    With ``visit`` the record becomes version 2 and carries the visit's arrival,
    idempotency key and source; without it, version 1 (kept for tools and tests that
    have no visit: readers accept it, but report its metadata as not bound). Raises
    RecordSchemaError naming the first offending field; nothing about its value.
    """
    if visit is not None:
        if not isinstance(record, Mapping):
            raise RecordSchemaError("", "not_an_object")
        record = {**record, "v": 2, **visit.members()}
    return _validated(record, complete=True, expected_version=None)


def validate_opened_record(record: object, version: int = 1) -> dict[str, Any]:
    """Validate a record taken out of a version ``version`` envelope.

    Every member must be there, and the record's ``v`` must be the envelope's version:
    a version 1 record inside a version 2 envelope would lack the bound metadata.
    """
    return _validated(record, complete=False, expected_version=version)


def _validated(record: object, *, complete: bool, expected_version: int | None) -> dict[str, Any]:
    # `type(...) is dict` first: what JSON gives, and the ABC check is slow (a reader
    # validates 50,000 records of a package; docs/FORMAT.md §11).
    if type(record) is not dict and not isinstance(record, Mapping):
        raise RecordSchemaError("", "not_an_object")
    version = _member(record, "v", 1 if complete else None)
    # JSON has one number type, so 1.0 is accepted as 1 (as JavaScript's JSON.parse
    # must); True, which Python counts as an int equal to 1, is not a number.
    if (
        type(version) not in (int, float)
        or version not in RECORD_VERSIONS
        or (expected_version is not None and version != expected_version)
    ):
        raise RecordSchemaError("v", "unsupported_version")
    version = int(version)
    allowed = _TOP_LEVEL_FIELDS_BY_VERSION[version]
    for name in record:
        if name not in allowed:
            raise RecordSchemaError(_member_name(name), "unknown_field")

    normalised: dict[str, Any] = {"v": version}
    for name in _GUEST_FIELDS:
        normalised[name] = _string_member(record, name, name, complete=complete)

    persons = _member(record, "additionalPersons", [] if complete else None)
    if type(persons) is not list and (
        isinstance(persons, str | bytes | bytearray | Mapping) or not isinstance(persons, Sequence)
    ):
        raise RecordSchemaError("additionalPersons", "not_an_array")
    if len(persons) > MAX_ADDITIONAL_PERSONS:
        raise RecordSchemaError("additionalPersons", "too_many_persons")
    normalised["additionalPersons"] = [
        _person(person, f"additionalPersons[{index}]") for index, person in enumerate(persons)
    ]
    normalised["note"] = _string_member(record, "note", "note", complete=complete)
    if version == 2:
        normalised.update(_bound_members(record))
    return normalised


def _bound_members(record: Mapping[Any, Any]) -> dict[str, str]:
    """arrival, idempotencyKey and source of a version 2 record; always required."""
    checked: dict[str, str] = {}
    for name in _BOUND_FIELDS:
        if name not in record:
            raise RecordSchemaError(name, "missing_field")
        value = record[name]
        if not isinstance(value, str):
            raise RecordSchemaError(name, "not_a_string")
        checked[name] = value
    if not _ARRIVAL.fullmatch(checked["arrival"]) or not _is_real_time(checked["arrival"]):
        raise RecordSchemaError("arrival", "not_a_time")
    if not _IDEMPOTENCY_KEY.fullmatch(checked["idempotencyKey"]):
        raise RecordSchemaError("idempotencyKey", "not_an_idempotency_key")
    if checked["source"] not in SOURCES:
        raise RecordSchemaError("source", "unknown_source")
    return checked


def _is_real_time(text: str) -> bool:
    try:
        dt.datetime.fromisoformat(text[:-1])
    except ValueError:
        return False
    return True


def _member(record: Mapping[Any, Any], name: str, default: object) -> object:
    """The member's value; ``default`` when absent, or missing_field if there is none."""
    if name in record:
        return record[name]
    if default is None:
        raise RecordSchemaError(name, "missing_field")
    return default


def _person(person: object, path: str) -> dict[str, Any]:
    if type(person) is not dict and not isinstance(person, Mapping):
        raise RecordSchemaError(path, "not_an_object")
    for name in person:
        if name not in _PERSON_FIELDS:
            raise RecordSchemaError(f"{path}.{_member_name(name)}", "unknown_field")
    checked: dict[str, Any] = {}
    for name in _PERSON_REQUIRED_FIELDS:
        checked[name] = _string_member(person, name, f"{path}.{name}", complete=False)
    if "sameAddress" in person:
        if not isinstance(person["sameAddress"], bool):
            raise RecordSchemaError(f"{path}.sameAddress", "not_a_boolean")
        checked["sameAddress"] = person["sameAddress"]
    for name in _PERSON_OPTIONAL_FIELDS:
        if name in person:
            checked[name] = _string_member(person, name, f"{path}.{name}", complete=False)
    return checked


def _string_member(container: Mapping[Any, Any], name: str, path: str, *, complete: bool) -> str:
    if name not in container:
        if complete:
            return ""
        raise RecordSchemaError(path, "missing_field")
    value = container[name]
    if not isinstance(value, str):
        raise RecordSchemaError(path, "not_a_string")
    if len(value) > FIELD_LIMITS[name]:  # len() counts code points, as the format does
        raise RecordSchemaError(path, "too_long")
    if _SURROGATE.search(value):
        raise RecordSchemaError(path, "not_unicode")
    return value


def _member_name(name: object) -> str:
    # Member names come from code, not guests, but stay bounded and printable in logs.
    return name[:40] if isinstance(name, str) and name.isprintable() else "<member>"


def encode_contact_record(normalised: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON of an already normalised record; too_large if it fits no bucket."""
    encoded = json.dumps(normalised, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if len(encoded) > MAX_RECORD_JSON_BYTES:
        raise RecordSchemaError("", "too_large")
    return encoded


class InvalidPaddingError(ValueError):
    """The decrypted plaintext is not a bucket-sized, 0x80-terminated padding of a record."""


class InvalidRecordError(ValueError):
    """The unpadded plaintext is not a UTF-8 JSON object that fits the record schema."""


def pad(record_json: bytes) -> bytes:
    """J || 0x80 || zeros, to the smallest bucket that holds len(J) + 1 bytes."""
    needed = len(record_json) + 1
    for bucket in BUCKETS:
        if needed <= bucket:
            return record_json + b"\x80" + bytes(bucket - needed)
    raise RecordSchemaError("", "too_large")


def unpad(padded: bytes) -> bytes:
    """Undo :func:`pad`; raises InvalidPaddingError."""
    if len(padded) not in BUCKETS:
        raise InvalidPaddingError
    body = padded.rstrip(b"\x00")
    if not body or body[-1] != PADDING_MARKER:
        raise InvalidPaddingError
    return body[:-1]


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise InvalidRecordError
    return obj


def _reject_constant(_name: str) -> None:
    raise InvalidRecordError  # NaN, Infinity, -Infinity are not JSON


# What json.loads with these hooks builds on every call; built once (a reader opens
# thousands of records). Its scanner keeps no state between documents.
_RECORD_JSON = json.JSONDecoder(
    object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant
)


def decode_contact_record(record_json: bytes, version: int = 1) -> dict[str, Any]:
    """Parse and validate the JSON of an opened version ``version`` record.

    Raises InvalidRecordError.
    """
    try:
        document = _RECORD_JSON.decode(record_json.decode("utf-8"))
        return validate_opened_record(document, version)
    except (UnicodeDecodeError, ValueError, RecursionError):
        # json.JSONDecodeError and RecordSchemaError are ValueErrors.
        pass
    # Raised outside the handler so it has no __context__: a JSONDecodeError keeps the
    # whole document (guest data) in its .doc attribute.
    raise InvalidRecordError
