"""The browser side of sealed contact records (static/js/sealed-record.js) in Chromium.

Four kinds of evidence: the vendored @hpke/core passes the RFC 9180 vectors for
our suite; our module keeps the format's rules (canonical base64url, schema,
every rejection kind) with the same outcome as the Python package `crypto` for
the same input; records and key files cross between the two in both directions;
and the bulk opener (worker pool) gives the same results as single opens.
"""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st
from playwright.sync_api import Page

from crypto import (
    FIELD_LIMITS,
    MAX_ADDITIONAL_PERSONS,
    KeyFileError,
    RecordSchemaError,
    SealedRecordError,
    b64url_decode,
    b64url_encode,
    decode_envelope,
    encode_envelope,
    format_fingerprint,
    generate_private_key,
    key_id,
    normalise_contact_record,
    open_contact_record,
    public_key_spki,
    read_key_file,
    seal_contact_record,
    write_key_file,
)
from crypto.envelope import seal_padded_plaintext
from crypto.record import encode_contact_record
from tests.crypto import b64_cases

pytestmark = [
    pytest.mark.browser,
    pytest.mark.engine_independent(
        "only JavaScript in the browser and a static file server: no database at all"
    ),
]

VECTORS_FILE = (
    Path(__file__).resolve().parents[1]
    / "crypto"
    / "vectors"
    / "hpke-rfc9180-dhkem-p256-hkdf-sha256.json"
)
EXPORT_PACKAGE_VECTORS = json.loads(
    (VECTORS_FILE.parent / "export-package-v1.json").read_text(encoding="utf-8")
)
LOCATION = "cafe-am-markt"
AREA = "tisch_7"


def _base_mode_vectors() -> list[dict[str, Any]]:
    vectors: list[dict[str, Any]] = json.loads(VECTORS_FILE.read_text(encoding="utf-8"))
    return [v for v in vectors if v["mode"] == 0 and v["aead_id"] == 1 and v["kem_id"] == 16]


# Runs in the page: checks one RFC 9180 base-mode vector with @hpke/core's own API.
_CHECK_RFC9180_VECTOR = """
async (v) => {
  const { Aes128Gcm, CipherSuite, DhkemP256HkdfSha256, HkdfSha256 } = window.hpke;
  const hex = (s) => Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));
  const toHex = (buf) =>
    Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");
  const suite = new CipherSuite({
    kem: new DhkemP256HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes128Gcm(),
  });
  const result = {};

  // Recipient key from skRm; its public point must be pkRm.
  const skR = await suite.kem.importKey("raw", hex(v.skRm).buffer, false);
  const jwk = await crypto.subtle.exportKey("jwk", skR);
  const pkR = await crypto.subtle.importKey(
    "jwk", { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y },
    { name: "ECDH", namedCurve: "P-256" }, true, []);
  result.pkRm = toHex(await crypto.subtle.exportKey("raw", pkR));
  // DeriveKeyPair(ikmR) must give the same key pair.
  const derived = await suite.kem.deriveKeyPair(hex(v.ikmR));
  result.derivedSkRm = toHex(await suite.kem.serializePrivateKey(derived.privateKey));
  result.derivedPkRm = toHex(await suite.kem.serializePublicKey(derived.publicKey));

  // Single shot: enc || ct of encryptions[0].
  const first = v.encryptions[0];
  result.singleShotPt = toHex(await suite.open(
    { recipientKey: skR, enc: hex(v.enc), info: hex(v.info) }, hex(first.ct), hex(first.aad)));

  // Receiver context: every encryption, in order (sequence numbers 0..256).
  const recipient = await suite.createRecipientContext(
    { recipientKey: { privateKey: skR, publicKey: pkR }, enc: hex(v.enc), info: hex(v.info) });
  result.contextPts = [];
  for (const item of v.encryptions) {
    result.contextPts.push(toHex(await recipient.open(hex(item.ct), hex(item.aad))));
  }
  result.exports = [];
  for (const item of v.exports) {
    result.exports.push(toHex(await recipient.export(hex(item.exporter_context), item.L)));
  }

  // Sender with the vector's ephemeral key (ekm = ikmE, testing only): same enc and ct.
  const sender = await suite.createSenderContext(
    { recipientPublicKey: pkR, info: hex(v.info), ekm: hex(v.ikmE) });
  result.senderEnc = toHex(sender.enc);
  result.senderCts = [];
  for (const item of v.encryptions.slice(0, 3)) {
    result.senderCts.push(toHex(await sender.seal(hex(item.pt), hex(item.aad))));
  }
  return result;
}
"""


def test_rfc9180_vectors_file_has_the_base_mode_vector() -> None:
    vectors = _base_mode_vectors()
    assert len(vectors) == 1
    assert len(vectors[0]["encryptions"]) == 257


@pytest.mark.parametrize("vector", _base_mode_vectors(), ids=lambda v: f"mode0-aead{v['aead_id']}")
def test_vendored_hpke_passes_rfc9180_base_mode_vector(
    sealed_record_page: Page, vector: dict[str, Any]
) -> None:
    result = sealed_record_page.evaluate(_CHECK_RFC9180_VECTOR, vector)

    assert result["pkRm"] == vector["pkRm"]
    assert result["derivedSkRm"] == vector["skRm"]
    assert result["derivedPkRm"] == vector["pkRm"]
    assert result["singleShotPt"] == vector["encryptions"][0]["pt"]
    assert result["contextPts"] == [item["pt"] for item in vector["encryptions"]]
    assert result["exports"] == [item["exported_value"] for item in vector["exports"]]
    assert result["senderEnc"] == vector["enc"]
    assert result["senderCts"] == [item["ct"] for item in vector["encryptions"][:3]]


# ---------------------------------------------------------------------------
# Loading: only our own origin


def test_module_and_bundle_load_from_our_own_origin_only(
    browser_page: Page, static_server: str, request_recorder: Any
) -> None:
    log = request_recorder(browser_page)
    browser_page.goto(static_server + "/tests/browser/pages/sealed-record.html")
    browser_page.wait_for_function("window.harnessReady === true")

    assert log.outside_origin(static_server) == []
    assert static_server + "/static/vendor/hpke.js" in log.urls
    assert static_server + "/static/js/sealed-record.js" in log.urls


# ---------------------------------------------------------------------------
# base64url and fingerprints

_DECODE_OR_ERROR = """
(text) => {
  try {
    return { bytes: Array.from(window.sealedRecord.decodeBase64url(text)) };
  } catch (error) {
    return { error: error.name };
  }
}
"""


