"""Sealing and opening envelopes: layout, context binding, keys, and every way to break one."""

from __future__ import annotations

import hashlib
import traceback
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization as crypto_serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

import crypto
from crypto.envelope import seal_padded_plaintext

LOCATION, AREA = "GASTHAUS-ZUR-POST", "SAAL_2"
RECORD: dict[str, Any] = {
    "firstName": "Geheimvorname",
    "lastName": "Geheimnachname",
    "street": "Lindenweg",
    "houseNumber": "3",
    "zipCode": "07743",
    "city": "Jena",
    "phone": "+49 3641 000000",
    "email": "gast@example.de",
    "additionalPersons": [{"firstName": "Anna", "lastName": "Gast", "sameAddress": True}],
}
CRYPTO_PACKAGE = Path(crypto.__file__).parent
OFFICE_KEY = crypto.generate_private_key()
OTHER_OFFICE_KEY = crypto.generate_private_key()
OFFICE_SPKI = crypto.public_key_spki(OFFICE_KEY)
# P-256 (SEC 2): y^2 = x^3 - 3x + b over GF(p); used to predict what a changed enc gives.
P256_P = 2**256 - 2**224 + 2**192 + 2**96 - 1
P256_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B


def seal(record: dict[str, Any] = RECORD, **context: str) -> bytes:
    return crypto.seal_contact_record(
        OFFICE_SPKI,
        record,
        location_code=context.get("location_code", LOCATION),
        area_code=context.get("area_code", AREA),
    )


def open_(envelope: bytes, key: Any = OFFICE_KEY, **context: str) -> dict[str, Any]:
    return crypto.open_contact_record(
        key,
        envelope,
        location_code=context.get("location_code", LOCATION),
        area_code=context.get("area_code", AREA),
    )


def failure_kind(envelope: bytes, key: Any = OFFICE_KEY, **context: str) -> str:
    with pytest.raises(crypto.SealedRecordError) as raised:
        open_(envelope, key, **context)
    return raised.value.kind


ENVELOPE = seal()


def test_round_trip_returns_the_normalised_record() -> None:
    assert open_(ENVELOPE) == crypto.normalise_contact_record(RECORD)


def test_layout() -> None:
    assert len(ENVELOPE) == 104 + 512 + 16 == crypto.MIN_ENVELOPE_BYTES
    # Sealed without a visit binding: version 1, still written for tools and tests.
    assert ENVELOPE[0] == 1
    assert crypto.FORMAT_VERSION == 2
    assert {1, 2} == crypto.SUPPORTED_VERSIONS
    assert ENVELOPE[1:7] == bytes.fromhex("001000010001")
    assert ENVELOPE[7:39] == hashlib.sha256(OFFICE_SPKI).digest()
    assert ENVELOPE[39] == 0x04
    assert crypto.HEADER_SIZE == 39


def test_each_seal_uses_a_fresh_ephemeral_key() -> None:
    again = seal()
    assert again[:39] == ENVELOPE[:39]
    assert again[39:104] != ENVELOPE[39:104]
    assert again[104:] != ENVELOPE[104:]


def test_records_of_similar_size_are_indistinguishable_by_length() -> None:
    short = seal({"firstName": "Bo"})
    longer = seal({**RECORD, "note": "x" * 100})
    assert len(short) == len(longer) == len(ENVELOPE)


def test_inspect_without_a_key() -> None:
    header = crypto.inspect_envelope(ENVELOPE)
    assert header == crypto.EnvelopeHeader(
        version=1, key_id=crypto.key_id(OFFICE_SPKI), size=len(ENVELOPE)
    )


@pytest.mark.parametrize(
    "context",
    [
        {"location_code": "GASTHAUS-ZUR-POST-2"},
        {"area_code": "SAAL_1"},
        {"location_code": "gasthaus-zur-post"},
        {"location_code": AREA, "area_code": LOCATION},
    ],
    ids=["other-location", "other-area", "case", "swapped"],
)
def test_a_record_moved_to_another_context_does_not_open(context: dict[str, str]) -> None:
    assert failure_kind(ENVELOPE, **context) == "decryption_failed"


