"""Sealed record v1: a contact record sealed with HPKE to one health-office key.

Layout (docs/FORMAT.md, "Sealed record envelope"):

    version(1) kem_id(2) kdf_id(2) aead_id(2) key_id(32) | enc(65) | ct(bucket + 16)

HPKE is ``cryptography``'s (crypto/suite.py); this module only lays out bytes and
checks them. The HPKE info names the version (its label), the location, the area and
the key, and the aad is empty. A record therefore opens only with the key it names,
only under the version it claims, and only for the location and area it was sealed
for: copying a row to another location, area or key makes it fail to open instead of
making it lie about where the guest was. The header needs no aad: the version and
suite bytes each have exactly one accepted value, the suite is also fixed by HPKE's
key schedule, and the key id is inside the info.

Version 2 differs from version 1 only in its version byte, its info label
(``gastregister/sealed-record/v2``) and its record (crypto/record.py), which carries
the visit's arrival, idempotency key and source. Writers write version 2 when they
know the visit; readers open both for as long as version 1 records may exist.

Checks run in a fixed order so that every implementation reports the same kind for
the same bad envelope; the cheap, keyless ones come first so that the server can
vet uploads with :func:`inspect_envelope`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric import ec

from crypto.b64 import NonCanonicalBase64Error, b64url_decode, b64url_encode
from crypto.errors import SealedRecordError, SealedRecordErrorKind
from crypto.keys import KEY_ID_SIZE, key_id, load_public_spki, public_key_spki
from crypto.record import (
    BUCKETS,
    InvalidPaddingError,
    InvalidRecordError,
    VisitBinding,
    decode_contact_record,
    encode_contact_record,
    normalise_contact_record,
    pad,
    unpad,
)
from crypto.suite import ENC_SIZE, HPKE_SUITE, SUITE_BYTES, TAG_SIZE

FORMAT_VERSION = 2  # what writers write (with a VisitBinding)
SUPPORTED_VERSIONS = frozenset((1, 2))
HEADER_SIZE = 1 + len(SUITE_BYTES) + KEY_ID_SIZE  # 39
CIPHERTEXT_OFFSET = HEADER_SIZE + ENC_SIZE  # 104
CIPHERTEXT_SIZES = frozenset(bucket + TAG_SIZE for bucket in BUCKETS)
MIN_ENVELOPE_BYTES = CIPHERTEXT_OFFSET + BUCKETS[0] + TAG_SIZE  # 632
MAX_ENVELOPE_BYTES = CIPHERTEXT_OFFSET + BUCKETS[-1] + TAG_SIZE  # 32888
MAX_ENVELOPE_TEXT_LENGTH = -(-MAX_ENVELOPE_BYTES * 4 // 3)  # 43851 base64url characters
INFO_LABELS = {1: b"gastregister/sealed-record/v1", 2: b"gastregister/sealed-record/v2"}

_CODE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_UNCOMPRESSED_POINT = 0x04
_Kind = SealedRecordErrorKind


@dataclass(frozen=True)
class EnvelopeHeader:
    """What anyone can learn from an envelope without a key.

    ``size`` is the envelope length in bytes; it reveals only the padding bucket.
    """

    version: int
    key_id: bytes
    size: int


# A pure function of a few short values, of which a package has few combinations (its
# areas, one or two keys): each open of a 50,000-record package would build it again.
@functools.lru_cache(maxsize=1024)
def record_info(
    location_code: str, area_code: str, recipient_key_id: bytes, version: int = 1
) -> bytes:
    """The HPKE info: label || lp(location_code) || lp(area_code) || key_id.

    The label names the version, so a record of one version never opens as another.
    Raises ValueError for a code outside 1..64 characters of [A-Za-z0-9_-]: such a
    code can never have been sealed to, so it is a caller's mistake, not a bad record.
    """
    return (
        INFO_LABELS[version]
        + _length_prefixed(location_code, "location_code")
        + _length_prefixed(area_code, "area_code")
        + recipient_key_id
    )


def _length_prefixed(code: str, name: str) -> bytes:
    if not isinstance(code, str) or not _CODE.fullmatch(code):
        raise ValueError(f"{name} must be 1 to 64 characters of A-Z, a-z, 0-9, '_' and '-'")
    encoded = code.encode("ascii")
    return len(encoded).to_bytes(2, "big") + encoded


def encode_envelope(envelope: bytes) -> str:
    """The text form of an envelope: canonical base64url without padding."""
    return b64url_encode(envelope)


def decode_envelope(text: str) -> bytes:
    """Decode the text form; anything but canonical base64url is ``malformed``."""
    if not isinstance(text, str) or len(text) > MAX_ENVELOPE_TEXT_LENGTH:
        raise SealedRecordError(_Kind.MALFORMED)
    try:
        return b64url_decode(text)
    except NonCanonicalBase64Error:
        pass
    raise SealedRecordError(_Kind.MALFORMED)


def _checked_header(envelope: bytes, *, enc_checked_later: bool = False) -> tuple[int, bytes]:
    """Steps 1-6 of the reader's checks; returns the version and the key id.

    With ``enc_checked_later`` step 6 stops at the enc's first byte: the caller opens
    the envelope and checks that the enc is a point on the curve (_require_point) only
    if that fails, which gives the same kind at a sixth of the cost of an open less
    (a successful decryption proves the point valid).
    """
    if not isinstance(envelope, bytes | bytearray | memoryview):
        raise SealedRecordError(_Kind.MALFORMED)
    if len(envelope) < 1:
        raise SealedRecordError(_Kind.MALFORMED)
    if envelope[0] not in SUPPORTED_VERSIONS:
        raise SealedRecordError(_Kind.UNKNOWN_VERSION)
    if len(envelope) < CIPHERTEXT_OFFSET:
        raise SealedRecordError(_Kind.MALFORMED)
    if envelope[1:7] != SUITE_BYTES:
        raise SealedRecordError(_Kind.WRONG_SUITE)
    if len(envelope) - CIPHERTEXT_OFFSET not in CIPHERTEXT_SIZES:
        raise SealedRecordError(_Kind.BAD_LENGTH)
    if envelope[HEADER_SIZE] != _UNCOMPRESSED_POINT:
        raise SealedRecordError(_Kind.MALFORMED)
    if not enc_checked_later:
        _require_point(envelope)
    return envelope[0], bytes(envelope[7:HEADER_SIZE])


# P-256's field prime and the curve's b (SEC 2 v2 §2.4.2; FIPS 186-4 D.1.2.3); a = -3.
_P256_P = 2**256 - 2**224 + 2**192 + 2**96 - 1
_P256_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B


def _require_point(envelope: bytes) -> None:
    """Step 6: the enc is a point on P-256, or the envelope is ``malformed``.

    The library would also refuse such an enc, but only as a failed decryption; the
    format calls it malformed, and the server must see that without a key.

    The check is SEC 1 v2 §3.2.2.1's for an uncompressed point (the caller checked
    the 0x04): both coordinates are field elements and y² = x³ - 3x + b (mod p). With
    P-256's cofactor of 1 that is the whole validation, the one OpenSSL makes when
    cryptography's ``from_encoded_point`` builds a key of the point (the two agree:
    tests/crypto/test_crypto_envelope.py). Written out because building that key costs
    7 µs in a loop but 33 µs between the other work of a check-in, whose caches it
    finds cold: the server checks every check-in's enc (issue 15); this is 2 µs.
    """
    enc = envelope[HEADER_SIZE:CIPHERTEXT_OFFSET]
    x = int.from_bytes(enc[1:33], "big")
    y = int.from_bytes(enc[33:], "big")
    p = _P256_P
    if x < p and y < p and (y * y - (x * x * x - 3 * x + _P256_B)) % p == 0:
        return
    raise SealedRecordError(_Kind.MALFORMED)


def inspect_envelope(envelope: bytes) -> EnvelopeHeader:
    """Check everything that can be checked without a private key.

    Version, suite, length (a bucket plus tag) and enc (a point on P-256) are
    verified; raises SealedRecordError otherwise. The server uses this to refuse
    uploads that no health office could ever open.
    """
    version, recipient_key_id = _checked_header(envelope)
    return EnvelopeHeader(version=version, key_id=recipient_key_id, size=len(envelope))


@dataclass(frozen=True)
class _SealingKey:
    public_key: ec.EllipticCurvePublicKey
    key_id: bytes


@functools.lru_cache(maxsize=32)
def _sealing_key(public_spki: bytes) -> _SealingKey:
    # Parsing and validating the SPKI is a noticeable share of a seal; a server seals
    # to a handful of keys, so each is parsed once.
    return _SealingKey(load_public_spki(public_spki), key_id(public_spki))


@functools.lru_cache(maxsize=32)
def _recipient_key_id(private_key: ec.EllipticCurvePrivateKey) -> bytes:
    # Encoding the public key and hashing it costs about 6 microseconds, 7 per cent of an
    # open; a health office opens thousands of records with the same few key objects.
    if not isinstance(private_key, ec.EllipticCurvePrivateKey) or not isinstance(
        private_key.curve, ec.SECP256R1
    ):
        raise TypeError("a health-office key is a P-256 private key")
    return key_id(public_key_spki(private_key))


def seal_contact_record(
    public_spki: bytes,
    record: Mapping[str, Any],
    *,
    location_code: str,
    area_code: str,
    visit: VisitBinding | None = None,
) -> bytes:
    """Seal a contact record to the health-office key ``public_spki``.

    With ``visit`` (every product writer) the envelope is version 2 and the record
    carries the visit's arrival, idempotency key and source, which the health office's
    reader compares with the stored metadata; without it, version 1, which readers
    still open but report as not bound. The record is validated and completed first
    (normalise_contact_record); raises RecordSchemaError for a record that does not fit
    the schema, KeyFormatError for a key that is not a P-256 SPKI, ValueError for an
    invalid code or a naive arrival.
    """
    sealing_key = _sealing_key(public_spki)
    normalised = normalise_contact_record(record, visit)
    padded = pad(encode_contact_record(normalised))
    return _seal(sealing_key, padded, location_code, area_code, normalised["v"])


def seal_padded_plaintext(
    public_spki: bytes,
    padded_plaintext: bytes,
    *,
    location_code: str,
    area_code: str,
    version: int = 1,
) -> bytes:
    """Seal arbitrary bytes as if they were a padded record. For tests only.

    Neither the padding nor the record is checked: exactly what tests of bad padding
    and bad records need, and exactly what production must never do. (Deterministic
    envelopes for the committed vectors come from the test-only RFC 9180 reference,
    since the library always draws a fresh ephemeral key.)
    """
    return _seal(_sealing_key(public_spki), padded_plaintext, location_code, area_code, version)


def _seal(
    sealing_key: _SealingKey, padded: bytes, location_code: str, area_code: str, version: int
) -> bytes:
    header = bytes([version]) + SUITE_BYTES + sealing_key.key_id
    info = record_info(location_code, area_code, sealing_key.key_id, version)
    # enc || ct, sealed with a fresh ephemeral key and an empty aad (docs/FORMAT.md 5.2).
    return header + HPKE_SUITE.encrypt(padded, sealing_key.public_key, info)


def open_contact_record(
    private_key: ec.EllipticCurvePrivateKey,
    envelope: bytes,
    *,
    location_code: str,
    area_code: str,
) -> dict[str, Any]:
    """Open an envelope sealed to ``private_key`` for this location and area.

    Returns the record in its normalised form; its ``v`` is the envelope's version, and
    a version 2 record carries the bound ``arrival``, ``idempotencyKey`` and ``source``,
    which the caller compares with the metadata stored beside the envelope. Every
    failure is a SealedRecordError whose ``kind`` names the first rule that rejected
    the envelope; no part of the plaintext is returned, attached to the error, or left
    in its traceback.
    """
    recipient_key_id = _recipient_key_id(private_key)
    version, envelope_key_id = _checked_header(envelope, enc_checked_later=True)
    if envelope_key_id != recipient_key_id:
        _require_point(envelope)
        raise SealedRecordError(_Kind.WRONG_KEY)
    return _open_checked(private_key, envelope, version, location_code, area_code)


def _open_checked(
    private_key: ec.EllipticCurvePrivateKey,
    envelope: bytes,
    version: int,
    location_code: str,
    area_code: str,
) -> dict[str, Any]:
    """Steps 8-10 for an envelope whose header (all but the enc's point) was checked.

    Step 6, the point, is checked only where the outcome depends on it, so every
    envelope gets the kind of the first rule it breaks.
    """
    try:
        info = record_info(location_code, area_code, _recipient_key_id(private_key), version)
    except ValueError:
        _require_point(envelope)  # a malformed envelope is malformed, whatever the codes
        raise
    try:
        # The plaintext goes straight into _decoded, never into a local of this frame.
        return _decoded(
            HPKE_SUITE.decrypt(memoryview(envelope)[HEADER_SIZE:], private_key, info), version
        )
    except InvalidTag:
        # The library's one failure for any altered enc or ct and any other info or key,
        # including an enc that is no point on the curve (step 6: malformed).
        pass
    _require_point(envelope)
    raise SealedRecordError(_Kind.DECRYPTION_FAILED)


def _decoded(padded: bytes, version: int) -> dict[str, Any]:
    try:
        return decode_contact_record(unpad(padded), version)
    except InvalidPaddingError:
        kind = _Kind.BAD_PADDING
    except InvalidRecordError:
        kind = _Kind.BAD_RECORD
    # The plaintext must not outlive the failure in this frame's locals, where an
    # error reporter that records local variables would find it.
    del padded
    raise SealedRecordError(kind)


def open_with_any_key(
    private_keys: Sequence[ec.EllipticCurvePrivateKey],
    envelope: bytes,
    *,
    location_code: str,
    area_code: str,
) -> dict[str, Any]:
    """Open with whichever of the office's keys the envelope names; ``wrong_key`` if none.

    Keys are picked by key id rather than tried in turn, so a retired key that was
    removed from ``private_keys`` yields wrong_key, not a slower decryption_failed.
    """
    version, recipient_key_id = _checked_header(envelope, enc_checked_later=True)
    for private_key in private_keys:
        if _recipient_key_id(private_key) == recipient_key_id:
            return _open_checked(private_key, envelope, version, location_code, area_code)
    _require_point(envelope)
    raise SealedRecordError(_Kind.WRONG_KEY)