@pytest.mark.parametrize(("text", "expected"), b64_cases.CANONICAL)
def test_decode_base64url_accepts_canonical_text(
    sealed_record_page: Page, text: str, expected: bytes
) -> None:
    assert sealed_record_page.evaluate(_DECODE_OR_ERROR, text) == {"bytes": list(expected)}


@pytest.mark.parametrize("text", b64_cases.NON_CANONICAL)
def test_decode_base64url_rejects_non_canonical_text(sealed_record_page: Page, text: str) -> None:
    assert sealed_record_page.evaluate(_DECODE_OR_ERROR, text) == {"error": "RangeError"}


@settings(max_examples=40, deadline=None)
@given(data=st.binary(max_size=100))
def test_base64url_matches_python_both_ways(sealed_record_page: Page, data: bytes) -> None:
    text = b64url_encode(data)
    result = sealed_record_page.evaluate(
        """([bytes, text]) => ({
          encoded: window.sealedRecord.encodeBase64url(new Uint8Array(bytes)),
          decoded: Array.from(window.sealedRecord.decodeBase64url(text)),
        })""",
        [list(data), text],
    )
    assert result == {"encoded": text, "decoded": list(data)}


def test_fingerprint_is_sixteen_groups_of_upper_case_hex(sealed_record_page: Page) -> None:
    key_id_bytes = bytes(range(0xA0, 0xC0))
    shown = sealed_record_page.evaluate(
        "(hex) => window.sealedRecord.formatFingerprint(hex)", key_id_bytes.hex()
    )
    assert shown == format_fingerprint(key_id_bytes)
    assert shown.startswith("A0A1 A2A3 ")
    assert len(shown.split(" ")) == 16


# ---------------------------------------------------------------------------
# Contact record schema: same field and reason as crypto.normalise_contact_record

_NORMALISE_OR_ERROR = """
(record) => {
  try {
    return { record: window.sealedRecord.normaliseContactRecord(record) };
  } catch (error) {
    return { error: error.name, field: error.field, reason: error.reason };
  }
}
"""

_PERSON = {"firstName": "Erika", "lastName": "Mustermann"}


@pytest.mark.parametrize(
    ("record", "field", "reason"),
    [
        ([], "", "not_an_object"),
        ({"firstName": "A", "middleName": "B"}, "middleName", "unknown_field"),
        ({"v": 3}, "v", "unsupported_version"),
        ({"v": 2}, "arrival", "missing_field"),
        ({"v": 1, "source": "guest_page"}, "source", "unknown_field"),
        ({"v": True}, "v", "unsupported_version"),
        ({"v": None}, "v", "unsupported_version"),
        ({"v": "1"}, "v", "unsupported_version"),
        ({"firstName": 7}, "firstName", "not_a_string"),
        ({"firstName": None}, "firstName", "not_a_string"),
        ({"firstName": "x" * 101}, "firstName", "too_long"),
        ({"zipCode": "1" * 11}, "zipCode", "too_long"),
        ({"email": "e" * 255}, "email", "too_long"),
        ({"note": "n" * 501}, "note", "too_long"),
        ({"additionalPersons": {}}, "additionalPersons", "not_an_array"),
        ({"additionalPersons": None}, "additionalPersons", "not_an_array"),
        ({"additionalPersons": "Erika"}, "additionalPersons", "not_an_array"),
        ({"additionalPersons": [_PERSON] * 21}, "additionalPersons", "too_many_persons"),
        ({"additionalPersons": ["Erika"]}, "additionalPersons[0]", "not_an_object"),
        (
            {"additionalPersons": [_PERSON, {"firstName": "Max"}]},
            "additionalPersons[1].lastName",
            "missing_field",
        ),
        (
            {"additionalPersons": [{**_PERSON, "age": "7"}]},
            "additionalPersons[0].age",
            "unknown_field",
        ),
        (
            {"additionalPersons": [{**_PERSON, "sameAddress": "yes"}]},
            "additionalPersons[0].sameAddress",
            "not_a_boolean",
        ),
        (
            {"additionalPersons": [{**_PERSON, "phone": "1" * 41}]},
            "additionalPersons[0].phone",
            "too_long",
        ),
    ],
)
def test_schema_errors_name_the_same_field_and_reason_as_python(
    sealed_record_page: Page, record: Any, field: str, reason: str
) -> None:
    with pytest.raises(RecordSchemaError) as python_error:
        normalise_contact_record(record)
    assert (python_error.value.field, python_error.value.reason) == (field, reason)

    result = sealed_record_page.evaluate(_NORMALISE_OR_ERROR, record)

    assert result == {"error": "RecordSchemaError", "field": field, "reason": reason}


def test_schema_counts_code_points_not_utf16_units(sealed_record_page: Page) -> None:
    # 100 characters outside the BMP are 200 UTF-16 code units, still within the limit.
    emoji_name = "\U0001f600" * 100
    result = sealed_record_page.evaluate(_NORMALISE_OR_ERROR, {"firstName": emoji_name})
    assert result["record"]["firstName"] == emoji_name

    too_long = sealed_record_page.evaluate(_NORMALISE_OR_ERROR, {"firstName": emoji_name + "a"})
    assert too_long["reason"] == "too_long"


@pytest.mark.parametrize("text", ["\\ud800", "a\\udc00", "\\udbff\\udbff\\udc00"])
def test_schema_rejects_lone_surrogates(sealed_record_page: Page, text: str) -> None:
    # Python cannot even hold such a record in JSON, so the browser is checked alone.
    result = sealed_record_page.evaluate(f"() => ({_NORMALISE_OR_ERROR})({{ lastName: '{text}' }})")
    assert result == {"error": "RecordSchemaError", "field": "lastName", "reason": "not_unicode"}


def test_normalised_record_fills_missing_fields_like_python(sealed_record_page: Page) -> None:
    record = {"lastName": "Mustermann", "additionalPersons": [{**_PERSON, "sameAddress": True}]}

    result = sealed_record_page.evaluate(_NORMALISE_OR_ERROR, record)

    assert result["record"] == normalise_contact_record(record)
    # Same member order, so both writers produce the same JSON bytes and padding bucket.
    assert list(result["record"]) == list(normalise_contact_record(record))


# ---------------------------------------------------------------------------
# Keys and envelopes shared by the tests below

PASSPHRASE = "Korrekt Pferd Batterie Heftklammer"
TEST_ITERATIONS = 100_000  # the readers' minimum; writers use 600,000 outside tests
KEY_CREATED = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)

_LOAD_KEY_FILE = """
async ([name, text, passphrase]) => {
  const key = await window.sealedRecord.readKeyFile(text, passphrase);
  (window.testKeys ??= {})[name] = key;
  return {
    keyId: key.keyId,
    publicKey: window.sealedRecord.encodeBase64url(key.publicKeySpki),
    created: key.created,
  };
}
"""