def test_length_prefixes_keep_code_boundaries_apart() -> None:
    envelope = seal(location_code="AB", area_code="C")
    assert open_(envelope, location_code="AB", area_code="C")["city"] == "Jena"
    assert failure_kind(envelope, location_code="A", area_code="BC") == "decryption_failed"


def test_wrong_key() -> None:
    assert failure_kind(ENVELOPE, OTHER_OFFICE_KEY) == "wrong_key"


def test_open_with_any_key_picks_by_key_id() -> None:
    older_key = crypto.generate_private_key()
    older = crypto.seal_contact_record(
        crypto.public_key_spki(older_key), RECORD, location_code=LOCATION, area_code=AREA
    )
    keys = [OTHER_OFFICE_KEY, OFFICE_KEY, older_key]
    for envelope in (ENVELOPE, older):
        opened = crypto.open_with_any_key(keys, envelope, location_code=LOCATION, area_code=AREA)
        assert opened["lastName"] == "Geheimnachname"


def test_a_retired_key_no_longer_held_gives_wrong_key() -> None:
    with pytest.raises(crypto.SealedRecordError) as raised:
        crypto.open_with_any_key(
            [OTHER_OFFICE_KEY], ENVELOPE, location_code=LOCATION, area_code=AREA
        )
    assert raised.value.kind == "wrong_key"
    with pytest.raises(crypto.SealedRecordError) as raised:
        crypto.open_with_any_key([], ENVELOPE, location_code=LOCATION, area_code=AREA)
    assert raised.value.kind == "wrong_key"


def test_a_record_relabelled_to_another_key_does_not_open_with_it() -> None:
    relabelled = ENVELOPE[:7] + crypto.key_id(crypto.public_key_spki(OTHER_OFFICE_KEY))
    relabelled += ENVELOPE[39:]
    assert failure_kind(relabelled, OFFICE_KEY) == "wrong_key"
    assert failure_kind(relabelled, OTHER_OFFICE_KEY) == "decryption_failed"


def _on_curve(enc: bytes) -> bool:
    if enc[0] != 0x04:
        return False
    x, y = int.from_bytes(enc[1:33], "big"), int.from_bytes(enc[33:65], "big")
    return x < P256_P and y < P256_P and (y * y - x**3 + 3 * x - P256_B) % P256_P == 0


def _expected_kind_after_flip(envelope: bytes, byte_index: int) -> str:
    if byte_index == 0:
        return "unknown_version"
    if byte_index < 7:
        return "wrong_suite"
    if byte_index < 39:
        return "wrong_key"
    if byte_index < 104:
        return "decryption_failed" if _on_curve(envelope[39:104]) else "malformed"
    return "decryption_failed"


def test_every_single_bit_flip_fails_with_the_kind_of_its_field() -> None:
    assert _on_curve(ENVELOPE[39:104])
    seen: set[str] = set()
    for byte_index in range(len(ENVELOPE)):
        for bit in range(8):
            changed = bytearray(ENVELOPE)
            changed[byte_index] ^= 1 << bit
            expected = _expected_kind_after_flip(bytes(changed), byte_index)
            assert failure_kind(bytes(changed)) == expected, (byte_index, bit)
            seen.add(expected)
    assert seen == {"unknown_version", "wrong_suite", "wrong_key", "malformed", "decryption_failed"}


def test_every_truncation_fails() -> None:
    for length in range(len(ENVELOPE)):
        expected = "malformed" if length < 104 else "bad_length"
        assert failure_kind(ENVELOPE[:length]) == expected, length


def test_every_extension_fails() -> None:
    for extra in range(1, 600):
        # 512 more bytes is the next bucket's length: the AEAD rejects it instead.
        expected = "decryption_failed" if extra == 512 else "bad_length"
        assert failure_kind(ENVELOPE + bytes(extra)) == expected, extra


