"""Health-office key pairs: P-256, identified by the SHA-256 of their public key's SPKI.

The key id is what binds everything together: it is in every envelope header and in
the HPKE info, in the key file, in the database, and (as a fingerprint) on the
screen of the person who confirms a new key out of band. It is computed from the
canonical DER SPKI, which is also what WebCrypto exports, so browser and server
arrive at the same id without agreeing on anything else.
"""

from __future__ import annotations

import hashlib

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from crypto.b64 import b64url_encode
from crypto.errors import KeyFormatError

KEY_ID_SIZE = 32
SHORT_FINGERPRINT_GROUPS = 4
_CURVE = ec.SECP256R1()
_COORDINATE_SIZE = 32


def generate_private_key() -> ec.EllipticCurvePrivateKey:
    """Generate a new P-256 health-office key pair."""
    return ec.generate_private_key(_CURVE)


def public_key_spki(key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) -> bytes:
    """The DER SubjectPublicKeyInfo of ``key`` (uncompressed point, named curve)."""
    public_key = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_id(spki: bytes) -> bytes:
    """The 32-byte key id: SHA-256 of the DER SPKI."""
    return hashlib.sha256(spki).digest()


def key_id_hex(key_id_bytes: bytes) -> str:
    """The key id as JSON and the database carry it: 64 lower-case hex digits."""
    _require_key_id(key_id_bytes)
    return key_id_bytes.hex()


def format_fingerprint(key_id_bytes: bytes) -> str:
    """The key id as people compare it: 16 groups of 4 upper-case hex digits."""
    _require_key_id(key_id_bytes)
    digits = key_id_bytes.hex().upper()
    return " ".join(digits[i : i + 4] for i in range(0, len(digits), 4))


def format_short_fingerprint(key_id_bytes: bytes) -> str:
    """The first four groups of the fingerprint, e.g. ``E665 9E7D A73D 8772`` (64 bits).

    Short enough to print on a poster and to show on the guest page, where a guest or
    an owner compares it by eye with what the health office publishes; the same form
    everywhere, so that one printed value can be compared with any screen. Finding
    another key with the same 64 bits takes about 2^64 key generations; a full
    comparison (key registration, key monitor) uses the whole fingerprint.
    """
    return " ".join(format_fingerprint(key_id_bytes).split(" ")[:SHORT_FINGERPRINT_GROUPS])


def _require_key_id(key_id_bytes: bytes) -> None:
    if not isinstance(key_id_bytes, bytes) or len(key_id_bytes) != KEY_ID_SIZE:
        raise ValueError("a key id is exactly 32 bytes")


def load_public_spki(spki: bytes) -> ec.EllipticCurvePublicKey:
    """Load a P-256 public key from its canonical DER SPKI.

    Anything else raises KeyFormatError: other curves and algorithms, and also
    non-canonical encodings of a P-256 key (for example a compressed point), because
    two encodings of one key would give it two key ids.
    """
    try:
        public_key = serialization.load_der_public_key(spki)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KeyFormatError("not a DER SubjectPublicKeyInfo") from None
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
        public_key.curve, ec.SECP256R1
    ):
        raise KeyFormatError("not a P-256 public key")
    if public_key_spki(public_key) != spki:
        raise KeyFormatError("not the canonical SPKI encoding of a P-256 key")
    return public_key


def public_jwk(spki: bytes) -> dict[str, str]:
    """The public key as a JWK for WebCrypto ``importKey("jwk", ...)``."""
    numbers = load_public_spki(spki).public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url_encode(numbers.x.to_bytes(_COORDINATE_SIZE, "big")),
        "y": b64url_encode(numbers.y.to_bytes(_COORDINATE_SIZE, "big")),
    }
