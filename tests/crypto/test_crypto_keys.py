"""Key pairs, SPKI, key ids, fingerprints and JWKs."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

import crypto

VECTOR_FILE = Path(__file__).parent / "vectors" / "hpke-rfc9180-dhkem-p256-hkdf-sha256.json"
RFC_BASE_VECTOR = next(
    v
    for v in json.loads(VECTOR_FILE.read_text(encoding="utf-8"))
    if v["mode"] == 0 and v["aead_id"] == 1
)
# DER prefix of every P-256 SPKI: SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 },
# BIT STRING (66 bytes, 0 unused bits) }, followed by the 65-byte uncompressed point.
P256_SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200")


def rfc_recipient_key() -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int(RFC_BASE_VECTOR["skRm"], 16), ec.SECP256R1())


def test_generated_keys_are_p256_and_distinct() -> None:
    first, second = crypto.generate_private_key(), crypto.generate_private_key()
    assert isinstance(first.curve, ec.SECP256R1)
    assert crypto.public_key_spki(first) != crypto.public_key_spki(second)


def test_spki_is_the_fixed_prefix_and_the_uncompressed_point() -> None:
    spki = crypto.public_key_spki(rfc_recipient_key())
    assert spki == P256_SPKI_PREFIX + bytes.fromhex(RFC_BASE_VECTOR["pkRm"])
    assert crypto.public_key_spki(rfc_recipient_key().public_key()) == spki


def test_key_id_is_sha256_of_the_spki() -> None:
    spki = P256_SPKI_PREFIX + bytes.fromhex(RFC_BASE_VECTOR["pkRm"])
    assert crypto.key_id(spki) == hashlib.sha256(spki).digest()
    assert len(crypto.key_id(spki)) == crypto.KEY_ID_SIZE == 32
    assert crypto.key_id_hex(crypto.key_id(spki)) == hashlib.sha256(spki).hexdigest()


def test_fingerprint_is_sixteen_groups_of_four_upper_case_hex_digits() -> None:
    key_id = bytes(range(32))
    fingerprint = crypto.format_fingerprint(key_id)
    assert fingerprint.startswith("0001 0203 0405 0607 ")
    assert fingerprint.endswith(" 1C1D 1E1F")
    assert re.fullmatch(r"[0-9A-F]{4}( [0-9A-F]{4}){15}", fingerprint)
    assert fingerprint.replace(" ", "").lower() == key_id.hex()


def test_short_fingerprint_is_the_first_four_groups_of_the_fingerprint() -> None:
    key_id = bytes.fromhex("e6659e7da73d8772328ece15f068dd5f144f4497e5842be47ecd28fb90771ec4")
    assert crypto.format_short_fingerprint(key_id) == "E665 9E7D A73D 8772"
    assert crypto.format_fingerprint(key_id).startswith(crypto.format_short_fingerprint(key_id))


@pytest.mark.parametrize("bad", [b"", bytes(31), bytes(33)])
def test_fingerprint_needs_a_32_byte_key_id(bad: bytes) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        crypto.format_fingerprint(bad)
    with pytest.raises(ValueError, match="32 bytes"):
        crypto.format_short_fingerprint(bad)


def test_jwk_carries_the_point_coordinates() -> None:
    point = bytes.fromhex(RFC_BASE_VECTOR["pkRm"])
    jwk = crypto.public_jwk(P256_SPKI_PREFIX + point)
    assert set(jwk) == {"kty", "crv", "x", "y"}
    assert (jwk["kty"], jwk["crv"]) == ("EC", "P-256")
    assert base64.urlsafe_b64decode(jwk["x"] + "=") == point[1:33]
    assert base64.urlsafe_b64decode(jwk["y"] + "=") == point[33:]
    assert "=" not in jwk["x"] + jwk["y"]


def test_load_public_spki_round_trips() -> None:
    spki = crypto.public_key_spki(crypto.generate_private_key())
    assert crypto.public_key_spki(crypto.load_public_spki(spki)) == spki


def _other_spkis() -> dict[str, bytes]:
    p256 = crypto.generate_private_key().public_key()
    spki = crypto.public_key_spki(p256)
    compressed_point = p256.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
    )
    # Same key, compressed point: a second encoding would give a second key id.
    compressed = bytes.fromhex("3039301306072a8648ce3d020106082a8648ce3d030107032200")
    der = serialization.Encoding.DER
    info = serialization.PublicFormat.SubjectPublicKeyInfo
    return {
        "empty": b"",
        "garbage": b"not a key",
        "p384": ec.generate_private_key(ec.SECP384R1()).public_key().public_bytes(der, info),
        "ed25519": ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(der, info),
        "compressed-point": compressed + compressed_point,
        "trailing-byte": spki + b"\x00",
        "truncated": spki[:-1],
        "raw-point": spki[len(P256_SPKI_PREFIX) :],
    }


@pytest.mark.parametrize("name", sorted(_other_spkis()))
def test_load_public_spki_rejects_anything_but_canonical_p256(name: str) -> None:
    with pytest.raises(crypto.KeyFormatError):
        crypto.load_public_spki(_other_spkis()[name])


def test_compressed_spki_is_really_the_same_key() -> None:
    # Guards the test above: the compressed SPKI is well-formed, just not canonical.
    spki = _other_spkis()["compressed-point"]
    assert isinstance(serialization.load_der_public_key(spki), ec.EllipticCurvePublicKey)


def test_public_jwk_rejects_a_non_p256_key() -> None:
    with pytest.raises(crypto.KeyFormatError):
        crypto.public_jwk(_other_spkis()["p384"])