@pytest.mark.parametrize(
    ("envelope", "kind"),
    [
        (b"", "malformed"),
        (b"\x03", "unknown_version"),
        (b"\x01", "malformed"),
        (ENVELOPE[:103], "malformed"),
        (ENVELOPE[:1] + b"\x00\x20" + ENVELOPE[3:], "wrong_suite"),
        (ENVELOPE[:104], "bad_length"),
        (ENVELOPE[:39] + b"\x03" + ENVELOPE[40:], "malformed"),
        (ENVELOPE + bytes(crypto.MAX_ENVELOPE_BYTES), "bad_length"),
    ],
    ids=["empty", "version", "one-byte", "short", "suite", "no-ct", "enc-prefix", "huge"],
)
def test_inspect_rejects_what_needs_no_key(envelope: bytes, kind: str) -> None:
    with pytest.raises(crypto.SealedRecordError) as raised:
        crypto.inspect_envelope(envelope)
    assert raised.value.kind == kind
    assert failure_kind(envelope) == kind


def test_inspect_rejects_an_enc_off_the_curve() -> None:
    changed = bytearray(ENVELOPE)
    changed[103] ^= 1  # lowest bit of y
    with pytest.raises(crypto.SealedRecordError) as raised:
        crypto.inspect_envelope(bytes(changed))
    assert raised.value.kind == "malformed"


def test_an_enc_off_the_curve_is_malformed_whatever_key_or_code_opens_it() -> None:
    """Openers check the point only when a decryption fails or no key fits (it costs a
    sixth of an open); the kind stays that of step 6, before wrong_key and the codes."""
    changed = bytearray(ENVELOPE)
    changed[103] ^= 1  # lowest bit of y
    off_curve = bytes(changed)
    assert failure_kind(off_curve, OFFICE_KEY) == "malformed"
    assert failure_kind(off_curve, OTHER_OFFICE_KEY) == "malformed"
    assert failure_kind(off_curve, OFFICE_KEY, area_code="no area") == "malformed"
    for keys in ([], [OTHER_OFFICE_KEY], [OTHER_OFFICE_KEY, OFFICE_KEY]):
        with pytest.raises(crypto.SealedRecordError) as raised:
            crypto.open_with_any_key(keys, off_curve, location_code=LOCATION, area_code=AREA)
        assert raised.value.kind == "malformed"
    with pytest.raises(ValueError, match="area_code"):
        open_(ENVELOPE, area_code="no area")


def _authentic(padded: bytes) -> bytes:
    return seal_padded_plaintext(OFFICE_SPKI, padded, location_code=LOCATION, area_code=AREA)


SECRET_JSON = b'{"v":1,"firstName":"Geheimvorname","extra":"Geheimnachname"}'


@pytest.mark.parametrize(
    ("padded", "kind"),
    [
        (SECRET_JSON + bytes(512 - len(SECRET_JSON)), "bad_padding"),
        (SECRET_JSON + b"\x80" + bytes(511 - len(SECRET_JSON)), "bad_record"),
    ],
    ids=["bad-padding", "bad-record"],
)
def test_failures_after_decryption_leave_no_plaintext_behind(padded: bytes, kind: str) -> None:
    with pytest.raises(crypto.SealedRecordError) as raised:
        open_(_authentic(padded))
    error = raised.value
    assert error.kind == kind
    assert str(error) == crypto.SealedRecordError.MESSAGE
    assert "Geheim" not in repr(error)
    assert error.__cause__ is None
    assert error.__context__ is None
    assert not hasattr(error, "record")
    # No frame of the crypto package in the traceback, where error reporters look for
    # local variables, still holds the plaintext.
    crypto_frames = [
        frame
        for frame, _ in traceback.walk_tb(error.__traceback__)
        if Path(frame.f_code.co_filename).parent == CRYPTO_PACKAGE
    ]
    assert [frame.f_code.co_name for frame in crypto_frames] == [
        "open_contact_record",
        "_open_checked",
        "_decoded",
    ]
    for frame in crypto_frames:
        for value in frame.f_locals.values():
            if isinstance(value, bytes | bytearray | str):
                assert b"Geheim" not in (value if isinstance(value, bytes | bytearray) else b"")
                assert "Geheim" not in (value if isinstance(value, str) else "")


