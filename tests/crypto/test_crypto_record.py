"""The contact record schema, writer-side validation, padding, and round trips."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import crypto
from crypto import record as record_module

GUEST_FIELDS = (
    "firstName",
    "lastName",
    "street",
    "houseNumber",
    "zipCode",
    "city",
    "phone",
    "email",
)
PERSON_OPTIONAL = ("street", "houseNumber", "zipCode", "city", "phone", "email")
LOCATION, AREA = "CAFE-1", "TERRASSE"


def test_constants_are_those_of_the_format() -> None:
    assert crypto.FORMAT_VERSION == 2
    assert {"guest_page", "guest_form", "staff_entry"} == crypto.SOURCES
    assert crypto.BUCKETS == (512, 1024, 2048, 4096, 8192, 16384, 32768)
    assert crypto.MAX_ENVELOPE_BYTES == 104 + 32768 + 16
    assert crypto.MAX_ADDITIONAL_PERSONS == 20
    assert dict(crypto.FIELD_LIMITS) == {
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


def test_normalise_fills_what_is_missing() -> None:
    normalised = crypto.normalise_contact_record({"firstName": "Ada", "lastName": "Lovelace"})
    assert normalised == {
        "v": 1,
        "firstName": "Ada",
        "lastName": "Lovelace",
        **dict.fromkeys(GUEST_FIELDS[2:], ""),
        "additionalPersons": [],
        "note": "",
    }
    assert list(normalised) == ["v", *GUEST_FIELDS, "additionalPersons", "note"]


def test_normalise_keeps_companions_as_given() -> None:
    person = {"lastName": "B", "firstName": "A", "sameAddress": True, "phone": ""}
    normalised = crypto.normalise_contact_record({"additionalPersons": (person,)})
    assert normalised["additionalPersons"] == [person]


def test_an_empty_record_is_valid() -> None:
    assert crypto.normalise_contact_record({})["firstName"] == ""


@pytest.mark.parametrize("field", sorted(crypto.FIELD_LIMITS))
def test_limits_count_code_points(field: str) -> None:
    limit = crypto.FIELD_LIMITS[field]
    # An astral character is one code point but two UTF-16 units and four UTF-8 bytes.
    at_limit = crypto.normalise_contact_record({field: "\U0001f600" * limit})
    assert len(at_limit[field]) == limit
    with pytest.raises(crypto.RecordSchemaError) as raised:
        crypto.normalise_contact_record({field: "a" * (limit + 1)})
    assert (raised.value.field, raised.value.reason) == (field, "too_long")


@pytest.mark.parametrize("field", PERSON_OPTIONAL)
def test_companion_limits(field: str) -> None:
    limit = crypto.FIELD_LIMITS[field]
    person = {"firstName": "a", "lastName": "b", field: "x" * (limit + 1)}
    with pytest.raises(crypto.RecordSchemaError) as raised:
        crypto.normalise_contact_record({"additionalPersons": [person]})
    assert (raised.value.field, raised.value.reason) == (
        f"additionalPersons[0].{field}",
        "too_long",
    )


SCHEMA_VIOLATIONS: list[tuple[str, object, str, str]] = [
    ("not-a-mapping", ["firstName"], "", "not_an_object"),
    ("unknown-field", {"birthday": "1970-01-01"}, "birthday", "unknown_field"),
    ("number", {"phone": 4912345}, "phone", "not_a_string"),
    ("none", {"email": None}, "email", "not_a_string"),
    ("bytes", {"city": b"Jena"}, "city", "not_a_string"),
    ("lone-surrogate", {"lastName": "M\ud800ller"}, "lastName", "not_unicode"),
    ("version-3", {"v": 3}, "v", "unsupported_version"),
    ("version-2-unbound", {"v": 2}, "arrival", "missing_field"),
    ("version-1-bound-member", {"v": 1, "source": "guest_page"}, "source", "unknown_field"),
    ("version-true", {"v": True}, "v", "unsupported_version"),
    ("version-string", {"v": "1"}, "v", "unsupported_version"),
    ("persons-string", {"additionalPersons": "Anna"}, "additionalPersons", "not_an_array"),
    ("persons-mapping", {"additionalPersons": {}}, "additionalPersons", "not_an_array"),
    ("persons-none", {"additionalPersons": None}, "additionalPersons", "not_an_array"),
    (
        "too-many-persons",
        {"additionalPersons": [{"firstName": "a", "lastName": "b"}] * 21},
        "additionalPersons",
        "too_many_persons",
    ),
    ("person-not-object", {"additionalPersons": ["Anna"]}, "additionalPersons[0]", "not_an_object"),
    (
        "person-without-last-name",
        {"additionalPersons": [{"firstName": "a"}]},
        "additionalPersons[0].lastName",
        "missing_field",
    ),
    (
        "person-unknown-field",
        {"additionalPersons": [{"firstName": "a", "lastName": "b", "age": 7}]},
        "additionalPersons[0].age",
        "unknown_field",
    ),
    (
        "person-same-address-string",
        {"additionalPersons": [{"firstName": "a", "lastName": "b", "sameAddress": "yes"}]},
        "additionalPersons[0].sameAddress",
        "not_a_boolean",
    ),
    (
        "person-note",
        {"additionalPersons": [{"firstName": "a", "lastName": "b", "note": ""}]},
        "additionalPersons[0].note",
        "unknown_field",
    ),
]


@pytest.mark.parametrize(
    ("record", "field", "reason"),
    [case[1:] for case in SCHEMA_VIOLATIONS],
    ids=[case[0] for case in SCHEMA_VIOLATIONS],
)
def test_schema_violations_name_field_and_reason(record: Any, field: str, reason: str) -> None:
    with pytest.raises(crypto.RecordSchemaError) as raised:
        crypto.normalise_contact_record(record)
    assert (raised.value.field, raised.value.reason) == (field, reason)


def test_seal_validates_before_sealing() -> None:
    spki = crypto.public_key_spki(crypto.generate_private_key())
    with pytest.raises(crypto.RecordSchemaError):
        crypto.seal_contact_record(spki, {"firstName": 1}, location_code=LOCATION, area_code=AREA)


def test_schema_error_message_names_no_value() -> None:
    with pytest.raises(crypto.RecordSchemaError) as raised:
        crypto.normalise_contact_record({"firstName": "Geheimname" * 20})
    assert "Geheimname" not in str(raised.value)
    assert str(raised.value) == "firstName: too_long"


# Padding


@pytest.mark.parametrize(
    ("json_length", "bucket"),
    [(0, 512), (511, 512), (512, 1024), (1023, 1024), (16384, 32768), (32767, 32768)],
)
def test_padding_picks_the_smallest_bucket(json_length: int, bucket: int) -> None:
    record_json = b"x" * json_length
    padded = record_module.pad(record_json)
    assert len(padded) == bucket
    assert padded[json_length] == 0x80
    assert padded[json_length + 1 :] == bytes(bucket - json_length - 1)
    assert record_module.unpad(padded) == record_json


def test_padding_has_no_room_beyond_the_largest_bucket() -> None:
    with pytest.raises(crypto.RecordSchemaError) as raised:
        record_module.pad(b"x" * 32768)
    assert raised.value.reason == "too_large"


@pytest.mark.parametrize(
    "padded",
    [
        b"",
        bytes(512),
        b"{}" + bytes(510),
        b"{}\x81" + bytes(509),
        b"{}\x80\x01" + bytes(508),
        b"{}\x80" + bytes(510),  # 513 bytes: not a bucket
        b"{}\x80" + bytes(508),  # 511 bytes
    ],
    ids=["empty", "zeros", "no-marker", "wrong-marker", "after-marker", "513", "511"],
)
def test_unpad_rejects(padded: bytes) -> None:
    with pytest.raises(record_module.InvalidPaddingError):
        record_module.unpad(padded)


@given(st.binary(max_size=2000))
@settings(max_examples=50)
def test_unpad_inverts_pad_for_any_bytes(record_json: bytes) -> None:
    assert record_module.unpad(record_module.pad(record_json)) == record_json


# Round trips through seal and open

_KEY = crypto.generate_private_key()
_SPKI = crypto.public_key_spki(_KEY)


def _text(field: str) -> st.SearchStrategy[str]:
    # Any Unicode scalar value, including control characters and NUL; st.text never
    # produces lone surrogates, which are not text.
    return st.text(st.characters(codec="utf-8"), max_size=crypto.FIELD_LIMITS[field])


_person = st.fixed_dictionaries(
    {"firstName": _text("firstName"), "lastName": _text("lastName")},
    optional={"sameAddress": st.booleans(), **{name: _text(name) for name in PERSON_OPTIONAL}},
)
_record = st.fixed_dictionaries(
    {},
    optional={
        **{name: _text(name) for name in GUEST_FIELDS},
        "additionalPersons": st.lists(_person, max_size=3),
        "note": _text("note"),
        "v": st.just(1),
    },
)


def _round_trip(record: dict[str, Any]) -> dict[str, Any]:
    envelope = crypto.seal_contact_record(_SPKI, record, location_code=LOCATION, area_code=AREA)
    assert len(envelope) - 104 - 16 in crypto.BUCKETS
    return crypto.open_contact_record(_KEY, envelope, location_code=LOCATION, area_code=AREA)


@given(_record)
@settings(max_examples=50, deadline=None)
def test_any_valid_record_round_trips(record: dict[str, Any]) -> None:
    assert _round_trip(record) == crypto.normalise_contact_record(record)


_maximum_text = {
    name: st.text(st.characters(codec="utf-8"), min_size=limit, max_size=limit)
    for name, limit in crypto.FIELD_LIMITS.items()
}


@given(
    st.fixed_dictionaries({name: _maximum_text[name] for name in (*GUEST_FIELDS, "note")}),
    st.integers(min_value=0, max_value=crypto.MAX_ADDITIONAL_PERSONS),
    st.sampled_from(["a", "ä", "€", "\U0001f600"]),
)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_records_at_maximum_size_seal_or_are_too_large(
    guest: dict[str, str], companions: int, character: str
) -> None:
    """Field limits alone do not guarantee a fit; the byte length decides, exactly."""
    person = {name: character * crypto.FIELD_LIMITS[name] for name in ("firstName", "lastName")}
    person |= {name: character * crypto.FIELD_LIMITS[name] for name in PERSON_OPTIONAL}
    record = {**guest, "additionalPersons": [person] * companions}
    normalised = crypto.normalise_contact_record(record)
    # The writer's encoding, stated independently: compact JSON, raw UTF-8.
    encoded_length = len(
        json.dumps(normalised, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    )
    if encoded_length <= crypto.MAX_RECORD_JSON_BYTES:
        assert _round_trip(record) == normalised
    else:
        with pytest.raises(crypto.RecordSchemaError) as raised:
            _round_trip(record)
        assert (raised.value.field, raised.value.reason) == ("", "too_large")


def test_largest_ascii_record_fills_the_largest_bucket() -> None:
    person: dict[str, Any] = {
        name: "x" * crypto.FIELD_LIMITS[name]
        for name in ("firstName", "lastName", *PERSON_OPTIONAL)
    }
    record = {
        **{name: "x" * crypto.FIELD_LIMITS[name] for name in (*GUEST_FIELDS, "note")},
        "additionalPersons": [person | {"sameAddress": False}] * crypto.MAX_ADDITIONAL_PERSONS,
    }
    envelope = crypto.seal_contact_record(_SPKI, record, location_code=LOCATION, area_code=AREA)
    assert len(envelope) == crypto.MAX_ENVELOPE_BYTES
    assert crypto.open_contact_record(
        _KEY, envelope, location_code=LOCATION, area_code=AREA
    ) == crypto.normalise_contact_record(record)


def test_record_too_large_for_any_bucket() -> None:
    names = ("firstName", "lastName", *PERSON_OPTIONAL)
    person = {name: "\U0001f600" * crypto.FIELD_LIMITS[name] for name in names}
    record = {"additionalPersons": [person] * crypto.MAX_ADDITIONAL_PERSONS}
    with pytest.raises(crypto.RecordSchemaError) as raised:
        crypto.seal_contact_record(_SPKI, record, location_code=LOCATION, area_code=AREA)
    assert (raised.value.field, raised.value.reason) == ("", "too_large")


# Reader-side strictness beyond the writer's


def _decode(document: bytes) -> dict[str, Any]:
    return record_module.decode_contact_record(document)


_COMPLETE = (
    b'{"v":1,"firstName":"","lastName":"","street":"","houseNumber":"","zipCode":"",'
    b'"city":"","phone":"","email":"","additionalPersons":[],"note":""}'
)


def test_reader_accepts_a_complete_record_in_any_layout() -> None:
    assert _decode(_COMPLETE) == crypto.normalise_contact_record({})
    spaced = _COMPLETE.replace(b",", b" ,\n\t").replace(b'"v":1', b'"v" : 1.0')
    assert _decode(spaced) == crypto.normalise_contact_record({})


@pytest.mark.parametrize(
    "document",
    [
        _COMPLETE.replace(b',"note":""', b""),
        _COMPLETE.replace(b'"v":1,', b""),
        _COMPLETE.replace(b'"additionalPersons":[],', b""),
        _COMPLETE.replace(b'"city":""', b'"city":"a","city":"b"'),
        _COMPLETE.replace(b'"v":1', b'"v":Infinity'),
        _COMPLETE.replace(b'"v":1', b'"v":true'),
        b"\xef\xbb\xbf" + _COMPLETE,
        _COMPLETE[:-1],
        b"[" * 100_000,
    ],
    ids=[
        "missing-note",
        "missing-version",
        "missing-persons",
        "duplicate-member",
        "infinity",
        "version-true",
        "bom",
        "truncated",
        "deep-nesting",
    ],
)
def test_reader_rejects(document: bytes) -> None:
    with pytest.raises(record_module.InvalidRecordError) as raised:
        _decode(document)
    assert raised.value.__context__ is None


# Record version 2: the visit bound inside the sealed record

_ARRIVAL = dt.datetime(2026, 11, 20, 18, 30, 5, 999_999, tzinfo=dt.UTC)
_VISIT = crypto.VisitBinding(arrival=_ARRIVAL, idempotency_key="k" * 16, source="guest_page")
_V2_MEMBERS = {
    "arrival": "2026-11-20T18:30:05Z",
    "idempotencyKey": "k" * 16,
    "source": "guest_page",
}


def test_a_visit_binding_makes_a_version_2_record() -> None:
    normalised = crypto.normalise_contact_record({"firstName": "A", "v": 1}, _VISIT)
    assert normalised == {
        **crypto.normalise_contact_record({"firstName": "A"}),
        "v": 2,
        **_V2_MEMBERS,
    }


def test_the_bound_arrival_is_utc_whole_seconds() -> None:
    berlin = dt.timezone(dt.timedelta(hours=1))
    visit = crypto.VisitBinding(
        arrival=_ARRIVAL.astimezone(berlin), idempotency_key="k" * 16, source="staff_entry"
    )
    assert crypto.normalise_contact_record({}, visit)["arrival"] == "2026-11-20T18:30:05Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        crypto.normalise_contact_record(
            {},
            crypto.VisitBinding(dt.datetime(2026, 1, 1), "k" * 16, "guest_page"),
        )


@pytest.mark.parametrize(
    ("members", "field", "reason"),
    [
        ({"arrival": "2026-11-20T18:30:05.1Z"}, "arrival", "not_a_time"),
        ({"arrival": "2026-11-20T18:30:05+00:00"}, "arrival", "not_a_time"),
        ({"arrival": "2026-02-30T18:30:05Z"}, "arrival", "not_a_time"),
        ({"arrival": 1_763_663_405}, "arrival", "not_a_string"),
        ({"idempotencyKey": "short"}, "idempotencyKey", "not_an_idempotency_key"),
        ({"idempotencyKey": "k" * 65}, "idempotencyKey", "not_an_idempotency_key"),
        ({"idempotencyKey": "k" * 15 + "/"}, "idempotencyKey", "not_an_idempotency_key"),
        ({"source": "phone"}, "source", "unknown_source"),
        ({"source": None}, "source", "not_a_string"),
    ],
)
def test_version_2_members_are_checked(members: dict[str, Any], field: str, reason: str) -> None:
    with pytest.raises(crypto.RecordSchemaError) as raised:
        crypto.normalise_contact_record({"v": 2, **_V2_MEMBERS, **members})
    assert (raised.value.field, raised.value.reason) == (field, reason)


def test_version_2_round_trip_and_envelope_version() -> None:
    envelope = crypto.seal_contact_record(
        _SPKI, {"firstName": "A"}, location_code=LOCATION, area_code=AREA, visit=_VISIT
    )
    assert envelope[0] == 2
    assert crypto.inspect_envelope(envelope).version == 2
    opened = crypto.open_contact_record(_KEY, envelope, location_code=LOCATION, area_code=AREA)
    assert opened == crypto.normalise_contact_record({"firstName": "A"}, _VISIT)


def test_a_record_must_have_its_envelope_version() -> None:
    """A v1 record in a v2 envelope would lack the binding; a v2 record in v1 has extras."""
    from crypto.envelope import seal_padded_plaintext

    v1_json = record_module.encode_contact_record(crypto.normalise_contact_record({}))
    v2_json = record_module.encode_contact_record(crypto.normalise_contact_record({}, _VISIT))
    for version, body in ((2, v1_json), (1, v2_json)):
        envelope = seal_padded_plaintext(
            _SPKI, record_module.pad(body), location_code=LOCATION, area_code=AREA, version=version
        )
        with pytest.raises(crypto.SealedRecordError) as raised:
            crypto.open_contact_record(_KEY, envelope, location_code=LOCATION, area_code=AREA)
        assert raised.value.kind == "bad_record"
