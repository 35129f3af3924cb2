"""Generate the committed test vectors for sealed records and key files.

    .venv/bin/python -m tests.crypto.vectors.make_tamper_vectors

writes sealed-record-v1.json, sealed-record-v2.json, keyfile-v1.json and
export-package-v1.json next to this script. Every key,
ephemeral key, salt and nonce is derived from a fixed label, so the output is the
same on every run and a test checks that the committed files are up to date.

Envelopes are sealed with the test-only RFC 9180 reference, rfc9180_reference.py
in tests/crypto, rather than with crypto's writer: the product seals through
``cryptography``'s HPKE, which always draws a fresh ephemeral key, while committed
vectors need a fixed one. The header and info are also laid out here from the text of
docs/FORMAT.md, and the aad is empty as it specifies; so the reader, and the
library's HPKE behind it, are checked against a second writer (the tests also open
every authentic vector with ``cryptography``'s Suite.decrypt directly).

The expected outcome of every vector follows from how it was built (which byte was
changed, which key opens it), never from running the reader; for a changed bit in
enc, whether the result is still a point on P-256 is computed here with plain
integer arithmetic. Key files are assembled from PBKDF2 and AES-GCM directly rather
than with crypto.write_key_file, for the same reason.
Browsers can use the same files: the private keys are included as PKCS#8.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import hashlib
import json
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from crypto import b64url_decode, b64url_encode, key_id, public_key_spki
from tests.crypto import rfc9180_reference as reference

HERE = Path(__file__).resolve().parent

SEALED_RECORD_FILE = HERE / "sealed-record-v1.json"
SEALED_RECORD_V2_FILE = HERE / "sealed-record-v2.json"
EXPORT_PACKAGE_FILE = HERE / "export-package-v1.json"
KEY_FILE_FILE = HERE / "keyfile-v1.json"

# P-256 (SEC 2): y^2 = x^3 - 3x + b over GF(p).
P256_P = 2**256 - 2**224 + 2**192 + 2**96 - 1
P256_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B


def is_uncompressed_p256_point(encoded: bytes) -> bool:
    """Whether ``encoded`` is 0x04 || x || y with (x, y) on P-256, by plain arithmetic."""
    if len(encoded) != 65 or encoded[0] != 0x04:
        return False
    x = int.from_bytes(encoded[1:33], "big")
    y = int.from_bytes(encoded[33:], "big")
    if x >= P256_P or y >= P256_P:
        return False
    return (y * y - (x * x * x - 3 * x + P256_B)) % P256_P == 0


def _test_key(label: str) -> ec.EllipticCurvePrivateKey:
    return reference.derive_key_pair(f"gastregister test vectors: {label}".encode())


def _pkcs8(private_key: ec.EllipticCurvePrivateKey) -> bytes:
    return private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


KEYS = {name: _test_key(f"key {name}") for name in ("office-a", "office-b", "retired")}
SPKI = {name: public_key_spki(key) for name, key in KEYS.items()}
KEY_IDS = {name: key_id(spki) for name, spki in SPKI.items()}

# docs/FORMAT.md section 5.1 and 5.2, written out independently of crypto.envelope.
SUITE = bytes.fromhex("0010" + "0001" + "0001")
HEADER_SIZE = 39
CIPHERTEXT_OFFSET = 104
INFO_LABELS = {1: b"gastregister/sealed-record/v1", 2: b"gastregister/sealed-record/v2"}
AAD = b""
BASE64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

LOCATION = "BAECKEREI-SCHULZE-7"
AREA = "TISCH_12"

TYPICAL_RECORD: dict[str, Any] = {
    "v": 1,
    "firstName": "Jürgen",
    "lastName": "Müller-Lüdenscheidt",
    "street": "Schillerstraße",
    "houseNumber": "12a",
    "zipCode": "99423",
    "city": "Weimar",
    "phone": "+49 3643 123456",
    "email": "j.mueller@example.de",
    "additionalPersons": [
        {"firstName": "Anna", "lastName": "Müller-Lüdenscheidt", "sameAddress": True},
        {
            "firstName": "Ömer",
            "lastName": "Y\u0131lmaz",
            "street": "Marktplatz",
            "houseNumber": "1",
            "zipCode": "99425",
            "city": "Weimar",
            "phone": "",
            "email": "oemer@example.org",
        },
    ],
    "note": "Tisch am Fenster",
}
EMPTY_RECORD: dict[str, Any] = {
    "v": 1,
    **dict.fromkeys(
        ("firstName", "lastName", "street", "houseNumber", "zipCode", "city", "phone", "email"),
        "",
    ),
    "additionalPersons": [],
    "note": "",
}
UNICODE_RECORD: dict[str, Any] = {
    **EMPTY_RECORD,
    "firstName": "Zoë 👩🏽‍⚕️",
    "lastName": "אברהם عبد الله",
    "street": "A\u0308ußere Straße\u200b",  # combining diaeresis, zero-width space
    "city": '=HYPERLINK("x")\t\n\u0000',
    "note": "\U0001d518\U0001d52b\U0001d526 \u2713",  # Fraktur letters, a check mark
}
MAXIMUM_PERSON = {
    "firstName": "F" * 100,
    "lastName": "L" * 100,
    "sameAddress": False,
    "street": "S" * 150,
    "houseNumber": "H" * 20,
    "zipCode": "Z" * 10,
    "city": "C" * 100,
    "phone": "P" * 40,
    "email": "E" * 254,
}
MAXIMUM_RECORD: dict[str, Any] = {
    "v": 1,
    **{name: MAXIMUM_PERSON[name] for name in MAXIMUM_PERSON if name != "sameAddress"},
    "additionalPersons": [MAXIMUM_PERSON] * 20,
    "note": "N" * 500,
}


def compact_json(record: object) -> bytes:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def pad_to(record_json: bytes, bucket: int, marker: bytes = b"\x80") -> bytes:
    return record_json + marker + bytes(bucket - len(record_json) - len(marker))


def smallest_padding(record_json: bytes) -> bytes:
    bucket = next(b for b in (512, 1024, 2048, 4096, 8192, 16384, 32768) if len(record_json) < b)
    return pad_to(record_json, bucket)


def _lp(code: str) -> bytes:
    encoded = code.encode("utf-8")
    return len(encoded).to_bytes(2, "big") + encoded


def record_info(location: str, area: str, recipient_key_id: bytes, version: int = 1) -> bytes:
    return INFO_LABELS[version] + _lp(location) + _lp(area) + recipient_key_id


def seal(
    name: str,
    padded: bytes,
    *,
    to: str = "office-a",
    location: str = LOCATION,
    area: str = AREA,
    version: int = 1,
) -> bytes:
    """header || enc || ct, with the ephemeral key derived from ``name``."""
    header = bytes([version]) + SUITE + KEY_IDS[to]
    enc, ciphertext = reference.seal(
        KEYS[to].public_key(),
        record_info(location, area, KEY_IDS[to], version),
        AAD,
        padded,
        ephemeral_key=_test_key(f"ephemeral {name}"),
    )
    return header + enc + ciphertext


def flip(envelope: bytes, byte_index: int, bit: int = 0) -> bytes:
    changed = bytearray(envelope)
    changed[byte_index] ^= 1 << bit
    return bytes(changed)


def replace(envelope: bytes, offset: int, new: bytes) -> bytes:
    return envelope[:offset] + new + envelope[offset + len(new) :]


def sealed_record_vectors() -> dict[str, Any]:
    vectors: list[dict[str, Any]] = []

    def add(
        name: str,
        comment: str,
        expected: str,
        *,
        envelope: bytes | None = None,
        text: str | None = None,
        open_with: tuple[str, ...] = ("office-a",),
        location: str = LOCATION,
        area: str = AREA,
        record: dict[str, Any] | None = None,
    ) -> None:
        if text is None:
            assert envelope is not None
            text = b64url_encode(envelope)
        vector: dict[str, Any] = {
            "name": name,
            "comment": comment,
            "openWith": list(open_with),
            "locationCode": location,
            "areaCode": area,
            "envelope": text,
            "expected": expected,
        }
        if record is not None:
            vector["record"] = record
        vectors.append(vector)

    typical = seal("typical", smallest_padding(compact_json(TYPICAL_RECORD)))

    # Envelopes that open.
    add("ok-typical", "a guest with two companions", "ok", envelope=typical, record=TYPICAL_RECORD)
    add(
        "ok-empty-fields",
        "every string empty, no companions",
        "ok",
        envelope=seal("empty", smallest_padding(compact_json(EMPTY_RECORD))),
        record=EMPTY_RECORD,
    )
    add(
        "ok-unicode",
        "astral characters, combining marks, RTL, control characters, a formula",
        "ok",
        envelope=seal("unicode", smallest_padding(compact_json(UNICODE_RECORD))),
        record=UNICODE_RECORD,
    )
    maximum_json = compact_json(MAXIMUM_RECORD)
    assert 16384 <= len(maximum_json) < 32768
    add(
        "ok-maximum",
        "every field at its length limit, 20 companions: the 32768 bucket",
        "ok",
        envelope=seal("maximum", smallest_padding(maximum_json)),
        record=MAXIMUM_RECORD,
    )
    spaced = json.dumps(dict(reversed(TYPICAL_RECORD.items())), indent=2).encode("utf-8")
    add(
        "ok-any-json-layout",
        "readers accept any valid JSON: whitespace, \\u escapes, other member order",
        "ok",
        envelope=seal("spaced", smallest_padding(spaced)),
        record=TYPICAL_RECORD,
    )
    add(
        "ok-larger-bucket",
        "padding to a larger bucket than needed is not checked by readers",
        "ok",
        envelope=seal("larger-bucket", pad_to(compact_json(TYPICAL_RECORD), 2048)),
        record=TYPICAL_RECORD,
    )
    add(
        "ok-older-key",
        "sealed to an older key the office still holds",
        "ok",
        envelope=seal("older-key", smallest_padding(compact_json(TYPICAL_RECORD)), to="retired"),
        open_with=("office-a", "retired"),
        record=TYPICAL_RECORD,
    )

    # Text encoding.
    text = b64url_encode(typical)
    assert len(text) % 4 == 3
    add("text-padding", "'=' padding", "malformed", text=text + "=")
    add("text-whitespace", "a line break inside", "malformed", text=text[:76] + "\n" + text[76:])
    add("text-trailing-space", "trailing space", "malformed", text=text + " ")
    add("text-standard-alphabet", "'+' instead of '-'", "malformed", text=_standard_alphabet(text))
    last = BASE64URL_ALPHABET.index(text[-1])
    assert last & 0x03 == 0
    non_canonical = text[:-1] + BASE64URL_ALPHABET[last | 1]
    add(
        "text-trailing-bits",
        "non-zero unused bits in the last character",
        "malformed",
        text=non_canonical,
    )
    add("text-impossible-length", "length 1 modulo 4", "malformed", text=text + "AA")
    add("text-empty", "empty text", "malformed", text="")

    # Length.
    add("truncated-to-header", "only 50 bytes", "malformed", envelope=typical[:50])
    add("truncated-inside-enc", "103 bytes", "malformed", envelope=typical[:103])
    add("truncated-no-ciphertext", "header and enc only", "bad_length", envelope=typical[:104])
    add("truncated-one-byte", "last byte of the tag missing", "bad_length", envelope=typical[:-1])
    add("extended-one-byte", "a trailing zero byte", "bad_length", envelope=typical + b"\x00")
    add(
        "extended-to-next-bucket",
        "512 trailing bytes: a valid length, so the AEAD rejects it",
        "decryption_failed",
        envelope=typical + bytes(512),
    )

    # Header.
    add("version-0", "version byte 0", "unknown_version", envelope=replace(typical, 0, b"\x00"))
    add(
        "version-2",
        "version byte 2 on a v1 envelope: the v2 info label differs, so HPKE fails",
        "decryption_failed",
        envelope=replace(typical, 0, b"\x02"),
    )
    add("version-3", "version byte 3", "unknown_version", envelope=replace(typical, 0, b"\x03"))
    add("suite-kem-p384", "kem_id 0x0011", "wrong_suite", envelope=replace(typical, 1, b"\x00\x11"))
    add(
        "suite-kdf-sha384",
        "kdf_id 0x0002",
        "wrong_suite",
        envelope=replace(typical, 3, b"\x00\x02"),
    )
    add(
        "suite-aead-aes256",
        "aead_id 0x0002",
        "wrong_suite",
        envelope=replace(typical, 5, b"\x00\x02"),
    )
    add(
        "suite-aead-export-only",
        "aead_id 0xFFFF",
        "wrong_suite",
        envelope=replace(typical, 5, b"\xff\xff"),
    )

    # Keys.
    add(
        "wrong-key",
        "sealed to office-b, opened by office-a",
        "wrong_key",
        envelope=seal("to-b", smallest_padding(compact_json(TYPICAL_RECORD)), to="office-b"),
    )
    add(
        "retired-key-not-held",
        "sealed to a key that is no longer among the office's keys",
        "wrong_key",
        envelope=seal("to-retired", smallest_padding(compact_json(TYPICAL_RECORD)), to="retired"),
        open_with=("office-a", "office-b"),
    )
    relabelled = replace(typical, 7, KEY_IDS["office-b"])
    add(
        "key-id-relabelled",
        "key id changed to office-b's, opened by office-a",
        "wrong_key",
        envelope=relabelled,
    )
    add(
        "moved-to-other-key",
        "key id changed to office-b's and opened by office-b: the info and KEM context differ",
        "decryption_failed",
        envelope=relabelled,
        open_with=("office-b",),
    )

    # Context: location and area are bound through the HPKE info.
    add(
        "moved-to-other-location",
        "opened for another location",
        "decryption_failed",
        envelope=typical,
        location="BAECKEREI-SCHULZE-8",
    )
    add(
        "moved-to-other-area",
        "opened for another area",
        "decryption_failed",
        envelope=typical,
        area="TISCH_13",
    )
    add(
        "codes-case",
        "codes are case-sensitive",
        "decryption_failed",
        envelope=typical,
        area="tisch_12",
    )
    shifted = seal(
        "shifted", smallest_padding(compact_json(TYPICAL_RECORD)), location="AB", area="C"
    )
    add(
        "codes-boundary-shifted",
        "sealed for location AB, area C; opened for A, BC (length prefixes)",
        "decryption_failed",
        envelope=shifted,
        location="A",
        area="BC",
    )

    # enc.
    enc_offset = HEADER_SIZE
    add(
        "enc-compressed-prefix",
        "enc starts 0x02",
        "malformed",
        envelope=replace(typical, enc_offset, b"\x02"),
    )
    add(
        "enc-zero",
        "enc all zero (no point at infinity encoding is allowed)",
        "malformed",
        envelope=replace(typical, enc_offset, bytes(65)),
    )
    add(
        "enc-x-not-reduced",
        "x = p",
        "malformed",
        envelope=replace(typical, enc_offset + 1, P256_P.to_bytes(32, "big")),
    )
    y_flipped = flip(typical, enc_offset + 64)
    assert not is_uncompressed_p256_point(y_flipped[enc_offset:CIPHERTEXT_OFFSET])
    add("enc-off-curve", "lowest bit of y flipped", "malformed", envelope=y_flipped)
    on_curve = _x_flip_on_curve(typical)
    add(
        "enc-other-point",
        "a bit of x flipped, still on the curve",
        "decryption_failed",
        envelope=on_curve,
    )

    # Ciphertext and tag.
    add(
        "ct-first-bit",
        "first ciphertext bit",
        "decryption_failed",
        envelope=flip(typical, CIPHERTEXT_OFFSET),
    )
    add(
        "ct-middle-bit",
        "a bit in the padding region",
        "decryption_failed",
        envelope=flip(typical, CIPHERTEXT_OFFSET + 400, 5),
    )
    add("ct-tag-last-bit", "last tag bit", "decryption_failed", envelope=flip(typical, -1, 7))

    # Padding (authentic ciphertext, bad plaintext).
    record_json = compact_json(TYPICAL_RECORD)
    padding_cases: list[tuple[str, str, bytes]] = [
        ("padding-no-marker", "zeros without the 0x80 marker", pad_to(record_json, 512, b"")),
        ("padding-wrong-marker", "0x81 instead of 0x80", pad_to(record_json, 512, b"\x81")),
        ("padding-all-zero", "512 zero bytes", bytes(512)),
        (
            "padding-byte-after-marker",
            "a non-zero byte after 0x80",
            pad_to(record_json, 512, b"\x80\x01"),
        ),
        ("padding-not-a-bucket", "a plaintext of 600 bytes", pad_to(record_json, 600)),
    ]
    for name, comment, padded in padding_cases:
        expected = "bad_length" if len(padded) == 600 else "bad_padding"
        add(name, comment, expected, envelope=seal(name, padded))

    # Records (authentic, well padded, not a v1 record).
    persons_21 = {**EMPTY_RECORD, "additionalPersons": [{"firstName": "a", "lastName": "b"}] * 21}
    bad_records: list[tuple[str, str, bytes]] = [
        ("record-empty", "nothing before the marker", b""),
        ("record-not-json", "plain text", b"Juergen Mueller"),
        ("record-invalid-utf8", "a lone 0xFF byte", b'{"v":1,"firstName":"\xff"}'),
        ("record-bom", "a UTF-8 byte order mark", b"\xef\xbb\xbf" + record_json),
        ("record-array", "a JSON array", b"[]"),
        ("record-trailing-data", "bytes after the object", record_json + b"x"),
        ("record-nan", "NaN is not JSON", record_json.replace(b'"v":1', b'"v":NaN')),
        ("record-version-2", '"v": 2', record_json.replace(b'"v":1', b'"v":2')),
        ("record-version-string", '"v": "1"', record_json.replace(b'"v":1', b'"v":"1"')),
        ("record-missing-version", "no v", compact_json(_without(TYPICAL_RECORD, "v"))),
        ("record-missing-note", "no note", compact_json(_without(TYPICAL_RECORD, "note"))),
        (
            "record-unknown-member",
            "an extra top-level member",
            compact_json({**TYPICAL_RECORD, "birthday": "1970-01-01"}),
        ),
        (
            "record-person-unknown-member",
            "an extra member in a companion",
            compact_json(
                {
                    **EMPTY_RECORD,
                    "additionalPersons": [{"firstName": "a", "lastName": "b", "age": "7"}],
                }
            ),
        ),
        (
            "record-person-missing-name",
            "a companion without lastName",
            compact_json({**EMPTY_RECORD, "additionalPersons": [{"firstName": "a"}]}),
        ),
        (
            "record-person-same-address-string",
            "sameAddress as a string",
            compact_json(
                {
                    **EMPTY_RECORD,
                    "additionalPersons": [
                        {"firstName": "a", "lastName": "b", "sameAddress": "true"}
                    ],
                }
            ),
        ),
        (
            "record-phone-number",
            "phone as a JSON number",
            record_json.replace(b'"+49 3643 123456"', b"493643123456"),
        ),
        (
            "record-too-long",
            "firstName of 101 characters",
            compact_json({**EMPTY_RECORD, "firstName": "ä" * 101}),
        ),
        ("record-too-many-persons", "21 companions", compact_json(persons_21)),
        (
            "record-lone-surrogate",
            "a \\ud800 escape",
            compact_json(EMPTY_RECORD).replace(b'"firstName":""', b'"firstName":"\\ud800"'),
        ),
        (
            "record-persons-object",
            "additionalPersons as an object",
            compact_json({**EMPTY_RECORD, "additionalPersons": {}}),
        ),
    ]
    for name, comment, body in bad_records:
        add(name, comment, "bad_record", envelope=seal(name, smallest_padding(body)))

    return {
        "description": (
            "Gastregister sealed record v1 (docs/FORMAT.md). Decode 'envelope' as canonical "
            "unpadded base64url, open it with the keys in 'openWith' for 'locationCode' and "
            "'areaCode'; 'expected' is 'ok' (the result equals 'record') or the error kind."
        ),
        "generator": "tests/crypto/vectors/make_tamper_vectors.py",
        "keys": {
            name: {
                "privateKeyPkcs8": b64url_encode(_pkcs8(key)),
                "publicKey": b64url_encode(SPKI[name]),
                "keyId": KEY_IDS[name].hex(),
            }
            for name, key in KEYS.items()
        },
        "vectors": vectors,
    }


BOUND = {
    "arrival": "2026-11-20T18:30:05Z",
    "idempotencyKey": "6f1c2a9e-4b7d-4e0a-9c3f-2d5e8a1b7c40",
    "source": "guest_page",
}
TYPICAL_RECORD_V2: dict[str, Any] = {**TYPICAL_RECORD, "v": 2, **BOUND}
EMPTY_RECORD_V2: dict[str, Any] = {**EMPTY_RECORD, "v": 2, **BOUND, "source": "guest_form"}
MAXIMUM_RECORD_V2: dict[str, Any] = {
    **MAXIMUM_RECORD,
    "v": 2,
    **BOUND,
    "idempotencyKey": "K" * 64,
    "source": "staff_entry",
}


def sealed_record_v2_vectors() -> dict[str, Any]:
    """Version 2: the same envelope rules, another label, the bound record members.

    The envelope checks are the same code for both versions, so these vectors cover
    what differs: the version byte and label, and the v2 record schema.
    """
    vectors: list[dict[str, Any]] = []

    def add(
        name: str,
        comment: str,
        expected: str,
        envelope: bytes,
        *,
        open_with: tuple[str, ...] = ("office-a",),
        location: str = LOCATION,
        area: str = AREA,
        record: dict[str, Any] | None = None,
    ) -> None:
        vector: dict[str, Any] = {
            "name": name,
            "comment": comment,
            "openWith": list(open_with),
            "locationCode": location,
            "areaCode": area,
            "envelope": b64url_encode(envelope),
            "expected": expected,
        }
        if record is not None:
            vector["record"] = record
        vectors.append(vector)

    def seal2(name: str, body: bytes, **options: Any) -> bytes:
        return seal(f"v2 {name}", smallest_padding(body), version=2, **options)

    typical = seal2("typical", compact_json(TYPICAL_RECORD_V2))
    add("ok-typical", "a guest with two companions", "ok", typical, record=TYPICAL_RECORD_V2)
    add(
        "ok-empty-fields",
        "every string empty, sealed by the server's no-JavaScript form",
        "ok",
        seal2("empty", compact_json(EMPTY_RECORD_V2)),
        record=EMPTY_RECORD_V2,
    )
    maximum_json = compact_json(MAXIMUM_RECORD_V2)
    assert 16384 <= len(maximum_json) < 32768
    add(
        "ok-maximum",
        "every field at its limit, 20 companions, a 64-character key: the 32768 bucket",
        "ok",
        seal2("maximum", maximum_json),
        record=MAXIMUM_RECORD_V2,
    )
    add(
        "ok-older-key",
        "sealed to an older key the office still holds",
        "ok",
        seal2("older-key", compact_json(TYPICAL_RECORD_V2), to="retired"),
        open_with=("office-a", "retired"),
        record=TYPICAL_RECORD_V2,
    )
    add(
        "version-1-relabelled",
        "version byte 1 on a v2 envelope: the v1 info label differs, so HPKE fails",
        "decryption_failed",
        replace(typical, 0, b"\x01"),
    )
    add(
        "version-1-label",
        "version byte 2 but sealed with the v1 info label",
        "decryption_failed",
        replace(seal("v2 v1-label", smallest_padding(compact_json(TYPICAL_RECORD_V2))), 0, b"\x02"),
    )
    add("version-3", "version byte 3", "unknown_version", replace(typical, 0, b"\x03"))
    add("wrong-suite", "aead_id 0x0002", "wrong_suite", replace(typical, 5, b"\x00\x02"))
    add("truncated", "last byte missing", "bad_length", typical[:-1])
    add(
        "wrong-key",
        "sealed to office-b, opened by office-a",
        "wrong_key",
        seal2("to-b", compact_json(TYPICAL_RECORD_V2), to="office-b"),
    )
    add(
        "moved-to-other-area",
        "opened for another area",
        "decryption_failed",
        typical,
        area="TISCH_13",
    )
    add(
        "moved-to-other-location",
        "opened for another location",
        "decryption_failed",
        typical,
        location="BAECKEREI-SCHULZE-8",
    )
    add("ct-flip", "a ciphertext bit", "decryption_failed", flip(typical, CIPHERTEXT_OFFSET + 7))
    add(
        "padding-wrong-marker",
        "0x81 instead of 0x80",
        "bad_padding",
        seal("v2 padding", pad_to(compact_json(TYPICAL_RECORD_V2), 1024, b"\x81"), version=2),
    )
    bad_records: list[tuple[str, str, dict[str, Any]]] = [
        ("record-version-1", "a v1 record in a v2 envelope", TYPICAL_RECORD),
        (
            "record-version-1-with-binding",
            '"v": 1 with the v2 members',
            {**TYPICAL_RECORD_V2, "v": 1},
        ),
        ("record-missing-arrival", "no arrival", _without(TYPICAL_RECORD_V2, "arrival")),
        (
            "record-missing-idempotency-key",
            "no idempotencyKey",
            _without(TYPICAL_RECORD_V2, "idempotencyKey"),
        ),
        ("record-missing-source", "no source", _without(TYPICAL_RECORD_V2, "source")),
        (
            "record-arrival-fraction",
            "arrival with a fraction of a second",
            {**TYPICAL_RECORD_V2, "arrival": "2026-11-20T18:30:05.000Z"},
        ),
        (
            "record-arrival-offset",
            "arrival with +00:00 instead of Z",
            {**TYPICAL_RECORD_V2, "arrival": "2026-11-20T18:30:05+00:00"},
        ),
        (
            "record-arrival-impossible",
            "arrival on 31 November",
            {**TYPICAL_RECORD_V2, "arrival": "2026-11-31T18:30:05Z"},
        ),
        ("record-arrival-number", "arrival as a number", {**TYPICAL_RECORD_V2, "arrival": 0}),
        (
            "record-idempotency-key-short",
            "an idempotency key of 15 characters",
            {**TYPICAL_RECORD_V2, "idempotencyKey": "k" * 15},
        ),
        (
            "record-idempotency-key-alphabet",
            "an idempotency key with '+'",
            {**TYPICAL_RECORD_V2, "idempotencyKey": "k" * 15 + "+"},
        ),
        ("record-source-unknown", "source 'phone'", {**TYPICAL_RECORD_V2, "source": "phone"}),
        (
            "record-unknown-member",
            "an extra top-level member",
            {**TYPICAL_RECORD_V2, "checkInId": "1"},
        ),
    ]
    for name, comment, body in bad_records:
        add(name, comment, "bad_record", seal2(name, compact_json(body)))

    return {
        "description": (
            "Gastregister sealed record v2 (docs/FORMAT.md). Decode 'envelope' as canonical "
            "unpadded base64url, open it with the keys in 'openWith' for 'locationCode' and "
            "'areaCode'; 'expected' is 'ok' (the result equals 'record') or the error kind. "
            "The keys are those of sealed-record-v1.json."
        ),
        "generator": "tests/crypto/vectors/make_tamper_vectors.py",
        "keys": {
            name: {
                "privateKeyPkcs8": b64url_encode(_pkcs8(key)),
                "publicKey": b64url_encode(SPKI[name]),
                "keyId": KEY_IDS[name].hex(),
            }
            for name, key in KEYS.items()
        },
        "vectors": vectors,
    }


def _without(record: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: value for name, value in record.items() if name not in names}


def _standard_alphabet(text: str) -> str:
    index = next(i for i, c in enumerate(text) if c in "-_")
    return text[:index] + ("+" if text[index] == "-" else "/") + text[index + 1 :]


def _x_flip_on_curve(envelope: bytes) -> bytes:
    """The first single-bit change of enc's x that still gives a point on P-256."""
    for byte_index in range(HEADER_SIZE + 1, HEADER_SIZE + 33):
        for bit in range(8):
            changed = flip(envelope, byte_index, bit)
            x = int.from_bytes(changed[HEADER_SIZE + 1 : HEADER_SIZE + 33], "big")
            if x < P256_P and _has_square_root((x**3 - 3 * x + P256_B) % P256_P):
                # Keep the point on the curve: choose the y of the new x.
                y = pow((x**3 - 3 * x + P256_B) % P256_P, (P256_P + 1) // 4, P256_P)
                point = b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big")
                assert is_uncompressed_p256_point(point)
                return replace(envelope, HEADER_SIZE, point)
    raise AssertionError("no on-curve x found")  # cannot happen: half of all x qualify


def _has_square_root(value: int) -> bool:
    return value == 0 or pow(value, (P256_P - 1) // 2, P256_P) == 1


# ---------------------------------------------------------------------------------------
# Key files

PASSPHRASE = "correct horse battery staple"
UNICODE_PASSPHRASE = "Grüße aus Jena, Äpfel über Öl"
ITERATIONS = 100_000  # the lowest count readers accept, to keep tests fast
CREATED = "2026-11-21T12:00:00Z"


def _derived(label: str, size: int) -> bytes:
    return hashlib.sha256(f"gastregister test vectors: {label}".encode()).digest()[:size]


def key_file_document(
    *,
    key: str = "office-a",
    wrapped_key: ec.EllipticCurvePrivateKey | None = None,
    passphrase: str = PASSPHRASE,
    aad_key: str | None = None,
    iterations: int = ITERATIONS,
    label: str = "key file",
) -> dict[str, Any]:
    """A key file assembled from PBKDF2 and AES-GCM directly (see the module docstring)."""
    salt = _derived(f"{label} salt", 16)
    nonce = _derived(f"{label} nonce", 12)
    wrapping_key = PBKDF2HMAC(
        algorithm=hashes.SHA256(), length=32, salt=salt, iterations=iterations
    ).derive(unicodedata.normalize("NFC", passphrase).encode("utf-8"))
    aad = ("gastregister/keyfile/v1:" + KEY_IDS[aad_key or key].hex()).encode("ascii")
    pkcs8 = _pkcs8(wrapped_key if wrapped_key is not None else KEYS[key])
    return {
        "format": "gastregister-keyfile",
        "version": 1,
        "keyId": KEY_IDS[key].hex(),
        "publicKey": b64url_encode(SPKI[key]),
        "created": CREATED,
        "kdf": {"name": "PBKDF2-SHA-256", "iterations": iterations, "salt": b64url_encode(salt)},
        "cipher": {"name": "AES-256-GCM", "nonce": b64url_encode(nonce)},
        "encryptedPrivateKey": b64url_encode(AESGCM(wrapping_key).encrypt(nonce, pkcs8, aad)),
    }


def _text(document: object) -> str:
    return json.dumps(document, indent=2) + "\n"


@functools.cache
def _base_key_file_document() -> dict[str, Any]:
    return key_file_document()


def _edited(change: Callable[[dict[str, Any]], None]) -> str:
    document = copy.deepcopy(_base_key_file_document())
    change(document)
    return _text(document)


def key_file_vectors() -> dict[str, Any]:
    base = _base_key_file_document()
    vectors: list[dict[str, Any]] = []

    def add(
        name: str,
        comment: str,
        text: str,
        expected: str,
        *,
        without_passphrase: str = "ok",
        passphrase: str = PASSPHRASE,
        key: str | None = None,
    ) -> None:
        vector: dict[str, Any] = {
            "name": name,
            "comment": comment,
            "keyFile": text,
            "passphrase": passphrase,
            "expected": expected,
            "expectedWithoutPassphrase": without_passphrase,
        }
        if key is not None:
            vector["keyId"] = KEY_IDS[key].hex()
            vector["created"] = CREATED
        vectors.append(vector)

    add("ok", "office-a's key", _text(base), "ok", key="office-a")
    nfd = unicodedata.normalize("NFD", UNICODE_PASSPHRASE)
    assert nfd != UNICODE_PASSPHRASE
    add(
        "ok-passphrase-nfd",
        "written with the NFC passphrase, opened with its NFD spelling",
        _text(key_file_document(passphrase=UNICODE_PASSPHRASE, label="unicode")),
        "ok",
        passphrase=nfd,
        key="office-a",
    )
    add(
        "ok-compact-json",
        "no whitespace, other member order",
        json.dumps(dict(reversed(base.items())), separators=(",", ":")),
        "ok",
        key="office-a",
    )

    add(
        "wrong-passphrase",
        "one character different",
        _text(base),
        "wrong_passphrase",
        passphrase=PASSPHRASE[:-1] + "E",
    )
    add(
        "wrong-passphrase-empty", "empty passphrase", _text(base), "wrong_passphrase", passphrase=""
    )
    add(
        "tampered-ciphertext",
        "one bit of encryptedPrivateKey flipped",
        _edited(lambda d: d.update(encryptedPrivateKey=_flip_b64(d["encryptedPrivateKey"]))),
        "wrong_passphrase",
    )
    add(
        "tampered-salt",
        "salt changed",
        _edited(lambda d: d["kdf"].update(salt=b64url_encode(_derived("other salt", 16)))),
        "wrong_passphrase",
    )
    add(
        "tampered-iterations",
        "iterations changed",
        _edited(lambda d: d["kdf"].update(iterations=ITERATIONS + 1)),
        "wrong_passphrase",
    )
    add(
        "relabelled-to-other-key",
        "keyId and publicKey of office-b, key of office-a",
        _edited(
            lambda d: d.update(
                keyId=KEY_IDS["office-b"].hex(), publicKey=b64url_encode(SPKI["office-b"])
            )
        ),
        "wrong_passphrase",
    )
    add(
        "key-mismatch",
        "office-b's private key wrapped under office-a's key id",
        _text(key_file_document(wrapped_key=KEYS["office-b"], label="mismatch")),
        "key_mismatch",
    )
    add(
        "key-id-mismatch",
        "keyId of office-b, publicKey of office-a",
        _edited(lambda d: d.update(keyId=KEY_IDS["office-b"].hex())),
        "key_mismatch",
        without_passphrase="key_mismatch",
    )
    p384 = ec.derive_private_key(7, ec.SECP384R1())
    add(
        "not-p256",
        "a P-384 private key inside",
        _text(key_file_document(wrapped_key=p384, label="p384")),
        "malformed",
    )

    unsupported: list[tuple[str, str, Callable[[dict[str, Any]], None]]] = [
        ("version-2", "version 2", lambda d: d.update(version=2)),
        ("kdf-argon2", "another KDF", lambda d: d["kdf"].update(name="Argon2id")),
        ("cipher-aes128", "another cipher", lambda d: d["cipher"].update(name="AES-128-GCM")),
        ("iterations-too-low", "99,999 iterations", lambda d: d["kdf"].update(iterations=99_999)),
        (
            "iterations-too-high",
            "10,000,001 iterations",
            lambda d: d["kdf"].update(iterations=10_000_001),
        ),
    ]
    for name, comment, change in unsupported:
        add(name, comment, _edited(change), "unsupported", without_passphrase="unsupported")

    malformed: list[tuple[str, str, str]] = [
        ("not-json", "not JSON", "gastregister-keyfile v1\n"),
        ("json-array", "a JSON array", "[]"),
        (
            "other-format",
            "another format name",
            _edited(lambda d: d.update(format="age-encryption.org/v1")),
        ),
        ("version-string", "version as a string", _edited(lambda d: d.update(version="1"))),
        ("extra-member", "an unknown member", _edited(lambda d: d.update(comment="office A"))),
        ("missing-created", "no created", _edited(lambda d: d.pop("created"))),
        (
            "created-with-offset",
            "created not in UTC 'Z' form",
            _edited(lambda d: d.update(created="2026-11-21T13:00:00+01:00")),
        ),
        (
            "created-impossible-date",
            "30 February",
            _edited(lambda d: d.update(created="2026-02-30T12:00:00Z")),
        ),
        (
            "key-id-upper-case",
            "keyId in upper case",
            _edited(lambda d: d.update(keyId=d["keyId"].upper())),
        ),
        (
            "salt-short",
            "a 15-byte salt",
            _edited(lambda d: d["kdf"].update(salt=b64url_encode(bytes(15)))),
        ),
        (
            "salt-padded",
            "salt with '=' padding",
            _edited(lambda d: d["kdf"].update(salt=d["kdf"]["salt"] + "==")),
        ),
        (
            "nonce-short",
            "an 8-byte nonce",
            _edited(lambda d: d["cipher"].update(nonce=b64url_encode(bytes(8)))),
        ),
        (
            "iterations-string",
            "iterations as a string",
            _edited(lambda d: d["kdf"].update(iterations="100000")),
        ),
        (
            "kdf-extra-member",
            "an unknown KDF parameter",
            _edited(lambda d: d["kdf"].update(memory=65536)),
        ),
        (
            "public-key-not-spki",
            "publicKey is a raw point",
            _edited(lambda d: d.update(publicKey=b64url_encode(bytes([4]) + bytes(64)))),
        ),
        (
            "duplicate-member",
            "keyId twice",
            _text(base).replace(
                '"keyId"', '"keyId": "' + KEY_IDS["office-b"].hex() + '",\n  "keyId"', 1
            ),
        ),
    ]
    for name, comment, text in malformed:
        add(name, comment, text, "malformed", without_passphrase="malformed")

    return {
        "description": (
            "Gastregister key file v1 (docs/FORMAT.md). Read 'keyFile' (UTF-8 text) with "
            "'passphrase'; 'expected' is 'ok' (keyId and created as given) or the error kind. "
            "'expectedWithoutPassphrase' is the outcome of reading only the metadata."
        ),
        "generator": "tests/crypto/vectors/make_tamper_vectors.py",
        "vectors": vectors,
    }


# ---------------------------------------------------------------------------------------
# Export packages (docs/FORMAT.md section 11): whole packages with the expected outcome of
# the package and of every visit in it, including the tamper cases of the visit checks.

WINDOW = ("2026-11-20T17:00:00Z", "2026-11-20T21:00:00Z")
PACKAGE_AREAS = [
    {"id": 1, "code": "TISCH_12", "name": "Tisch 12"},
    {"id": 2, "code": "TISCH_13", "name": "Tisch 13"},
    {"id": 3, "code": "TERRASSE", "name": "Terrasse"},
]


def _visit_record(
    first: str,
    *,
    companions: int = 0,
    arrival: str = "2026-11-20T18:30:05Z",
    key: str | None = None,
    source: str = "guest_page",
    version: int = 2,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        **EMPTY_RECORD,
        "v": version,
        "firstName": first,
        "lastName": "Gast",
        "phone": "+49 3643 1",
        "additionalPersons": [
            {"firstName": f"Begleitung {n}", "lastName": "Gast", "sameAddress": True}
            for n in range(1, companions + 1)
        ],
    }
    if version == 2:
        record |= {
            "arrival": arrival,
            "idempotencyKey": key or f"key-{first.lower()}-0123456789",
            "source": source,
        }
    return record


def _package_row(
    name: str,
    record: dict[str, Any],
    *,
    area: str = "TISCH_12",
    arrival: str | None = None,
    departure: str | None = None,
    auto_departure: str | None = None,
    persons: int | None = None,
    source: str | None = None,
    to: str = "office-a",
    key_id_of: str | None = None,
    sealed_area: str | None = None,
) -> dict[str, Any]:
    """One row of a package; the row's metadata defaults to the sealed record's."""
    envelope = seal(
        f"package {name}",
        smallest_padding(compact_json(record)),
        to=to,
        area=sealed_area or area,
        version=record["v"],
    )
    arrival = arrival or record.get("arrival", "2026-11-20T18:00:00Z")
    return {
        "area": area,
        "arrival": arrival,
        "departure": departure,
        "autoDeparture": auto_departure or _plus_hours(arrival, 3),
        "persons": persons if persons is not None else 1 + len(record["additionalPersons"]),
        "source": source or record.get("source", "staff_entry"),
        "keyId": KEY_IDS[key_id_of or to].hex(),
        "envelope": b64url_encode(envelope),
    }


def _plus_hours(time: str, hours: int) -> str:
    moment = dt.datetime.fromisoformat(time[:-1]) + dt.timedelta(hours=hours)
    return moment.isoformat() + "Z"


def package_content(records: list[dict[str, Any]], *, areas: list[str] | None = None) -> bytes:
    content = {
        "package": {
            "id": "0b7e3c1a-5f2d-4c8e-9a61-3d2f4b5c6d7e",
            "createdAt": "2026-11-22T09:00:00Z",
            "expiresAt": "2026-11-29T09:00:00Z",
        },
        "request": {
            "id": 7,
            "healthOffice": {"id": 1, "name": "Gesundheitsamt Weimar"},
            "caseReference": "AZ 2026/4711",
            "windowStart": WINDOW[0],
            "windowEnd": WINDOW[1],
            "areas": ["TISCH_12", "TISCH_13"] if areas is None else areas,
            "releasedAt": "2026-11-22T08:55:00Z",
        },
        "location": {
            "code": LOCATION,
            "name": "Bäckerei Schulze",
            "street": "Markt",
            "houseNumber": "7",
            "zipCode": "99423",
            "city": "Weimar",
        },
        "areas": PACKAGE_AREAS,
        "records": records,
    }
    return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def package_header(content: bytes, **changes: Any) -> dict[str, Any]:
    return {
        "format": "gastregister-export",
        "version": 1,
        "contentLength": len(content),
        "contentSha256": hashlib.sha256(content).hexdigest(),
        **changes,
    }


def framed(content: bytes, header: dict[str, Any] | str | None = None) -> bytes:
    if header is None:
        header = package_header(content)
    line = header if isinstance(header, str) else json.dumps(header, separators=(",", ":"))
    return line.encode("utf-8") + b"\n" + content


def export_package_vectors() -> dict[str, Any]:
    vectors: list[dict[str, Any]] = []

    def add(
        name: str,
        comment: str,
        package: bytes,
        expected: str,
        visits: list[str] | None = None,
        unbound: list[int] | None = None,
    ) -> None:
        vector: dict[str, Any] = {
            "name": name,
            "comment": comment,
            "openWith": ["office-a", "retired"],
            "package": package.decode("utf-8"),
            "expected": expected,
        }
        if expected == "ok":
            vector["visits"] = [
                {"visit": number, "outcome": outcome}
                for number, outcome in enumerate(visits or [], start=1)
            ]
            vector["unbound"] = unbound or []
        vectors.append(vector)

    ada = _visit_record("Ada", companions=2)
    ben = _visit_record("Ben", arrival="2026-11-20T18:45:00Z", source="guest_form")
    old = _visit_record("Clara", version=1)
    dora = _visit_record("Dora", arrival="2026-11-20T19:20:00Z")
    emil = _visit_record("Emil", arrival="2026-11-20T19:40:00Z")
    rows: list[tuple[dict[str, Any], str, str]] = []

    def row(comment: str, outcome: str, data: dict[str, Any]) -> None:
        rows.append((data, outcome, comment))

    ada_row = _package_row("ada", ada, departure="2026-11-20T20:00:00Z")
    row(
        "a copy of visit 2 placed before it and re-dated: it fails, the genuine one stays",
        "arrival_mismatch",
        {
            **ada_row,
            "arrival": "2026-11-20T17:30:05Z",
            "departure": None,
            "autoDeparture": "2026-11-20T20:30:05Z",
        },
    )
    row("v2, two companions, checked out", "ok", ada_row)
    row(
        "v2 from the no-JavaScript form, automatic departure",
        "ok",
        _package_row("ben", ben, area="TISCH_13"),
    )
    row(
        "v1: opens and passes the checks that need no bound value; reported as unbound",
        "ok",
        _package_row("clara", old, arrival="2026-11-20T18:10:00Z", source="staff_entry"),
    )
    row(
        "v2 sealed to an older key the office still holds",
        "ok",
        _package_row("older", _visit_record("Fritz", arrival="2026-11-20T20:59:59Z"), to="retired"),
    )
    row(
        "re-dated row: the row's arrival moved by ten minutes",
        "arrival_mismatch",
        _package_row(
            "redated",
            _visit_record("Gerd", arrival="2026-11-20T19:00:00Z"),
            arrival="2026-11-20T19:10:00Z",
        ),
    )
    row(
        "changed persons: one guest, the row says three",
        "persons_mismatch",
        _package_row("persons", _visit_record("Hanna", arrival="2026-11-20T19:05:00Z"), persons=3),
    )
    row(
        "changed persons on a v1 record: checked without any bound value",
        "persons_mismatch",
        _package_row("v1-persons", _visit_record("Ida", version=1), persons=2),
    )
    dora_row = _package_row("dora", dora)
    emil_row = _package_row("emil", emil)
    row(
        "envelopes of two rows of one area swapped (this row has Emil's)",
        "arrival_mismatch",
        {**dora_row, "envelope": emil_row["envelope"]},
    )
    row(
        "envelopes of two rows of one area swapped (this row has Dora's)",
        "arrival_mismatch",
        {**emil_row, "envelope": dora_row["envelope"]},
    )
    row(
        "changed source: sealed on the guest page, the row says staff entry",
        "source_mismatch",
        _package_row(
            "source",
            _visit_record("Jan", arrival="2026-11-20T19:50:00Z"),
            source="staff_entry",
        ),
    )
    row(
        "pasted from another request: a visit the day before, outside the window",
        "outside_window",
        _package_row(
            "pasted-window",
            _visit_record("Karl", arrival="2026-11-19T12:00:00Z"),
            departure="2026-11-19T13:00:00Z",
        ),
    )
    row(
        "pasted from another request by moving its departure into the window",
        "departure_out_of_range",
        _package_row(
            "pasted-departure",
            _visit_record("Lena", arrival="2026-11-19T12:00:00Z"),
            departure="2026-11-20T17:30:00Z",
        ),
    )
    row(
        "checked out at closing time a minute before its arrival (a phone clock ahead): accepted",
        "ok",
        _package_row(
            "closing",
            _visit_record("Vera", arrival="2026-11-20T20:30:00Z"),
            departure="2026-11-20T20:29:00Z",
        ),
    )
    row(
        "an automatic departure before the arrival",
        "departure_out_of_range",
        _package_row(
            "auto-before",
            _visit_record("Willi", arrival="2026-11-20T20:31:00Z"),
            auto_departure="2026-11-20T20:00:00Z",
        ),
    )
    row(
        "pasted from another request: an area of the location the request did not ask for",
        "area_not_requested",
        _package_row(
            "pasted-area",
            _visit_record("Mia", arrival="2026-11-20T19:15:00Z"),
            area="TERRASSE",
        ),
    )
    row(
        "an area code that is no area of the location",
        "area_not_requested",
        _package_row(
            "unknown-area", _visit_record("Nils", arrival="2026-11-20T19:16:00Z"), area="KELLER"
        ),
    )
    row("an exact copy of visit 2", "duplicate", dict(ada_row))
    row(
        "sealed again with the same idempotency key (another enc)",
        "duplicate",
        _package_row("ben-again", ben, area="TISCH_13"),
    )
    row("an exact copy of the v1 visit 4", "duplicate", dict(rows[3][0]))
    row(
        "the row names another key id than the envelope",
        "key_id_mismatch",
        _package_row(
            "key-id", _visit_record("Otto", arrival="2026-11-20T19:25:00Z"), key_id_of="office-b"
        ),
    )
    row(
        "an envelope sealed for Tisch 13 in a row of Tisch 12",
        "decryption_failed",
        _package_row(
            "moved-area",
            _visit_record("Paul", arrival="2026-11-20T19:26:00Z"),
            sealed_area="TISCH_13",
        ),
    )
    row(
        "sealed to another office's key",
        "wrong_key",
        _package_row("other-office", _visit_record("Rita"), to="office-b"),
    )
    row(
        "an area code that cannot be a code",
        "malformed",
        {**_package_row("bad-code", _visit_record("Sven")), "area": "TISCH 12"},
    )
    row(
        "an area code that cannot be a code, with an envelope of another office: the code first",
        "malformed",
        {**_package_row("bad-code-b", _visit_record("Susi"), to="office-b"), "area": "tisch/12"},
    )
    row(
        "an arrival in the year 0",
        "malformed",
        {**_package_row("year-0", _visit_record("Theo")), "arrival": "0000-01-01T00:00:00Z"},
    )
    row(
        "an arrival that is no time",
        "malformed",
        {**_package_row("bad-time", _visit_record("Tom")), "arrival": "2026-11-20 18:30"},
    )
    row(
        "delivered late from the phone's outbox: opens like any other, the readers show the mark",
        "ok",
        {
            **_package_row("late", _visit_record("Ulla", arrival="2026-11-20T19:28:00Z")),
            "deliveredLate": True,
        },
    )
    row(
        "deliveredLate written out as false: the same as without it",
        "ok",
        {
            **_package_row("timely", _visit_record("Udo", arrival="2026-11-20T19:29:00Z")),
            "deliveredLate": False,
        },
    )
    row(
        "deliveredLate that is not a boolean",
        "malformed",
        {
            **_package_row("late-text", _visit_record("Uta", arrival="2026-11-20T19:30:00Z")),
            "deliveredLate": "ja",
        },
    )
    row(
        "deliveredLate null",
        "malformed",
        {
            **_package_row("late-null", _visit_record("Ute", arrival="2026-11-20T19:31:00Z")),
            "deliveredLate": None,
        },
    )
    row("not an object", "malformed", [])  # type: ignore[arg-type]  # the case under test

    content = package_content([data for data, _, _ in rows])
    add(
        "visits-checked",
        "; ".join(f"visit {n}: {comment}" for n, (_, _, comment) in enumerate(rows, start=1)),
        framed(content),
        "ok",
        [outcome for _, outcome, _ in rows],
        unbound=[4],
    )

    whole_location = package_content(
        [ada_row, _package_row("terrasse", _visit_record("Uwe"), area="TERRASSE")], areas=[]
    )
    add(
        "whole-location",
        "request.areas empty: every area of the location is requested",
        framed(whole_location),
        "ok",
        ["ok", "ok"],
    )

    small = package_content([ada_row])
    padded_header = json.dumps(package_header(small), separators=(",", ":"))
    padded_header = padded_header[:-1] + " " * (4095 - len(padded_header)) + "}"
    assert len(padded_header) == 4095
    add(
        "header-4096-bytes",
        "the header line with its line feed is exactly 4096 bytes",
        framed(small, padded_header),
        "ok",
        ["ok"],
    )
    too_long = padded_header[:-1] + " }"
    add(
        "header-4097-bytes",
        "the line feed is the 4097th byte",
        framed(small, too_long),
        "not_a_package",
    )
    add(
        "header-cut",
        "a short file cut inside the header line",
        framed(small)[:40],
        "truncated",
    )
    add("not-json", "a text file", b"Name;Telefon\nAda;1\n", "not_a_package")
    add(
        "header-duplicate-member",
        "format twice",
        framed(
            small,
            json.dumps(package_header(small), separators=(",", ":")).replace(
                '{"format"', '{"format":"x","format"', 1
            ),
        ),
        "not_a_package",
    )
    add(
        "header-not-ascii",
        "a non-ASCII character in the header",
        framed(
            small,
            json.dumps(
                package_header(small, note="Straße"), ensure_ascii=False, separators=(",", ":")
            ),
        ),
        "not_a_package",
    )
    add(
        "header-nan",
        "contentLength NaN",
        framed(
            small,
            json.dumps(package_header(small), separators=(",", ":")).replace(
                f'"contentLength":{len(small)}', '"contentLength":NaN'
            ),
        ),
        "not_a_package",
    )
    add(
        "header-format",
        "another format",
        framed(small, package_header(small, format="x")),
        "not_a_package",
    )
    add(
        "version-2",
        "package version 2",
        framed(small, package_header(small, version=2)),
        "unsupported_version",
    )
    add(
        "version-true",
        "version true",
        framed(small, package_header(small, version=True)),
        "unsupported_version",
    )
    add(
        "version-1.0",
        "1.0 is the number 1",
        framed(
            small,
            json.dumps(package_header(small), separators=(",", ":")).replace(
                '"version":1', '"version":1.0'
            ),
        ),
        "ok",
        ["ok"],
    )
    add(
        "header-extra-member",
        "a fifth header member",
        framed(small, package_header(small, note="x")),
        "malformed",
    )
    add(
        "header-length-string",
        "contentLength as a string",
        framed(small, package_header(small, contentLength=str(len(small)))),
        "malformed",
    )
    add(
        "header-length-fraction",
        "contentLength 0.5",
        framed(small, package_header(small, contentLength=0.5)),
        "malformed",
    )
    add(
        "header-sha256-upper",
        "contentSha256 in upper case",
        framed(
            small, package_header(small, contentSha256=hashlib.sha256(small).hexdigest().upper())
        ),
        "malformed",
    )
    add("content-truncated", "the last byte missing", framed(small)[:-1], "truncated")
    add("content-extended", "a trailing line feed", framed(small) + b"\n", "integrity")
    changed = small.replace(b"Weimar", b"Erfurt", 1)
    add(
        "content-changed",
        "content changed, the old SHA-256 kept",
        framed(changed, package_header(small)),
        "integrity",
    )
    add(
        "content-changed-rehashed",
        "content changed and the SHA-256 recomputed: the hash is unkeyed, so this passes",
        framed(changed),
        "ok",
        ["ok"],
    )
    no_window = small.replace(
        b'"windowStart":"2026-11-20T17:00:00Z"', b'"windowStart":"2026-11-20"'
    )
    add("content-window", "windowStart not a time", framed(no_window), "malformed")
    nan = small.replace(b'"id":7', b'"id":NaN')
    add("content-nan", "NaN in the content", framed(nan), "malformed")
    add(
        "content-bom",
        "a byte order mark before the content",
        framed(b"\xef\xbb\xbf" + small),
        "malformed",
    )
    not_object = b"[]"
    add("content-array", "the content is an array", framed(not_object), "malformed")

    return {
        "description": (
            "Gastregister export packages, package format v1 (docs/FORMAT.md section 11). "
            "Read 'package' (UTF-8 text) and open its records with the keys in 'openWith'. "
            "'expected' is the package's outcome: 'ok' or a package error kind. For 'ok', "
            "'visits' gives each visit's outcome by visit number: 'ok', an error kind of "
            "section 9.1 or a visit check kind of section 9.3; 'unbound' lists the opened "
            "visits in format v1. The keys are those of sealed-record-v1.json."
        ),
        "generator": "tests/crypto/vectors/make_tamper_vectors.py",
        "keys": {
            name: {
                "privateKeyPkcs8": b64url_encode(_pkcs8(key)),
                "publicKey": b64url_encode(SPKI[name]),
                "keyId": KEY_IDS[name].hex(),
            }
            for name, key in KEYS.items()
        },
        "vectors": vectors,
    }


def _flip_b64(text: str) -> str:
    raw = bytearray(b64url_decode(text))
    raw[0] ^= 1
    return b64url_encode(bytes(raw))


def render(document: object) -> str:
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


def main() -> None:
    SEALED_RECORD_FILE.write_text(render(sealed_record_vectors()), encoding="utf-8")
    SEALED_RECORD_V2_FILE.write_text(render(sealed_record_v2_vectors()), encoding="utf-8")
    EXPORT_PACKAGE_FILE.write_text(render(export_package_vectors()), encoding="utf-8")
    KEY_FILE_FILE.write_text(render(key_file_vectors()), encoding="utf-8")
    names = (SEALED_RECORD_FILE, SEALED_RECORD_V2_FILE, KEY_FILE_FILE, EXPORT_PACKAGE_FILE)
    print("wrote " + ", ".join(path.name for path in names))


if __name__ == "__main__":
    main()