def test_error_kinds_are_those_of_the_format() -> None:
    assert {kind.value for kind in crypto.SealedRecordErrorKind} == {
        "malformed",
        "unknown_version",
        "wrong_suite",
        "wrong_key",
        "bad_length",
        "decryption_failed",
        "bad_padding",
        "bad_record",
    }


@pytest.mark.parametrize(
    "code",
    ["", "x" * 65, "Gaststätte", "A B", "A\n", "A/B", "A.B", None],
    ids=["empty", "too-long", "umlaut", "space", "newline", "slash", "dot", "none"],
)
def test_invalid_codes_are_a_callers_mistake(code: Any) -> None:
    with pytest.raises(ValueError, match="location_code"):
        crypto.seal_contact_record(OFFICE_SPKI, RECORD, location_code=code, area_code=AREA)
    with pytest.raises(ValueError, match="area_code"):
        crypto.open_contact_record(OFFICE_KEY, ENVELOPE, location_code=LOCATION, area_code=code)


def test_codes_of_64_characters_are_valid() -> None:
    code = "a-Z_9" * 12 + "abcd"
    assert len(code) == 64
    envelope = seal(location_code=code, area_code=code)
    assert open_(envelope, location_code=code, area_code=code)["city"] == "Jena"


def test_seal_rejects_a_key_that_is_not_p256_spki() -> None:
    with pytest.raises(crypto.KeyFormatError):
        crypto.seal_contact_record(b"\x04" + bytes(64), RECORD, location_code="A", area_code="B")


def test_open_requires_a_p256_private_key() -> None:
    with pytest.raises(TypeError):
        open_(ENVELOPE, ec.generate_private_key(ec.SECP384R1()))


# Text form


def test_text_round_trip() -> None:
    text = crypto.encode_envelope(ENVELOPE)
    assert "=" not in text
    assert crypto.decode_envelope(text) == ENVELOPE
    assert len(text) == 843


@pytest.mark.parametrize(
    "text",
    [
        crypto.encode_envelope(ENVELOPE) + "=",
        " " + crypto.encode_envelope(ENVELOPE),
        crypto.encode_envelope(ENVELOPE)[:-1] + "!",
        "A",
        "AB",  # one byte, but "B" sets one of the four unused bits
        "A" * (crypto.MAX_ENVELOPE_TEXT_LENGTH + 3),
    ],
    ids=["padding", "space", "bang", "one-char", "trailing-bits", "too-long"],
)
def test_non_canonical_text_is_malformed(text: str) -> None:
    with pytest.raises(crypto.SealedRecordError) as raised:
        crypto.decode_envelope(text)
    assert raised.value.kind == "malformed"


def test_maximum_text_length_is_that_of_the_largest_envelope() -> None:
    assert (
        len(crypto.encode_envelope(bytes(crypto.MAX_ENVELOPE_BYTES)))
        == crypto.MAX_ENVELOPE_TEXT_LENGTH
    )


@given(st.binary(max_size=200))
@settings(max_examples=50)
def test_text_encoding_round_trips(data: bytes) -> None:
    assert crypto.decode_envelope(crypto.encode_envelope(data)) == data


@given(st.text(alphabet="AQgw-_+/=Bb \n", max_size=12))
@settings(max_examples=200)
def test_only_canonical_text_decodes(text: str) -> None:
    try:
        decoded: bytes | None = crypto.decode_envelope(text)
        kind = None
    except crypto.SealedRecordError as error:
        decoded, kind = None, error.kind
    if decoded is None:
        assert kind == "malformed"
    else:
        assert crypto.encode_envelope(decoded) == text


