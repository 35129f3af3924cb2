"""Sealed record v1: a contact record sealed with HPKE to one health-office key.

Layout (docs/FORMAT.md, "Sealed record envelope"):

    version(1) kem_id(2) kdf_id(2) aead_id(2) key_id(32) | enc(65) | ct(bucket + 16)

The 39-byte header is the HPKE aad, and the HPKE info names the location, the area
and the key. A record therefore opens only with the key it names, only under the
version and suite it claims, and only for the location and area it was sealed for:
copying a row to another location, area or key makes it fail to open instead of
making it lie about where the guest was.

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

from cryptography.hazmat.primitives.asymmetric import ec

from crypto import hpke
from crypto.b64 import NonCanonicalBase64Error, b64url_decode, b64url_encode
from crypto.errors import SealedRecordError, SealedRecordErrorKind
from crypto.keys import KEY_ID_SIZE, key_id, load_public_spki, public_key_spki
from crypto.record import (
    BUCKETS,
    InvalidPaddingError,
    InvalidRecordError,
    decode_contact_record,
    encode_contact_record,
    normalise_contact_record,
    pad,
    unpad,
)

FORMAT_VERSION = 1
SUITE_BYTES = (
    hpke.KEM_ID.to_bytes(2, "big")
    + hpke.KDF_ID.to_bytes(2, "big")
    + hpke.AEAD_ID.to_bytes(2, "big")
)
HEADER_SIZE = 1 + len(SUITE_BYTES) + KEY_ID_SIZE  # 39, and the aad
CIPHERTEXT_OFFSET = HEADER_SIZE + hpke.ENC_SIZE  # 104
CIPHERTEXT_SIZES = frozenset(bucket + hpke.TAG_SIZE for bucket in BUCKETS)
MIN_ENVELOPE_BYTES = CIPHERTEXT_OFFSET + BUCKETS[0] + hpke.TAG_SIZE  # 632
MAX_ENVELOPE_BYTES = CIPHERTEXT_OFFSET + BUCKETS[-1] + hpke.TAG_SIZE  # 32888
MAX_ENVELOPE_TEXT_LENGTH = -(-MAX_ENVELOPE_BYTES * 4 // 3)  # 43851 base64url characters
INFO_LABEL = b"gastregister/sealed-record/v1"

_CODE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_Kind = SealedRecordErrorKind


@dataclass(frozen=True)
class EnvelopeHeader:
    """What anyone can learn from an envelope without a key.

    ``size`` is the envelope length in bytes; it reveals only the padding bucket.
    """

    version: int
    key_id: bytes
    size: int


def record_info(location_code: str, area_code: str, recipient_key_id: bytes) -> bytes:
    """The HPKE info: label || lp(location_code) || lp(area_code) || key_id.

    Raises ValueError for a code outside 1..64 characters of [A-Za-z0-9_-]: such a
    code can never have been sealed to, so it is a caller's mistake, not a bad record.
    """
    return (
        INFO_LABEL
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


def _checked_header(envelope: bytes) -> tuple[bytes, ec.EllipticCurvePublicKey]:
    """Steps 1-5 of the reader's checks; returns (key_id, enc as a point)."""
    if not isinstance(envelope, bytes | bytearray | memoryview):
        raise SealedRecordError(_Kind.MALFORMED)
    if len(envelope) < 1:
        raise SealedRecordError(_Kind.MALFORMED)
    if envelope[0] != FORMAT_VERSION:
        raise SealedRecordError(_Kind.UNKNOWN_VERSION)
    if len(envelope) < CIPHERTEXT_OFFSET:
        raise SealedRecordError(_Kind.MALFORMED)
    if envelope[1:7] != SUITE_BYTES:
        raise SealedRecordError(_Kind.WRONG_SUITE)
    if len(envelope) - CIPHERTEXT_OFFSET not in CIPHERTEXT_SIZES:
        raise SealedRecordError(_Kind.BAD_LENGTH)
    try:
        ephemeral = hpke.deserialize_public_key(bytes(envelope[HEADER_SIZE:CIPHERTEXT_OFFSET]))
    except hpke.InvalidEncapsulatedKeyError:
        pass
    else:
        return bytes(envelope[7:HEADER_SIZE]), ephemeral
    raise SealedRecordError(_Kind.MALFORMED)


def inspect_envelope(envelope: bytes) -> EnvelopeHeader:
    """Check everything that can be checked without a private key.

    Version, suite, length (a bucket plus tag) and enc (a point on P-256) are
    verified; raises SealedRecordError otherwise. The server uses this to refuse
    uploads that no health office could ever open.
    """
    recipient_key_id, _ = _checked_header(envelope)
    return EnvelopeHeader(version=FORMAT_VERSION, key_id=recipient_key_id, size=len(envelope))