_READ_KEY_FILE_OR_ERROR = """
async ([text, passphrase]) => {
  try {
    const key = await window.sealedRecord.readKeyFile(text, passphrase);
    return { keyId: key.keyId };
  } catch (error) {
    return { error: error.name, kind: error.kind };
  }
}
"""

# As above, from the file's bytes (an ArrayBuffer, as File.arrayBuffer() gives).
_READ_KEY_FILE_BYTES_OR_ERROR = """
async ([bytes, passphrase]) => {
  try {
    const key = await window.sealedRecord.readKeyFile(new Uint8Array(bytes).buffer, passphrase);
    return { keyId: key.keyId };
  } catch (error) {
    return { error: error.name, kind: error.kind };
  }
}
"""

_SEAL_OR_ERROR = """
async ([spki, record, locationCode, areaCode]) => {
  const sr = window.sealedRecord;
  const recipient = await sr.importRecipientPublicKey(spki);
  try {
    return { envelope: await sr.sealContactRecord(recipient, record, { locationCode, areaCode }) };
  } catch (error) {
    return { error: error.name, field: error.field, reason: error.reason };
  }
}
"""

_OPEN_OR_ERROR = """
async ([keyName, envelope, locationCode, areaCode]) => {
  const key = window.testKeys[keyName];
  try {
    return {
      record: await window.sealedRecord.openContactRecord(
        key.privateKey, envelope, { locationCode, areaCode }),
    };
  } catch (error) {
    return { error: error.name, kind: error.kind };
  }
}
"""


@dataclass(frozen=True)
class OfficeKey:
    """A health-office key made in Python and loaded into the harness page as `name`."""

    name: str
    private_key: ec.EllipticCurvePrivateKey
    spki: bytes
    key_file: bytes


@pytest.fixture(scope="module")
def office_key(sealed_record_page: Page) -> OfficeKey:
    private_key = generate_private_key()
    key_file = write_key_file(
        private_key, PASSPHRASE, created=KEY_CREATED, iterations=TEST_ITERATIONS
    )
    sealed_record_page.evaluate(_LOAD_KEY_FILE, ["office", key_file.decode(), PASSPHRASE])
    return OfficeKey("office", private_key, public_key_spki(private_key), key_file)


def _seal_in_browser(page: Page, spki: bytes, record: Any, location: str, area: str) -> str:
    result = page.evaluate(_SEAL_OR_ERROR, [b64url_encode(spki), record, location, area])
    assert "envelope" in result, result
    envelope: str = result["envelope"]
    return envelope


def _open_in_browser(page: Page, key: OfficeKey, envelope: str, location: str, area: str) -> Any:
    return page.evaluate(_OPEN_OR_ERROR, [key.name, envelope, location, area])


def _python_open_kind(key: OfficeKey, envelope: str, location: str, area: str) -> str | None:
    try:
        open_contact_record(
            key.private_key, decode_envelope(envelope), location_code=location, area_code=area
        )
    except SealedRecordError as error:
        return str(error.kind)
    return None


# ---------------------------------------------------------------------------
# Envelopes: every rejection kind, the same in the browser as in Python

_RECORD = {
    "firstName": "Erika",
    "lastName": "Mustermann",
    "street": "Heidestraße",
    "houseNumber": "17",
    "zipCode": "51147",
    "city": "Köln",
    "phone": "+49 221 1234567",
    "email": "erika@example.org",
    "note": "",
}


def _changed(envelope: bytes, offset: int, value: int) -> bytes:
    return envelope[:offset] + bytes([value]) + envelope[offset + 1 :]


def _off_curve_enc(envelope: bytes) -> bytes:
    # Flipping the last bit of y moves the point off P-256 (y and p - y differ in parity,
    # and y + 1 or y - 1 is not a root for the same x).
    return _changed(envelope, 103, envelope[103] ^ 0x01)


_ENVELOPE_MUTATIONS: dict[str, tuple[str, Any]] = {
    "empty": ("malformed", lambda e: b""),
    "version_only": ("malformed", lambda e: e[:1]),
    "version_3": ("unknown_version", lambda e: _changed(e, 0, 3)),
    # A v1 envelope relabelled v2 opens with the v2 info label, so HPKE fails.
    "version_1_as_2": ("decryption_failed", lambda e: _changed(e, 0, 2)),
    "version_0_and_short": ("unknown_version", lambda e: b"\x00" + e[1:20]),
    "cut_in_enc": ("malformed", lambda e: e[:80]),
    "kem_id": ("wrong_suite", lambda e: _changed(e, 2, 0x11)),
    "aead_id_aes256": ("wrong_suite", lambda e: _changed(e, 6, 0x02)),
    "ciphertext_one_byte_short": ("bad_length", lambda e: e[:-1]),
    "ciphertext_one_byte_long": ("bad_length", lambda e: e + b"\x00"),
    "no_ciphertext": ("bad_length", lambda e: e[:104]),
    "enc_compressed_prefix": ("malformed", lambda e: _changed(e, 39, 0x02)),
    "enc_off_curve": ("malformed", _off_curve_enc),
    "key_id": ("wrong_key", lambda e: _changed(e, 20, e[20] ^ 0xFF)),
    "key_id_and_enc_off_curve": ("malformed", lambda e: _off_curve_enc(_changed(e, 20, 0))),
    "ciphertext_bit": ("decryption_failed", lambda e: _changed(e, 300, e[300] ^ 0x04)),
    "tag_bit": ("decryption_failed", lambda e: _changed(e, len(e) - 1, e[-1] ^ 0x80)),
    "enc_other_point": ("decryption_failed", None),  # built in the test
}


@pytest.mark.parametrize("mutation", list(_ENVELOPE_MUTATIONS))
def test_altered_envelope_is_rejected_with_the_same_kind_as_python(
    sealed_record_page: Page, office_key: OfficeKey, mutation: str
) -> None:
    expected_kind, mutate = _ENVELOPE_MUTATIONS[mutation]
    envelope = decode_envelope(
        _seal_in_browser(sealed_record_page, office_key.spki, _RECORD, LOCATION, AREA)
    )
    if mutate is None:  # another valid point: HPKE fails, not the point check
        other = decode_envelope(
            _seal_in_browser(sealed_record_page, office_key.spki, _RECORD, LOCATION, AREA)
        )
        altered = envelope[:39] + other[39:104] + envelope[104:]
    else:
        altered = mutate(envelope)
    altered_text = encode_envelope(altered)

    assert _python_open_kind(office_key, altered_text, LOCATION, AREA) == expected_kind
    result = _open_in_browser(sealed_record_page, office_key, altered_text, LOCATION, AREA)
    assert result == {"error": "SealedRecordError", "kind": expected_kind}


