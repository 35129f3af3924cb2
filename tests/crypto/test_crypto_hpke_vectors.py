"""crypto.hpke against the RFC 9180 vectors and against cryptography's own HPKE.

The vector file holds all eight DHKEM(P-256, HKDF-SHA256) / HKDF-SHA256 entries; the
format uses only base mode with AES-128-GCM, which is checked completely: keys
derived from ikm, encapsulation with the vector's ephemeral key, the key schedule,
all 257 sequence numbers in both directions and the exporter. The other base-mode
entry (AES-256-GCM) shares the KEM, so its shared secret is checked too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite

from crypto import hpke

VECTOR_FILE = Path(__file__).parent / "vectors" / "hpke-rfc9180-dhkem-p256-hkdf-sha256.json"
ALL_VECTORS: list[dict[str, Any]] = json.loads(VECTOR_FILE.read_text(encoding="utf-8"))
BASE_VECTORS = [v for v in ALL_VECTORS if v["mode"] == 0]
(FORMAT_VECTOR,) = [v for v in BASE_VECTORS if v["aead_id"] == 1]


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def test_vector_file_is_the_expected_selection() -> None:
    assert len(ALL_VECTORS) == 8
    assert {(v["kem_id"], v["kdf_id"]) for v in ALL_VECTORS} == {(0x0010, 0x0001)}
    assert sorted((v["aead_id"], v["mode"]) for v in ALL_VECTORS) == [
        (aead, mode) for aead in (1, 2) for mode in range(4)
    ]
    assert all(len(v["encryptions"]) == 257 for v in ALL_VECTORS)


def test_suite_identifiers_are_those_of_the_vector() -> None:
    vector = FORMAT_VECTOR
    assert (
        vector["kem_id"],
        vector["kdf_id"],
        vector["aead_id"],
    ) == (hpke.KEM_ID, hpke.KDF_ID, hpke.AEAD_ID)


@pytest.mark.parametrize("vector", BASE_VECTORS, ids=lambda v: f"aead{v['aead_id']}")
def test_kem_derives_keys_and_shared_secret(vector: dict[str, Any]) -> None:
    recipient = hpke.derive_key_pair(h(vector["ikmR"]))
    ephemeral = hpke.derive_key_pair(h(vector["ikmE"]))
    assert recipient.private_numbers().private_value == int(vector["skRm"], 16)
    assert ephemeral.private_numbers().private_value == int(vector["skEm"], 16)
    assert hpke.serialize_public_key(recipient.public_key()) == h(vector["pkRm"])
    assert hpke.serialize_public_key(ephemeral.public_key()) == h(vector["pkEm"])

    shared_secret, enc = hpke.encap(recipient.public_key(), ephemeral_key=ephemeral)
    assert enc == h(vector["enc"])
    assert shared_secret == h(vector["shared_secret"])
    assert hpke.decap(enc, recipient, h(vector["pkRm"])) == h(vector["shared_secret"])


def test_private_key_from_skrm_gives_pkrm() -> None:
    private_key = ec.derive_private_key(int(FORMAT_VECTOR["skRm"], 16), ec.SECP256R1())
    assert hpke.serialize_public_key(private_key.public_key()) == h(FORMAT_VECTOR["pkRm"])


def test_key_schedule() -> None:
    vector = FORMAT_VECTOR
    context = hpke.key_schedule(h(vector["shared_secret"]), h(vector["info"]))
    assert context.key == h(vector["key"])
    assert context.base_nonce == h(vector["base_nonce"])
    assert context.exporter_secret == h(vector["exporter_secret"])


def test_all_sequence_numbers_seal_and_open() -> None:
    vector = FORMAT_VECTOR
    sender = hpke.key_schedule(h(vector["shared_secret"]), h(vector["info"]))
    recipient_key = hpke.derive_key_pair(h(vector["ikmR"]))
    receiver = hpke.key_schedule(
        hpke.decap(h(vector["enc"]), recipient_key, h(vector["pkRm"])), h(vector["info"])
    )
    for item in vector["encryptions"]:
        assert sender.seal(h(item["aad"]), h(item["pt"])) == h(item["ct"])
        assert receiver.open(h(item["aad"]), h(item["ct"])) == h(item["pt"])
    assert receiver.sequence == sender.sequence == 257


def test_failed_open_does_not_advance_the_sequence() -> None:
    vector = FORMAT_VECTOR
    receiver = hpke.key_schedule(h(vector["shared_secret"]), h(vector["info"]))
    first = vector["encryptions"][0]
    with pytest.raises(hpke.OpenError):
        receiver.open(b"other aad", h(first["ct"]))
    assert receiver.open(h(first["aad"]), h(first["ct"])) == h(first["pt"])


def test_exporter() -> None:
    vector = FORMAT_VECTOR
    context = hpke.key_schedule(h(vector["shared_secret"]), h(vector["info"]))
    assert len(vector["exports"]) == 3
    for item in vector["exports"]:
        exported = context.export(h(item["exporter_context"]), item["L"])
        assert exported == h(item["exported_value"])


def test_single_shot_open_of_the_first_encryption() -> None:
    vector = FORMAT_VECTOR
    first = vector["encryptions"][0]
    private_key = ec.derive_private_key(int(vector["skRm"], 16), ec.SECP256R1())
    plaintext = hpke.open_sealed(
        h(vector["enc"]),
        h(first["ct"]),
        private_key,
        h(vector["pkRm"]),
        h(vector["info"]),
        h(first["aad"]),
    )
    assert plaintext == h(first["pt"])


def test_single_shot_seal_with_the_vector_ephemeral_key() -> None:
    vector = FORMAT_VECTOR
    first = vector["encryptions"][0]
    recipient = ec.derive_private_key(int(vector["skRm"], 16), ec.SECP256R1())
    ephemeral = ec.derive_private_key(int(vector["skEm"], 16), ec.SECP256R1())
    enc, ciphertext = hpke.seal(
        recipient.public_key(),
        h(vector["info"]),
        h(first["aad"]),
        h(first["pt"]),
        ephemeral_key=ephemeral,
    )
    assert (enc, ciphertext) == (h(vector["enc"]), h(first["ct"]))


@pytest.mark.parametrize(
    "enc",
    [
        b"",
        bytes(65),
        b"\x02" + bytes(32),  # compressed form is not the format's encoding
        b"\x04" + bytes(64),
        b"\x04" + (2**256 - 2**224 + 2**192 + 2**96 - 1).to_bytes(32, "big") + bytes(32),
    ],
    ids=["empty", "zeros", "compressed", "not-on-curve", "x-equals-p"],
)
def test_invalid_enc_is_rejected(enc: bytes) -> None:
    vector = FORMAT_VECTOR
    private_key = ec.derive_private_key(int(vector["skRm"], 16), ec.SECP256R1())
    with pytest.raises(hpke.InvalidEncapsulatedKeyError):
        hpke.open_sealed(
            enc, h(vector["encryptions"][0]["ct"]), private_key, h(vector["pkRm"]), b"", b""
        )


# Interoperability with an independent implementation. cryptography's public HPKE API
# authenticates an empty aad (which is why crypto.hpke exists), so aad is b"" here.


def test_cryptography_hpke_opens_what_crypto_hpke_seals() -> None:
    recipient = ec.generate_private_key(ec.SECP256R1())
    enc, ciphertext = hpke.seal(recipient.public_key(), b"info", b"", b"guest list")
    suite = Suite(KEM.P256, KDF.HKDF_SHA256, AEAD.AES_128_GCM)
    assert suite.decrypt(enc + ciphertext, recipient, info=b"info") == b"guest list"


def test_crypto_hpke_opens_what_cryptography_hpke_seals() -> None:
    recipient = ec.generate_private_key(ec.SECP256R1())
    suite = Suite(KEM.P256, KDF.HKDF_SHA256, AEAD.AES_128_GCM)
    sealed = suite.encrypt(b"guest list", recipient.public_key(), info=b"info")
    point = hpke.serialize_public_key(recipient.public_key())
    opened = hpke.open_sealed(
        sealed[: hpke.ENC_SIZE], sealed[hpke.ENC_SIZE :], recipient, point, b"info", b""
    )
    assert opened == b"guest list"
