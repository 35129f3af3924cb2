"""The RFC 9180 vectors, the test-only reference, and cryptography's HPKE that the product uses.

Why not feed the vectors to the library directly: ``Suite.encrypt``/``Suite.decrypt``
(cryptography 50) are single-shot base mode with ``info`` but no aad parameter; they
always authenticate an empty aad at sequence number 0, and always draw a fresh
ephemeral key. Every encryption in the RFC 9180 vectors has a non-empty aad
("Count-0", ...), so no vector ciphertext is one the library can produce or open, and
its random ephemeral key cannot reproduce the vector's enc. So the evidence is in two
steps:

1. The reference in rfc9180_reference.py reproduces the vector file completely for
   the format's suite (base mode, AES-128-GCM): keys derived from ikm, encapsulation
   with the vector's ephemeral key, the key schedule, all 257 encryptions in both
   directions and the exporter. The other base-mode entry (AES-256-GCM) shares the
   KEM, so its keys and shared secret are checked too.
2. The library and the reference agree on the vector's own keys and info with the
   empty aad the format uses: the library opens what the reference seals with the
   vector's deterministic ephemeral key (and the enc is the vector's), and the
   reference opens what the library seals. Since the key schedule mixes the suite id
   into every step, this also shows the library runs exactly the suite the envelope
   header names.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric import ec

import crypto
from crypto import suite
from tests.crypto import rfc9180_reference as reference

VECTOR_FILE = Path(__file__).parent / "vectors" / "hpke-rfc9180-dhkem-p256-hkdf-sha256.json"
ALL_VECTORS: list[dict[str, Any]] = json.loads(VECTOR_FILE.read_text(encoding="utf-8"))
BASE_VECTORS = [v for v in ALL_VECTORS if v["mode"] == 0]
(FORMAT_VECTOR,) = [v for v in BASE_VECTORS if v["aead_id"] == 1]
EMPTY_AAD = b""


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def vector_key(name: str) -> ec.EllipticCurvePrivateKey:
    """skRm or skEm of the format's vector as a private key."""
    return ec.derive_private_key(int(FORMAT_VECTOR[name], 16), ec.SECP256R1())


def test_vector_file_is_the_expected_selection() -> None:
    assert len(ALL_VECTORS) == 8
    assert {(v["kem_id"], v["kdf_id"]) for v in ALL_VECTORS} == {(0x0010, 0x0001)}
    assert sorted((v["aead_id"], v["mode"]) for v in ALL_VECTORS) == [
        (aead, mode) for aead in (1, 2) for mode in range(4)
    ]
    assert all(len(v["encryptions"]) == 257 for v in ALL_VECTORS)


def test_vector_aads_are_not_empty() -> None:
    """The reason the library cannot take the vectors directly (module docstring)."""
    assert all(item["aad"] for item in FORMAT_VECTOR["encryptions"])


def test_suite_identifiers_are_those_of_the_vector() -> None:
    ids = (FORMAT_VECTOR["kem_id"], FORMAT_VECTOR["kdf_id"], FORMAT_VECTOR["aead_id"])
    assert ids == (suite.KEM_ID, suite.KDF_ID, suite.AEAD_ID)
    assert ids == (reference.KEM_ID, reference.KDF_ID, reference.AEAD_ID)
    assert suite.SUITE_BYTES.hex() == "001000010001"


def test_sizes_are_those_of_the_library() -> None:
    sealed = suite.HPKE_SUITE.encrypt(b"", vector_key("skRm").public_key(), b"")
    assert len(sealed) == suite.ENC_SIZE + suite.TAG_SIZE == reference.ENC_SIZE + reference.TAG_SIZE
    assert sealed[0] == 0x04


# 1. The reference against the vectors.


@pytest.mark.parametrize("vector", BASE_VECTORS, ids=lambda v: f"aead{v['aead_id']}")
def test_reference_kem_derives_keys_and_shared_secret(vector: dict[str, Any]) -> None:
    recipient = reference.derive_key_pair(h(vector["ikmR"]))
    ephemeral = reference.derive_key_pair(h(vector["ikmE"]))
    assert recipient.private_numbers().private_value == int(vector["skRm"], 16)
    assert ephemeral.private_numbers().private_value == int(vector["skEm"], 16)
    assert reference.serialize_public_key(recipient.public_key()) == h(vector["pkRm"])
    assert reference.serialize_public_key(ephemeral.public_key()) == h(vector["pkEm"])

    shared_secret, enc = reference.encap(recipient.public_key(), ephemeral_key=ephemeral)
    assert enc == h(vector["enc"])
    assert shared_secret == h(vector["shared_secret"])
    assert reference.decap(enc, recipient) == h(vector["shared_secret"])


def test_private_key_from_skrm_gives_pkrm() -> None:
    public_key = vector_key("skRm").public_key()
    assert reference.serialize_public_key(public_key) == h(FORMAT_VECTOR["pkRm"])


def test_reference_key_schedule() -> None:
    vector = FORMAT_VECTOR
    context = reference.key_schedule(h(vector["shared_secret"]), h(vector["info"]))
    assert context.key == h(vector["key"])
    assert context.base_nonce == h(vector["base_nonce"])
    assert context.exporter_secret == h(vector["exporter_secret"])