@pytest.mark.parametrize(
    "text_change",
    [
        lambda t: t + "=",
        lambda t: " " + t,
        lambda t: t.replace("-", "+").replace("_", "/") if ("-" in t or "_" in t) else "+" + t,
        lambda t: "A" * 43_852,  # longer than the largest envelope's text
    ],
    ids=["padding", "whitespace", "standard_alphabet", "too_long"],
)
def test_non_canonical_envelope_text_is_malformed(
    sealed_record_page: Page, office_key: OfficeKey, text_change: Any
) -> None:
    envelope = _seal_in_browser(sealed_record_page, office_key.spki, _RECORD, LOCATION, AREA)
    altered = text_change(envelope)

    assert _python_open_kind(office_key, altered, LOCATION, AREA) == "malformed"
    result = _open_in_browser(sealed_record_page, office_key, altered, LOCATION, AREA)
    assert result == {"error": "SealedRecordError", "kind": "malformed"}


@pytest.mark.parametrize(
    ("location", "area"), [("cafe-am-marktplatz", AREA), (LOCATION, "tisch_8")]
)
def test_envelope_opens_only_for_its_location_and_area(
    sealed_record_page: Page, office_key: OfficeKey, location: str, area: str
) -> None:
    envelope = _seal_in_browser(sealed_record_page, office_key.spki, _RECORD, LOCATION, AREA)

    assert _python_open_kind(office_key, envelope, location, area) == "decryption_failed"
    result = _open_in_browser(sealed_record_page, office_key, envelope, location, area)
    assert result == {"error": "SealedRecordError", "kind": "decryption_failed"}


_BAD_PLAINTEXTS: dict[str, tuple[str, bytes]] = {
    "all_zero": ("bad_padding", bytes(512)),
    "no_marker": ("bad_padding", b'{"v":1}' + bytes(505)),
    "marker_0x81": ("bad_padding", b'{"v":1}\x81' + bytes(504)),
    "marker_then_junk": ("bad_padding", b"{}\x80\x01" + bytes(508)),
    "not_json": ("bad_record", b"hello\x80" + bytes(506)),
    "json_array": ("bad_record", b"[]\x80" + bytes(509)),
    "invalid_utf8": ("bad_record", b'{"v":1,"note":"\xff"}\x80'),
    "utf8_bom": ("bad_record", b"\xef\xbb\xbf{}\x80"),
    "missing_members": ("bad_record", b'{"v":1}\x80'),
    "missing_version": ("bad_record", b'{"firstName":""}\x80'),
    "nan": ("bad_record", b'{"v":NaN}\x80'),
}


def _record_json(**changes: Any) -> bytes:
    record = {**normalise_contact_record(_RECORD), **changes}
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()


_BAD_PLAINTEXTS.update(
    {
        "unknown_member": ("bad_record", _record_json(middleName="X") + b"\x80"),
        "version_2": ("bad_record", _record_json(v=2) + b"\x80"),
        "too_long_name": ("bad_record", _record_json(firstName="x" * 101) + b"\x80"),
        "lone_surrogate_escape": (
            "bad_record",
            _record_json(note="?").replace(b'"note":"?"', b'"note":"\\ud800"') + b"\x80",
        ),
        "duplicate_member": (
            "bad_record",
            _record_json().replace(b'"v":1,', b'"v":1,"note":"",') + b"\x80",
        ),
        "duplicate_member_escaped": (
            "bad_record",
            _record_json().replace(b'"v":1,', b'"v":1,"\\u006eote":"",') + b"\x80",
        ),
        "valid_reference": ("", _record_json() + b"\x80"),
        "valid_version_as_float": ("", _record_json().replace(b'"v":1,', b'"v":1.0,') + b"\x80"),
    }
)


@pytest.mark.parametrize("case", list(_BAD_PLAINTEXTS))
def test_bad_padding_and_bad_records_are_rejected_like_python(
    sealed_record_page: Page, office_key: OfficeKey, case: str
) -> None:
    expected_kind, plaintext = _BAD_PLAINTEXTS[case]
    padded = plaintext.ljust(512, b"\x00")
    envelope = encode_envelope(
        seal_padded_plaintext(office_key.spki, padded, location_code=LOCATION, area_code=AREA)
    )

    python_kind = _python_open_kind(office_key, envelope, LOCATION, AREA)
    result = _open_in_browser(sealed_record_page, office_key, envelope, LOCATION, AREA)

    if not expected_kind:  # the well-formed references open on both sides
        assert python_kind is None
        assert result == {"record": normalise_contact_record(_RECORD)}
    else:
        assert python_kind == expected_kind
        assert result == {"error": "SealedRecordError", "kind": expected_kind}


def test_record_for_another_key_is_wrong_key(
    sealed_record_page: Page, office_key: OfficeKey
) -> None:
    other_spki = public_key_spki(generate_private_key())
    envelope = _seal_in_browser(sealed_record_page, other_spki, _RECORD, LOCATION, AREA)

    result = _open_in_browser(sealed_record_page, office_key, envelope, LOCATION, AREA)

    assert result == {"error": "SealedRecordError", "kind": "wrong_key"}


# ---------------------------------------------------------------------------
# Cross-implementation round trips with random records

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
PERSON_OPTIONAL_FIELDS = ("street", "houseNumber", "zipCode", "city", "phone", "email")


def _field_text(name: str) -> st.SearchStrategy[str]:
    """Any Unicode text (no surrogates, which Python strings for JSON cannot carry),
    weighted towards the edges: empty and exactly the maximum length."""
    limit = FIELD_LIMITS[name]
    return st.one_of(
        st.just(""),
        st.text(max_size=limit),
        st.text(min_size=limit, max_size=limit),
    )


_persons = st.fixed_dictionaries(
    {"firstName": _field_text("firstName"), "lastName": _field_text("lastName")},
    optional={
        "sameAddress": st.booleans(),
        **{name: _field_text(name) for name in PERSON_OPTIONAL_FIELDS},
    },
)
_records = st.fixed_dictionaries(
    {},
    optional={
        "v": st.just(1),
        **{name: _field_text(name) for name in GUEST_FIELDS},
        "additionalPersons": st.lists(_persons, max_size=MAX_ADDITIONAL_PERSONS),
        "note": _field_text("note"),
    },
)