@dataclass(frozen=True)
class _SealingKey:
    public_key: ec.EllipticCurvePublicKey
    key_id: bytes


@functools.lru_cache(maxsize=32)
def _sealing_key(public_spki: bytes) -> _SealingKey:
    # Parsing and validating the SPKI is a noticeable share of a seal; a server seals
    # to a handful of keys, so each is parsed once.
    return _SealingKey(load_public_spki(public_spki), key_id(public_spki))


@dataclass(frozen=True)
class _Recipient:
    key_id: bytes
    point: bytes


@functools.lru_cache(maxsize=32)
def _recipient(private_key: ec.EllipticCurvePrivateKey) -> _Recipient:
    # Deriving the public point and key id costs about 12 microseconds, a sixth of an
    # open; a health office opens thousands of records with the same few key objects.
    if not isinstance(private_key, ec.EllipticCurvePrivateKey) or not isinstance(
        private_key.curve, ec.SECP256R1
    ):
        raise TypeError("a health-office key is a P-256 private key")
    return _Recipient(
        key_id=key_id(public_key_spki(private_key)),
        point=hpke.serialize_public_key(private_key.public_key()),
    )


def seal_contact_record(
    public_spki: bytes,
    record: Mapping[str, Any],
    *,
    location_code: str,
    area_code: str,
) -> bytes:
    """Seal a contact record to the health-office key ``public_spki``.

    The record is validated and completed first (normalise_contact_record); raises
    RecordSchemaError for a record that does not fit the schema, KeyFormatError for a
    key that is not a P-256 SPKI, ValueError for an invalid code.
    """
    sealing_key = _sealing_key(public_spki)
    padded = pad(encode_contact_record(normalise_contact_record(record)))
    return _seal(sealing_key, padded, location_code, area_code, None)


def seal_padded_plaintext(
    public_spki: bytes,
    padded_plaintext: bytes,
    *,
    location_code: str,
    area_code: str,
    ephemeral_key: ec.EllipticCurvePrivateKey | None = None,
) -> bytes:
    """Seal arbitrary bytes as if they were a padded record. For test vectors only.

    Neither the padding nor the record is checked, and a fixed ``ephemeral_key``
    makes the output deterministic: exactly what vectors for bad padding, bad records
    and reproducible files need, and exactly what production must never do.
    """
    return _seal(
        _sealing_key(public_spki), padded_plaintext, location_code, area_code, ephemeral_key
    )


def _seal(
    sealing_key: _SealingKey,
    padded: bytes,
    location_code: str,
    area_code: str,
    ephemeral_key: ec.EllipticCurvePrivateKey | None,
) -> bytes:
    header = bytes([FORMAT_VERSION]) + SUITE_BYTES + sealing_key.key_id
    info = record_info(location_code, area_code, sealing_key.key_id)
    enc, ciphertext = hpke.seal(
        sealing_key.public_key, info, header, padded, ephemeral_key=ephemeral_key
    )
    return header + enc + ciphertext


def open_contact_record(
    private_key: ec.EllipticCurvePrivateKey,
    envelope: bytes,
    *,
    location_code: str,
    area_code: str,
) -> dict[str, Any]:
    """Open an envelope sealed to ``private_key`` for this location and area.

    Returns the record in its normalised form. Every failure is a SealedRecordError
    whose ``kind`` names the first rule that rejected the envelope; no part of the
    plaintext is returned, attached to the error, or left in its traceback.
    """
    recipient = _recipient(private_key)
    recipient_key_id, ephemeral = _checked_header(envelope)
    if recipient_key_id != recipient.key_id:
        raise SealedRecordError(_Kind.WRONG_KEY)
    envelope = bytes(envelope)
    info = record_info(location_code, area_code, recipient_key_id)
    try:
        # The plaintext goes straight into _decoded, never into a local of this frame.
        return _decoded(
            hpke.open_sealed(
                envelope[HEADER_SIZE:CIPHERTEXT_OFFSET],
                envelope[CIPHERTEXT_OFFSET:],
                private_key,
                recipient.point,
                info,
                envelope[:HEADER_SIZE],
                ephemeral_public_key=ephemeral,
            )
        )
    except hpke.OpenError:
        pass
    raise SealedRecordError(_Kind.DECRYPTION_FAILED)


def _decoded(padded: bytes) -> dict[str, Any]:
    try:
        return decode_contact_record(unpad(padded))
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
    recipient_key_id, _ = _checked_header(envelope)
    for private_key in private_keys:
        if _recipient(private_key).key_id == recipient_key_id:
            return open_contact_record(
                private_key, envelope, location_code=location_code, area_code=area_code
            )
    raise SealedRecordError(_Kind.WRONG_KEY)
