"""A test-only RFC 9180 reference: HPKE base mode for the format's one suite.

DHKEM(P-256, HKDF-SHA256) (0x0010), HKDF-SHA256 (0x0001), AES-128-GCM (0x0001).

The product seals and opens through ``cryptography.hazmat.primitives.hpke`` and
contains no key schedule of its own. This module exists only beside the tests, for
what that library deliberately does not offer:

- reproducing the RFC 9180 Appendix A vectors, whose encryptions use a non-empty aad
  and a given sequence number, while the library's single-shot API always uses an
  empty aad and sequence number 0;
- a fixed ephemeral key (``DeriveKeyPair`` from a label), so that the committed tamper
  vectors are the same on every run, while the library always draws a fresh one;
- a second, independent implementation to check the library against, on the RFC's
  own keys, in both directions.

It composes ECDH, HMAC-SHA-256 and AES-GCM (from ``cryptography`` and the standard
library) exactly as RFC 9180 sections 4, 5.1, 5.2 and 7.1.3 describe. Production code
must never import it.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEM_ID = 0x0010
KDF_ID = 0x0001
AEAD_ID = 0x0001

ENC_SIZE = 65  # Nenc: uncompressed SEC1 point
TAG_SIZE = 16  # Nt
_KEY_SIZE = 16  # Nk, AES-128
_NONCE_SIZE = 12  # Nn
_HASH_SIZE = 32  # Nh, SHA-256
_MODE_BASE = b"\x00"

_KEM_SUITE_ID = b"KEM" + KEM_ID.to_bytes(2, "big")
_HPKE_SUITE_ID = (
    b"HPKE" + KEM_ID.to_bytes(2, "big") + KDF_ID.to_bytes(2, "big") + AEAD_ID.to_bytes(2, "big")
)
_CURVE = ec.SECP256R1()
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


class HpkeError(Exception):
    """Base for the two ways a base-mode open can fail."""


class InvalidEncapsulatedKeyError(HpkeError):
    """enc is not an uncompressed P-256 point on the curve (RFC 9180 DeserializePublicKey)."""


class OpenError(HpkeError):
    """The AEAD tag did not verify: other key, other info or aad, or altered ciphertext."""


def _labeled_extract(suite_id: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    # HKDF-Extract is HMAC(salt, ikm); an empty salt equals HashLen zero bytes in HMAC.
    return hmac.digest(salt, b"HPKE-v1" + suite_id + label + ikm, "sha256")


def _labeled_expand(suite_id: bytes, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
    labeled_info = length.to_bytes(2, "big") + b"HPKE-v1" + suite_id + label + info
    output = b""
    block = b""
    counter = 1
    while len(output) < length:
        block = hmac.digest(prk, block + labeled_info + bytes([counter]), "sha256")
        output += block
        counter += 1
    return output[:length]


def serialize_public_key(public_key: ec.EllipticCurvePublicKey) -> bytes:
    """SerializePublicKey for P-256: the 65-byte uncompressed SEC1 point."""
    return public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def deserialize_public_key(encoded: bytes) -> ec.EllipticCurvePublicKey:
    """DeserializePublicKey: only uncompressed points on P-256 are accepted."""
    if len(encoded) != ENC_SIZE or encoded[0] != 0x04:
        raise InvalidEncapsulatedKeyError
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(_CURVE, encoded)
    except ValueError:
        raise InvalidEncapsulatedKeyError from None


def derive_key_pair(ikm: bytes) -> ec.EllipticCurvePrivateKey:
    """DeriveKeyPair for DHKEM(P-256) (RFC 9180 section 7.1.3).

    Reproduces the RFC's keys from their ikm, and gives the tamper vectors fixed test
    keys and fixed ephemeral keys derived from readable labels.
    """
    dkp_prk = _labeled_extract(_KEM_SUITE_ID, b"", b"dkp_prk", ikm)
    for counter in range(256):
        candidate = _labeled_expand(
            _KEM_SUITE_ID, dkp_prk, b"candidate", bytes([counter]), _HASH_SIZE
        )
        scalar = int.from_bytes(candidate, "big")  # bitmask 0xFF for P-256: no masking
        if 0 < scalar < _P256_ORDER:
            return ec.derive_private_key(scalar, _CURVE)
    raise HpkeError("DeriveKeyPairError")  # probability about 2**-8192


def _extract_and_expand(dh: bytes, kem_context: bytes) -> bytes:
    eae_prk = _labeled_extract(_KEM_SUITE_ID, b"", b"eae_prk", dh)
    return _labeled_expand(_KEM_SUITE_ID, eae_prk, b"shared_secret", kem_context, _HASH_SIZE)


def encap(
    public_key: ec.EllipticCurvePublicKey,
    *,
    ephemeral_key: ec.EllipticCurvePrivateKey | None = None,
) -> tuple[bytes, bytes]:
    """Return (shared_secret, enc) for the recipient ``public_key``."""
    if ephemeral_key is None:
        ephemeral_key = ec.generate_private_key(_CURVE)
    dh = ephemeral_key.exchange(ec.ECDH(), public_key)
    enc = serialize_public_key(ephemeral_key.public_key())
    return _extract_and_expand(dh, enc + serialize_public_key(public_key)), enc


def decap(enc: bytes, private_key: ec.EllipticCurvePrivateKey) -> bytes:
    """Return the shared secret for ``enc``; raises InvalidEncapsulatedKeyError."""
    dh = private_key.exchange(ec.ECDH(), deserialize_public_key(enc))
    return _extract_and_expand(dh, enc + serialize_public_key(private_key.public_key()))


_PSK_ID_HASH = _labeled_extract(_HPKE_SUITE_ID, b"", b"psk_id_hash", b"")


@dataclass
class Context:
    """An HPKE encryption context (RFC 9180 section 5.2) with its sequence number."""

    key: bytes = field(repr=False)
    base_nonce: bytes = field(repr=False)
    exporter_secret: bytes = field(repr=False)
    sequence: int = 0
    _aead: AESGCM = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._aead = AESGCM(self.key)

    def _nonce(self) -> bytes:
        return (int.from_bytes(self.base_nonce, "big") ^ self.sequence).to_bytes(_NONCE_SIZE, "big")

    def seal(self, aad: bytes, plaintext: bytes) -> bytes:
        ciphertext = self._aead.encrypt(self._nonce(), plaintext, aad)
        self.sequence += 1
        return ciphertext

    def open(self, aad: bytes, ciphertext: bytes) -> bytes:
        try:
            plaintext = self._aead.decrypt(self._nonce(), ciphertext, aad)
        except InvalidTag:
            raise OpenError from None
        self.sequence += 1  # only on success, as RFC 9180 ContextR.Open requires
        return plaintext

    def export(self, exporter_context: bytes, length: int) -> bytes:
        return _labeled_expand(
            _HPKE_SUITE_ID, self.exporter_secret, b"sec", exporter_context, length
        )


def key_schedule(shared_secret: bytes, info: bytes) -> Context:
    """KeySchedule for mode_base (no PSK)."""
    info_hash = _labeled_extract(_HPKE_SUITE_ID, b"", b"info_hash", info)
    key_schedule_context = _MODE_BASE + _PSK_ID_HASH + info_hash
    secret = _labeled_extract(_HPKE_SUITE_ID, shared_secret, b"secret", b"")
    return Context(
        key=_labeled_expand(_HPKE_SUITE_ID, secret, b"key", key_schedule_context, _KEY_SIZE),
        base_nonce=_labeled_expand(
            _HPKE_SUITE_ID, secret, b"base_nonce", key_schedule_context, _NONCE_SIZE
        ),
        exporter_secret=_labeled_expand(
            _HPKE_SUITE_ID, secret, b"exp", key_schedule_context, _HASH_SIZE
        ),
    )


def seal(
    public_key: ec.EllipticCurvePublicKey,
    info: bytes,
    aad: bytes,
    plaintext: bytes,
    *,
    ephemeral_key: ec.EllipticCurvePrivateKey | None = None,
) -> tuple[bytes, bytes]:
    """Single-shot SealBase: return (enc, ciphertext)."""
    shared_secret, enc = encap(public_key, ephemeral_key=ephemeral_key)
    return enc, key_schedule(shared_secret, info).seal(aad, plaintext)


def open_sealed(
    enc: bytes,
    ciphertext: bytes,
    private_key: ec.EllipticCurvePrivateKey,
    info: bytes,
    aad: bytes,
) -> bytes:
    """Single-shot OpenBase; raises InvalidEncapsulatedKeyError or OpenError."""
    return key_schedule(decap(enc, private_key), info).open(aad, ciphertext)