def _largest_record(character: str) -> dict[str, Any]:
    def full(name: str) -> str:
        return character * FIELD_LIMITS[name]

    person = {
        "firstName": full("firstName"),
        "lastName": full("lastName"),
        "sameAddress": False,
        **{name: full(name) for name in PERSON_OPTIONAL_FIELDS},
    }
    return {
        "v": 1,
        **{name: full(name) for name in GUEST_FIELDS},
        "additionalPersons": [person] * MAX_ADDITIONAL_PERSONS,
        "note": full("note"),
    }


def _python_normalised(record: dict[str, Any]) -> dict[str, Any] | RecordSchemaError:
    """What Python's writer makes of the record, or the error it raises (too_large too)."""
    try:
        normalised = normalise_contact_record(record)
        encode_contact_record(normalised)
    except RecordSchemaError as error:
        return error
    return normalised


_CROSS_SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@_CROSS_SETTINGS
@given(record=_records)
@example(record={})
@example(record=_largest_record("x"))  # ASCII: fits the largest bucket
@example(record=_largest_record("ü"))  # two UTF-8 bytes each: too large for any bucket
@example(record={"note": '"\\\n\t\x00\x7f\u2028\ufeff', "city": "\U0001f600" * 100})
def test_record_sealed_in_browser_opens_in_python(
    sealed_record_page: Page, office_key: OfficeKey, record: dict[str, Any]
) -> None:
    expected = _python_normalised(record)
    event("rejected by both" if isinstance(expected, RecordSchemaError) else "round trip")
    if isinstance(expected, RecordSchemaError):
        result = sealed_record_page.evaluate(
            _SEAL_OR_ERROR, [b64url_encode(office_key.spki), record, LOCATION, AREA]
        )
        assert result == {
            "error": "RecordSchemaError",
            "field": expected.field,
            "reason": expected.reason,
        }
        return

    envelope = _seal_in_browser(sealed_record_page, office_key.spki, record, LOCATION, AREA)
    opened = open_contact_record(
        office_key.private_key,
        decode_envelope(envelope),
        location_code=LOCATION,
        area_code=AREA,
    )

    assert opened == expected
    # Both writers encode the same JSON, so they choose the same padding bucket.
    python_envelope = seal_contact_record(
        office_key.spki, record, location_code=LOCATION, area_code=AREA
    )
    assert len(decode_envelope(envelope)) == len(python_envelope)


@_CROSS_SETTINGS
@given(record=_records)
@example(record={})
@example(record=_largest_record("x"))
@example(record={"note": '"\\\n\t\x00\x7f\u2028\ufeff', "city": "\U0001f600" * 100})
def test_record_sealed_in_python_opens_in_browser(
    sealed_record_page: Page, office_key: OfficeKey, record: dict[str, Any]
) -> None:
    try:
        envelope = seal_contact_record(
            office_key.spki, record, location_code=LOCATION, area_code=AREA
        )
    except RecordSchemaError:
        assume(False)  # too large for any bucket: covered by the test above
        return

    result = _open_in_browser(
        sealed_record_page, office_key, encode_envelope(envelope), LOCATION, AREA
    )

    assert result == {"record": normalise_contact_record(record)}


# ---------------------------------------------------------------------------
# Key files across implementations


def test_key_file_written_by_python_opens_in_browser(
    sealed_record_page: Page, office_key: OfficeKey
) -> None:
    loaded = sealed_record_page.evaluate(
        _LOAD_KEY_FILE, ["python-written", office_key.key_file.decode(), PASSPHRASE]
    )

    assert loaded == {
        "keyId": key_id(office_key.spki).hex(),
        "publicKey": b64url_encode(office_key.spki),
        "created": "2026-11-21T12:00:00Z",
    }
    envelope = encode_envelope(
        seal_contact_record(office_key.spki, _RECORD, location_code=LOCATION, area_code=AREA)
    )
    opened = sealed_record_page.evaluate(
        _OPEN_OR_ERROR, ["python-written", envelope, LOCATION, AREA]
    )
    assert opened == {"record": normalise_contact_record(_RECORD)}


def test_key_file_written_by_browser_opens_in_python(sealed_record_page: Page) -> None:
    written = sealed_record_page.evaluate(
        "async (passphrase) => await window.sealedRecord.writeKeyFile(passphrase)", PASSPHRASE
    )
    document = json.loads(written["text"])

    key_file = read_key_file(written["text"].encode(), PASSPHRASE)

    assert document["kdf"]["iterations"] == 600_000
    assert written["keyId"] == document["keyId"] == key_file.key_id.hex()
    assert key_id(public_key_spki(key_file.private_key)) == key_file.key_id
    # The browser can seal to the new key at once, and Python opens with the file's key.
    envelope = _seal_in_browser(sealed_record_page, key_file.public_spki, _RECORD, LOCATION, AREA)
    opened = open_contact_record(
        key_file.private_key, decode_envelope(envelope), location_code=LOCATION, area_code=AREA
    )
    assert opened == normalise_contact_record(_RECORD)


def test_browser_refuses_a_short_passphrase_for_a_new_key_file(sealed_record_page: Page) -> None:
    error = sealed_record_page.evaluate(
        """async () => {
          try {
            await window.sealedRecord.writeKeyFile("elf Zeichen");
            return null;
          } catch (error) {
            return error.name;
          }
        }"""
    )
    assert error == "WeakPassphraseError"


def test_wrong_passphrase_fails_in_browser(sealed_record_page: Page, office_key: OfficeKey) -> None:
    result = sealed_record_page.evaluate(
        _READ_KEY_FILE_OR_ERROR, [office_key.key_file.decode(), PASSPHRASE + "!"]
    )
    assert result == {"error": "KeyFileError", "kind": "wrong_passphrase"}


def test_passphrase_is_compared_in_nfc_form(sealed_record_page: Page) -> None:
    private_key = generate_private_key()
    composed = "Käsekuchen mit Sahne"
    key_file = write_key_file(
        private_key, composed, created=KEY_CREATED, iterations=TEST_ITERATIONS
    )
    decomposed = unicodedata.normalize("NFD", composed)
    assert decomposed != composed

    result = sealed_record_page.evaluate(_READ_KEY_FILE_OR_ERROR, [key_file.decode(), decomposed])

    assert result == {"keyId": key_id(public_key_spki(private_key)).hex()}


def _edited_key_file(key_file: bytes, edit: Any) -> str:
    document = json.loads(key_file)
    edit(document)
    return json.dumps(document, indent=2)


def _other_key(document: dict[str, Any]) -> None:
    other_spki = public_key_spki(generate_private_key())
    document["publicKey"] = b64url_encode(other_spki)
    document["keyId"] = key_id(other_spki).hex()