# --- step 6: the enc is a point on P-256 ------------------------------------------------

_P = 2**256 - 2**224 + 2**192 + 2**96 - 1  # P-256's field prime (SEC 2 v2 §2.4.2)


def _library_accepts(point: bytes) -> bool:
    """What cryptography (OpenSSL) says of an uncompressed point."""
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        return False
    return True


def _with_enc(point: bytes) -> bytes:
    return ENVELOPE[: crypto.HEADER_SIZE] + point + ENVELOPE[crypto.HEADER_SIZE + 65 :]


def _inspect_kind(envelope: bytes) -> str | None:
    """None when the server's check accepts the envelope, else the kind it refuses."""
    try:
        crypto.inspect_envelope(envelope)
    except crypto.SealedRecordError as error:
        return error.kind.value
    return None


def _coordinates(x: int, y: int) -> bytes:
    return b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big")


def _point_with_small_x() -> tuple[int, int]:
    """A point of P-256 whose x is small enough that x + p still fits 32 bytes."""
    b = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
    for x in range(1, 1000):
        rhs = (x**3 - 3 * x + b) % _P
        y = pow(rhs, (_P + 1) // 4, _P)  # a square root, since p = 3 (mod 4)
        if y * y % _P == rhs:
            return x, y
    raise AssertionError("no small x found")


def _enc_cases() -> list[tuple[str, bytes]]:
    cases = []
    for number in range(100):
        public = crypto.generate_private_key().public_key()
        point = public.public_bytes(
            crypto_serialization.Encoding.X962, crypto_serialization.PublicFormat.UncompressedPoint
        )
        x, y = int.from_bytes(point[1:33], "big"), int.from_bytes(point[33:], "big")
        cases.append((f"key {number}", point))
        cases.append((f"key {number}, y + 1", _coordinates(x, (y + 1) % _P)))
        cases.append((f"key {number}, x + 1", _coordinates((x + 1) % _P, y)))
        cases.append((f"key {number}, -y", _coordinates(x, _P - y)))  # the negated point
        cases.append((f"key {number}, y and x swapped", _coordinates(y, x)))
    x, y = _point_with_small_x()
    cases += [
        ("small x", _coordinates(x, y)),
        ("small x, x + p (the same point, x not reduced)", _coordinates(x + _P, y)),
        ("small x, y + p would not fit: p - y", _coordinates(x, _P - y)),
        ("zeros", _coordinates(0, 0)),
        ("x = p", _coordinates(_P, y)),
        ("y = p", _coordinates(x, _P)),
        ("all ones", b"\x04" + b"\xff" * 64),
    ]
    return cases


def test_the_point_check_agrees_with_the_library() -> None:
    """Step 6 is written out (crypto.envelope._require_point): on valid points, their
    neighbours, negations, unreduced coordinates and the corners of the range it says
    what OpenSSL says, in the server's check and in the openers'."""
    for name, point in _enc_cases():
        expected = _library_accepts(point)
        envelope = _with_enc(point)
        assert _inspect_kind(envelope) == (None if expected else "malformed"), name
        if not expected:
            assert failure_kind(envelope, OFFICE_KEY) == "malformed", name
            assert failure_kind(envelope, OTHER_OFFICE_KEY) == "malformed", name


def test_the_server_check_builds_no_key_of_the_enc(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building an OpenSSL key of the enc cost 33 µs of every check-in (caches cold
    between a request's other work); the server's check does without one."""

    def refuse(*_args: Any) -> None:
        raise AssertionError("the enc was turned into a key")

    monkeypatch.setattr(ec.EllipticCurvePublicKey, "from_encoded_point", refuse)
    crypto.inspect_envelope(ENVELOPE)
    changed = bytearray(ENVELOPE)
    changed[103] ^= 1
    with pytest.raises(crypto.SealedRecordError):
        crypto.inspect_envelope(bytes(changed))