def test_reference_seals_and_opens_all_257_encryptions() -> None:
    vector = FORMAT_VECTOR
    sender = reference.key_schedule(h(vector["shared_secret"]), h(vector["info"]))
    receiver = reference.key_schedule(
        reference.decap(h(vector["enc"]), vector_key("skRm")), h(vector["info"])
    )
    for item in vector["encryptions"]:
        assert sender.seal(h(item["aad"]), h(item["pt"])) == h(item["ct"])
        assert receiver.open(h(item["aad"]), h(item["ct"])) == h(item["pt"])
    assert receiver.sequence == sender.sequence == 257


def test_reference_failed_open_does_not_advance_the_sequence() -> None:
    vector = FORMAT_VECTOR
    receiver = reference.key_schedule(h(vector["shared_secret"]), h(vector["info"]))
    first = vector["encryptions"][0]
    with pytest.raises(reference.OpenError):
        receiver.open(b"other aad", h(first["ct"]))
    assert receiver.open(h(first["aad"]), h(first["ct"])) == h(first["pt"])


def test_reference_exporter() -> None:
    vector = FORMAT_VECTOR
    context = reference.key_schedule(h(vector["shared_secret"]), h(vector["info"]))
    assert len(vector["exports"]) == 3
    for item in vector["exports"]:
        exported = context.export(h(item["exporter_context"]), item["L"])
        assert exported == h(item["exported_value"])


def test_reference_single_shot_with_the_vector_keys() -> None:
    vector = FORMAT_VECTOR
    first = vector["encryptions"][0]
    enc, ciphertext = reference.seal(
        vector_key("skRm").public_key(),
        h(vector["info"]),
        h(first["aad"]),
        h(first["pt"]),
        ephemeral_key=vector_key("skEm"),
    )
    assert (enc, ciphertext) == (h(vector["enc"]), h(first["ct"]))
    opened = reference.open_sealed(
        enc, ciphertext, vector_key("skRm"), h(vector["info"]), h(first["aad"])
    )
    assert opened == h(first["pt"])


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
def test_reference_rejects_an_invalid_enc(enc: bytes) -> None:
    with pytest.raises(reference.InvalidEncapsulatedKeyError):
        reference.open_sealed(
            enc, h(FORMAT_VECTOR["encryptions"][0]["ct"]), vector_key("skRm"), b"", b""
        )


# 2. The library against the reference, on the vector's keys and info, with empty aad.


def test_library_opens_what_the_reference_seals_with_the_vector_keys() -> None:
    vector = FORMAT_VECTOR
    for item in vector["encryptions"][:3]:
        enc, ciphertext = reference.seal(
            vector_key("skRm").public_key(),
            h(vector["info"]),
            EMPTY_AAD,
            h(item["pt"]),
            ephemeral_key=vector_key("skEm"),
        )
        assert enc == h(vector["enc"])  # the KEM is the vector's; only the aad differs
        assert ciphertext != h(item["ct"])
        opened = suite.HPKE_SUITE.decrypt(enc + ciphertext, vector_key("skRm"), h(vector["info"]))
        assert opened == h(item["pt"])


def test_library_opens_a_reference_record_sized_plaintext() -> None:
    plaintext = b'{"v":1}\x80' + bytes(512 - 8)
    enc, ciphertext = reference.seal(
        vector_key("skRm").public_key(),
        h(FORMAT_VECTOR["info"]),
        EMPTY_AAD,
        plaintext,
        ephemeral_key=vector_key("skEm"),
    )
    opened = suite.HPKE_SUITE.decrypt(
        enc + ciphertext, vector_key("skRm"), h(FORMAT_VECTOR["info"])
    )
    assert opened == plaintext


def test_reference_opens_what_the_library_seals_to_pkrm() -> None:
    vector = FORMAT_VECTOR
    public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), h(vector["pkRm"]))
    for item in vector["encryptions"][:3]:
        sealed = suite.HPKE_SUITE.encrypt(h(item["pt"]), public_key, h(vector["info"]))
        enc, ciphertext = sealed[: suite.ENC_SIZE], sealed[suite.ENC_SIZE :]
        opened = reference.open_sealed(
            enc, ciphertext, vector_key("skRm"), h(vector["info"]), EMPTY_AAD
        )
        assert opened == h(item["pt"])


def test_library_refuses_the_vector_ciphertext_with_its_non_empty_aad() -> None:
    """The library authenticates an empty aad: the RFC's own ciphertexts do not open."""
    vector = FORMAT_VECTOR
    first = vector["encryptions"][0]
    with pytest.raises(InvalidTag):
        suite.HPKE_SUITE.decrypt(
            h(vector["enc"]) + h(first["ct"]), vector_key("skRm"), h(vector["info"])
        )


def test_library_refuses_other_info_and_the_reference_agrees() -> None:
    vector = FORMAT_VECTOR
    sealed = suite.HPKE_SUITE.encrypt(
        b"guest list", vector_key("skRm").public_key(), h(vector["info"])
    )
    with pytest.raises(InvalidTag):
        suite.HPKE_SUITE.decrypt(sealed, vector_key("skRm"), h(vector["info"]) + b"!")
    with pytest.raises(reference.OpenError):
        reference.open_sealed(
            sealed[:65], sealed[65:], vector_key("skRm"), h(vector["info"]) + b"!", EMPTY_AAD
        )


def test_product_code_has_no_hand_written_hpke() -> None:
    """The key schedule and KEM live in the library; only tests hold a reference."""
    package = Path(crypto.__file__).parent
    assert not (package / "hpke.py").exists()
    for module in package.glob("*.py"):
        source = module.read_text(encoding="utf-8")
        assert "HPKE-v1" not in source, module.name
        assert "import hmac" not in source, module.name