_KEY_FILE_EDITS: dict[str, tuple[str, Any]] = {
    "format": ("malformed", lambda d: d.update(format="gastregister-key")),
    "version_2": ("unsupported", lambda d: d.update(version=2)),
    "version_text": ("malformed", lambda d: d.update(version="1")),
    "extra_member": ("malformed", lambda d: d.update(comment="office A")),
    "missing_created": ("malformed", lambda d: d.pop("created")),
    "kdf_name": ("unsupported", lambda d: d["kdf"].update(name="scrypt")),
    "kdf_extra_member": ("malformed", lambda d: d["kdf"].update(hash="SHA-256")),
    "iterations_too_few": ("unsupported", lambda d: d["kdf"].update(iterations=99_999)),
    "iterations_too_many": ("unsupported", lambda d: d["kdf"].update(iterations=10_000_001)),
    "iterations_fraction": ("malformed", lambda d: d["kdf"].update(iterations=100_000.5)),
    "salt_short": ("malformed", lambda d: d["kdf"].update(salt=b64url_encode(bytes(15)))),
    "cipher_name": ("unsupported", lambda d: d["cipher"].update(name="AES-128-GCM")),
    "nonce_padded": ("malformed", lambda d: d["cipher"].update(nonce=d["cipher"]["nonce"] + "=")),
    "key_id_upper_case": ("malformed", lambda d: d.update(keyId=d["keyId"].upper())),
    "key_id_of_other_key": (
        "key_mismatch",
        lambda d: d.update(keyId=key_id(public_key_spki(generate_private_key())).hex()),
    ),
    "public_key_compressed": (
        "malformed",
        lambda d: d.update(publicKey=b64url_encode(b64url_decode(d["publicKey"])[:-1])),
    ),
    "other_key_named_consistently": ("wrong_passphrase", _other_key),
    "created_month_13": ("malformed", lambda d: d.update(created="2026-13-01T00:00:00Z")),
    "created_fraction": ("malformed", lambda d: d.update(created="2026-11-21T12:00:00.5Z")),
    "created_feb_30": ("malformed", lambda d: d.update(created="2026-02-30T00:00:00Z")),
    "created_year_0": ("malformed", lambda d: d.update(created="0000-01-01T00:00:00Z")),
    "created_second_60": ("malformed", lambda d: d.update(created="2026-12-31T23:59:60Z")),
    "encrypted_key_short": (
        "malformed",
        lambda d: d.update(encryptedPrivateKey=b64url_encode(bytes(16))),
    ),
    "encrypted_key_bit": (
        "wrong_passphrase",
        lambda d: d.update(
            encryptedPrivateKey=b64url_encode(
                bytes([b64url_decode(d["encryptedPrivateKey"])[0] ^ 1])
                + b64url_decode(d["encryptedPrivateKey"])[1:]
            )
        ),
    ),
}


@pytest.mark.parametrize("edit", list(_KEY_FILE_EDITS))
def test_altered_key_file_is_rejected_with_the_same_kind_as_python(
    sealed_record_page: Page, office_key: OfficeKey, edit: str
) -> None:
    expected_kind, change = _KEY_FILE_EDITS[edit]
    text = _edited_key_file(office_key.key_file, change)

    with pytest.raises(KeyFileError) as python_error:
        read_key_file(text.encode(), PASSPHRASE)
    assert python_error.value.kind == expected_kind
    result = sealed_record_page.evaluate(_READ_KEY_FILE_OR_ERROR, [text, PASSPHRASE])
    assert result == {"error": "KeyFileError", "kind": expected_kind}


@pytest.mark.parametrize(
    "text",
    ["", "not json", "[]", '{"format": "gastregister-keyfile"}', "{" + " " * 20_000 + "}"],
    ids=["empty", "not_json", "array", "only_format", "too_large"],
)
def test_key_file_that_is_not_one_is_malformed(sealed_record_page: Page, text: str) -> None:
    with pytest.raises(KeyFileError) as python_error:
        read_key_file(text.encode(), PASSPHRASE)
    assert python_error.value.kind == "malformed"
    result = sealed_record_page.evaluate(_READ_KEY_FILE_OR_ERROR, [text, PASSPHRASE])
    assert result == {"error": "KeyFileError", "kind": "malformed"}


@pytest.mark.parametrize(
    ("prefix", "suffix"),
    [(b"\xef\xbb\xbf", b""), (b"", b"\xff"), (b"", b" " * 16_384)],
    ids=["byte_order_mark", "invalid_utf8", "too_large"],
)
def test_key_file_bytes_are_checked_before_decoding(
    sealed_record_page: Page, office_key: OfficeKey, prefix: bytes, suffix: bytes
) -> None:
    content = prefix + office_key.key_file + suffix

    with pytest.raises(KeyFileError) as python_error:
        read_key_file(content, PASSPHRASE)
    assert python_error.value.kind == "malformed"
    result = sealed_record_page.evaluate(_READ_KEY_FILE_BYTES_OR_ERROR, [list(content), PASSPHRASE])
    assert result == {"error": "KeyFileError", "kind": "malformed"}


def test_key_file_bytes_open_like_its_text(sealed_record_page: Page, office_key: OfficeKey) -> None:
    result = sealed_record_page.evaluate(
        _READ_KEY_FILE_BYTES_OR_ERROR, [list(office_key.key_file), PASSPHRASE]
    )
    assert result == {"keyId": key_id(office_key.spki).hex()}


def test_key_file_with_a_repeated_member_is_malformed(
    sealed_record_page: Page, office_key: OfficeKey
) -> None:
    text = office_key.key_file.decode().replace(
        '"version": 1,', '"version": 1,\n  "created": "2026-11-21T12:00:00Z",', 1
    )
    assert text != office_key.key_file.decode()

    with pytest.raises(KeyFileError) as python_error:
        read_key_file(text.encode(), PASSPHRASE)
    assert python_error.value.kind == "malformed"
    result = sealed_record_page.evaluate(_READ_KEY_FILE_OR_ERROR, [text, PASSPHRASE])
    assert result == {"error": "KeyFileError", "kind": "malformed"}


def test_key_file_holding_another_key_than_it_names_is_key_mismatch(
    sealed_record_page: Page, office_key: OfficeKey
) -> None:
    # Encrypted correctly for the named key id, but the private key inside is another one.
    document = json.loads(office_key.key_file)
    salt, nonce = b64url_decode(document["kdf"]["salt"]), b64url_decode(document["cipher"]["nonce"])
    wrapping_key = PBKDF2HMAC(
        algorithm=hashes.SHA256(), length=32, salt=salt, iterations=TEST_ITERATIONS
    ).derive(PASSPHRASE.encode())
    stranger_pkcs8 = generate_private_key().private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    aad = ("gastregister/keyfile/v1:" + document["keyId"]).encode()
    document["encryptedPrivateKey"] = b64url_encode(
        AESGCM(wrapping_key).encrypt(nonce, stranger_pkcs8, aad)
    )
    text = json.dumps(document)

    with pytest.raises(KeyFileError) as python_error:
        read_key_file(text.encode(), PASSPHRASE)
    assert python_error.value.kind == "key_mismatch"
    result = sealed_record_page.evaluate(_READ_KEY_FILE_OR_ERROR, [text, PASSPHRASE])
    assert result == {"error": "KeyFileError", "kind": "key_mismatch"}


# ---------------------------------------------------------------------------
# Opening many records at once (the health office's export)

_OPEN_MANY = """
async ([keyName, envelopes, locationCode, areaCode, workers]) => {
  const progress = [];
  const results = await window.sealedRecord.openContactRecords(
    window.testKeys[keyName].privateKey, envelopes, { locationCode, areaCode },
    { workers, onProgress: (done, total) => progress.push([done, total]) });
  return {
    results: results.map((r) => ("record" in r ? { record: r.record } : {
      error: r.error.name, kind: r.error.kind })),
    progress,
  };
}
"""


@pytest.mark.parametrize("workers", [0, 3], ids=["this_thread", "worker_pool"])
def test_open_many_returns_a_result_per_envelope_in_order(
    sealed_record_page: Page, office_key: OfficeKey, workers: int
) -> None:
    records = [{**_RECORD, "firstName": f"Gast {number}"} for number in range(1_100)]
    envelopes = [
        encode_envelope(
            seal_contact_record(office_key.spki, record, location_code=LOCATION, area_code=AREA)
        )
        for record in records
    ]
    envelopes[3] = encode_envelope(decode_envelope(envelopes[3])[:-1])  # bad_length
    envelopes[1_050] = "not an envelope"  # malformed, in the last chunk

    outcome = sealed_record_page.evaluate(
        _OPEN_MANY, ["office", envelopes, LOCATION, AREA, workers]
    )

    expected: list[dict[str, Any]] = [
        {"record": normalise_contact_record(record)} for record in records
    ]
    expected[3] = {"error": "SealedRecordError", "kind": "bad_length"}
    expected[1_050] = {"error": "SealedRecordError", "kind": "malformed"}
    assert outcome["results"] == expected
    assert outcome["progress"][-1] == [1_100, 1_100]
    assert len(outcome["progress"]) == 3  # chunks of 500


_OPEN_MANY_COUNTING_POSTS = """
async ([keyName, envelopes, locationCode, areaCode]) => {
  const pageWorker = window.Worker;
  let posted = 0;
  window.Worker = class extends pageWorker {
    postMessage(...args) {
      posted += 1;
      return super.postMessage(...args);
    }
  };
  try {
    const postedAtProgress = [];
    const results = await window.sealedRecord.openContactRecords(
      window.testKeys[keyName].privateKey, envelopes, { locationCode, areaCode },
      { workers: 1, onProgress: () => postedAtProgress.push(posted) });
    return { opened: results.filter((r) => "record" in r).length, postedAtProgress };
  } finally {
    window.Worker = pageWorker;
  }
}
"""


def test_open_many_gives_a_worker_its_next_chunk_before_handling_the_last(
    sealed_record_page: Page, office_key: OfficeKey
) -> None:
    """A worker opens the next chunk while the page handles the last chunk's results:
    it is posted before they are handed on (onProgress), not after."""
    envelope = encode_envelope(
        seal_contact_record(office_key.spki, _RECORD, location_code=LOCATION, area_code=AREA)
    )

    outcome = sealed_record_page.evaluate(
        _OPEN_MANY_COUNTING_POSTS, ["office", [envelope] * 1_100, LOCATION, AREA]
    )

    assert outcome["opened"] == 1_100
    # Three chunks of 500 on one worker: when the first chunk's results arrive, the
    # second chunk is already posted; when the second's arrive, the third.
    assert outcome["postedAtProgress"] == [2, 3, 3]


def test_open_many_loads_its_workers_from_our_own_origin(
    browser_page: Page, static_server: str, request_recorder: Any, office_key: OfficeKey
) -> None:
    log = request_recorder(browser_page)
    browser_page.goto(static_server + "/tests/browser/pages/sealed-record.html")
    browser_page.wait_for_function("window.harnessReady === true")
    browser_page.evaluate(_LOAD_KEY_FILE, ["office", office_key.key_file.decode(), PASSPHRASE])
    envelope = encode_envelope(
        seal_contact_record(office_key.spki, _RECORD, location_code=LOCATION, area_code=AREA)
    )

    outcome = browser_page.evaluate(_OPEN_MANY, ["office", [envelope] * 600, LOCATION, AREA, 2])

    assert outcome["results"] == [{"record": normalise_contact_record(_RECORD)}] * 600
    assert log.outside_origin(static_server) == []
    # The page loaded the module once, and each of the two workers loaded it again.
    assert log.urls.count(static_server + "/static/js/sealed-record.js") == 3


def test_open_many_rejects_invalid_codes_before_opening(
    sealed_record_page: Page, office_key: OfficeKey
) -> None:
    error = sealed_record_page.evaluate(
        """async () => {
          try {
            await window.sealedRecord.openContactRecords(
              window.testKeys.office.privateKey, [], { locationCode: "ä", areaCode: "a" });
            return null;
          } catch (error) {
            return error.name;
          }
        }"""
    )
    assert error == "RangeError"


# An export package opened as the decryption page opens it (decrypt-rows.js), on
# workers; the vector keys' PKCS#8 imported as readKeyFile would make the handles.
_OPEN_PACKAGE_ON_WORKERS = """
async ([vector, vectorKeys, ahead]) => {
  const { decodeBase64url } = await import("/static/js/b64url.js");
  const { openPackage } = await import("/static/js/decrypt-rows.js");
  const { parsePackage } = await import("/static/js/export-package.js");
  const { startOpenerWorkers, stopOpenerWorkers } = await import("/static/js/record-opener.js");
  // ahead: the caller starts the pool before it reads the package, as decrypt.js does.
  const pool = ahead ? startOpenerWorkers(2) : undefined;
  let stopped = 0;
  for (const worker of pool ?? []) {
    const terminate = worker.terminate.bind(worker);
    worker.terminate = () => {
      stopped += 1;
      terminate();
    };
  }
  const EC = { name: "ECDH", namedCurve: "P-256" };
  const officeKey = async ({ privateKeyPkcs8, keyId }) => {
    const pkcs8 = decodeBase64url(privateKeyPkcs8);
    const extractable = await crypto.subtle.importKey("pkcs8", pkcs8, EC, true, ["deriveBits"]);
    const { kty, crv, x, y } = await crypto.subtle.exportKey("jwk", extractable);
    const publicKey = await crypto.subtle.importKey("jwk", { kty, crv, x, y }, EC, true, []);
    const privateKey = await crypto.subtle.importKey("pkcs8", pkcs8, EC, false, ["deriveBits"]);
    const keyIdBytes = new Uint8Array(keyId.match(/../g).map((pair) => parseInt(pair, 16)));
    return { keyId, privateKey: { keyId: keyIdBytes, keyPair: { privateKey, publicKey } } };
  };
  const keys = await Promise.all(vector.openWith.map((name) => officeKey(vectorKeys[name])));
  const pageWorker = window.Worker;
  let workers = 0;
  window.Worker = class extends pageWorker {
    constructor(...args) {
      super(...args);
      workers += 1;
    }
  };
  try {
    const pkg = await parsePackage(new TextEncoder().encode(vector.package));
    const result = await openPackage(pkg, keys, () => {}, ahead ? { pool } : { workers: 2 });
    const visits = new Map(result.visits.map((visit) => [visit.number, "ok"]));
    for (const failure of result.failures) visits.set(failure.number, failure.kind);
    return {
      visits: [...visits.keys()].sort((a, b) => a - b)
        .map((number) => ({ visit: number, outcome: visits.get(number) })),
      unbound: result.unbound,
      workers,
      stoppedBeforeTheCaller: stopped,
    };
  } finally {
    window.Worker = pageWorker;
    if (pool) stopOpenerWorkers(pool);
  }
}
"""


@pytest.mark.parametrize(
    "vector",
    [vector for vector in EXPORT_PACKAGE_VECTORS["vectors"] if vector["expected"] == "ok"],
    ids=lambda vector: vector["name"],
)
def test_package_opens_on_one_pool_of_workers_with_its_vector_outcome(
    sealed_record_page: Page, vector: dict[str, Any]
) -> None:
    outcome = sealed_record_page.evaluate(
        _OPEN_PACKAGE_ON_WORKERS, [vector, EXPORT_PACKAGE_VECTORS["keys"], False]
    )

    assert outcome["visits"] == vector["visits"]
    assert outcome["unbound"] == vector["unbound"]
    # One pool for the whole package, not one per key and area: the vectors' few records
    # (visits-checked: 32 in six areas, for two keys) are one chunk, for one worker.
    assert outcome["workers"] == 1


def test_package_opens_on_the_pool_its_caller_started_ahead(sealed_record_page: Page) -> None:
    """decrypt.js starts the workers before it reads the key files and the package;
    openPackage then starts none of its own and leaves stopping them to the page."""
    vector = next(
        vector
        for vector in EXPORT_PACKAGE_VECTORS["vectors"]
        if vector["expected"] == "ok" and len(vector["visits"]) > 1
    )

    outcome = sealed_record_page.evaluate(
        _OPEN_PACKAGE_ON_WORKERS, [vector, EXPORT_PACKAGE_VECTORS["keys"], True]
    )

    assert outcome["visits"] == vector["visits"]
    assert outcome["unbound"] == vector["unbound"]
    assert outcome["workers"] == 0
    assert outcome["stoppedBeforeTheCaller"] == 0


# ---------------------------------------------------------------------------
# The committed format vectors (tests/crypto/vectors), run in the browser

SEALED_RECORD_VECTORS = json.loads(
    (VECTORS_FILE.parent / "sealed-record-v1.json").read_text(encoding="utf-8")
)
KEY_FILE_VECTORS = json.loads((VECTORS_FILE.parent / "keyfile-v1.json").read_text(encoding="utf-8"))

# Like crypto.open_with_any_key: the office holds several keys (openWith); an
# answer other than wrong_key from one of them is the answer, else wrong_key.
_OPEN_WITH_ANY_KEY = """
async ([keyNames, envelope, locationCode, areaCode]) => {
  let outcome = { error: "SealedRecordError", kind: "wrong_key" };
  for (const name of keyNames) {
    try {
      return { record: await window.sealedRecord.openContactRecord(
        window.testKeys[name].privateKey, envelope, { locationCode, areaCode }) };
    } catch (error) {
      if (error.kind !== "wrong_key") return { error: error.name, kind: error.kind };
    }
  }
  return outcome;
}
"""


@pytest.fixture(scope="module")
def vector_keys(sealed_record_page: Page) -> dict[str, str]:
    """The vector files' keys, loaded into the page through key files; name -> page name."""
    names = {}
    for name, key in SEALED_RECORD_VECTORS["keys"].items():
        private_key = serialization.load_der_private_key(
            b64url_decode(key["privateKeyPkcs8"]), password=None
        )
        assert isinstance(private_key, ec.EllipticCurvePrivateKey)
        key_file = write_key_file(
            private_key, PASSPHRASE, created=KEY_CREATED, iterations=TEST_ITERATIONS
        )
        names[name] = f"vector:{name}"
        loaded = sealed_record_page.evaluate(
            _LOAD_KEY_FILE, [names[name], key_file.decode(), PASSPHRASE]
        )
        assert loaded["keyId"] == key["keyId"]
    return names


@pytest.mark.parametrize(
    "vector", SEALED_RECORD_VECTORS["vectors"], ids=lambda vector: vector["name"]
)
def test_sealed_record_vector_gives_its_expected_outcome(
    sealed_record_page: Page, vector_keys: dict[str, str], vector: dict[str, Any]
) -> None:
    result = sealed_record_page.evaluate(
        _OPEN_WITH_ANY_KEY,
        [
            [vector_keys[name] for name in vector["openWith"]],
            vector["envelope"],
            vector["locationCode"],
            vector["areaCode"],
        ],
    )

    if vector["expected"] == "ok":
        assert result == {"record": vector["record"]}
    else:
        assert result == {"error": "SealedRecordError", "kind": vector["expected"]}


@pytest.mark.parametrize("vector", KEY_FILE_VECTORS["vectors"], ids=lambda vector: vector["name"])
def test_key_file_vector_gives_its_expected_outcome(
    sealed_record_page: Page, vector: dict[str, Any]
) -> None:
    result = sealed_record_page.evaluate(
        """async ([text, passphrase]) => {
          try {
            const key = await window.sealedRecord.readKeyFile(text, passphrase);
            return { keyId: key.keyId, created: key.created };
          } catch (error) {
            return { error: error.name, kind: error.kind };
          }
        }""",
        [vector["keyFile"], vector["passphrase"]],
    )

    if vector["expected"] == "ok":
        assert result == {"keyId": vector["keyId"], "created": vector["created"]}
    else:
        assert result == {"error": "KeyFileError", "kind": vector["expected"]}
