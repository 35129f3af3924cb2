"""The committed vector files: every vector gives its expected outcome.

The files are data (tests/crypto/vectors/*.json) produced by make_tamper_vectors.py;
another implementation of the format can run the same files. The envelopes in them are
sealed by the test-only RFC 9180 reference with fixed ephemeral keys, so besides the
reader, cryptography's HPKE (which the reader uses) is also run on them directly.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import crypto
from crypto.suite import HPKE_SUITE
from tests.crypto.vectors import make_tamper_vectors as generator

VECTORS = Path(__file__).parent / "vectors"
SEALED = json.loads((VECTORS / "sealed-record-v1.json").read_text(encoding="utf-8"))
SEALED_V2 = json.loads((VECTORS / "sealed-record-v2.json").read_text(encoding="utf-8"))
# Both versions' vectors, named by version; the keys are the same in both files.
SEALED_VECTORS = [
    {**vector, "name": f"v{version}-{vector['name']}", "version": version}
    for version, document in ((1, SEALED), (2, SEALED_V2))
    for vector in document["vectors"]
]
KEY_FILES = json.loads((VECTORS / "keyfile-v1.json").read_text(encoding="utf-8"))
# The kinds inspect_envelope can report: everything decided before a key is needed.
KEYLESS_KINDS = {"malformed", "unknown_version", "wrong_suite", "bad_length"}
# Kinds whose envelope is authentic: HPKE opens it, the failure (if any) comes after.
AUTHENTIC_KINDS = {"ok", "bad_padding", "bad_record"}


def _private_key(name: str) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_der_private_key(
        crypto.b64url_decode(SEALED["keys"][name]["privateKeyPkcs8"]), password=None
    )
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


PRIVATE_KEYS = {name: _private_key(name) for name in SEALED["keys"]}


def _ids(vectors: list[dict[str, Any]]) -> list[str]:
    return [vector["name"] for vector in vectors]


def test_vector_keys_are_consistent() -> None:
    for name, key in SEALED["keys"].items():
        spki = crypto.b64url_decode(key["publicKey"])
        assert crypto.public_key_spki(PRIVATE_KEYS[name]) == spki
        assert crypto.key_id(spki).hex() == key["keyId"]


def test_vector_names_are_unique() -> None:
    for vectors in (SEALED["vectors"], SEALED_V2["vectors"], KEY_FILES["vectors"]):
        assert len(set(_ids(vectors))) == len(vectors)
    assert SEALED_V2["keys"] == SEALED["keys"]


def test_every_error_kind_has_vectors() -> None:
    expected = {vector["expected"] for vector in SEALED["vectors"]}
    assert expected == {"ok", *crypto.SealedRecordErrorKind}
    expected = {vector["expected"] for vector in SEALED_V2["vectors"]}
    assert expected == {"ok", *crypto.SealedRecordErrorKind} - {"malformed"}
    expected = {vector["expected"] for vector in KEY_FILES["vectors"]}
    assert expected == {"ok", *crypto.KeyFileErrorKind}


@pytest.mark.parametrize("vector", SEALED_VECTORS, ids=_ids(SEALED_VECTORS))
def test_sealed_record_vector(vector: dict[str, Any]) -> None:
    keys = [PRIVATE_KEYS[name] for name in vector["openWith"]]
    context = {"location_code": vector["locationCode"], "area_code": vector["areaCode"]}
    if vector["expected"] == "ok":
        envelope = crypto.decode_envelope(vector["envelope"])
        assert crypto.open_with_any_key(keys, envelope, **context) == vector["record"]
        if len(keys) == 1:
            assert crypto.open_contact_record(keys[0], envelope, **context) == vector["record"]
        return
    with pytest.raises(crypto.SealedRecordError) as raised:
        crypto.open_with_any_key(keys, crypto.decode_envelope(vector["envelope"]), **context)
    assert raised.value.kind == vector["expected"]


@pytest.mark.parametrize("vector", SEALED_VECTORS, ids=_ids(SEALED_VECTORS))
def test_inspect_agrees_with_open(vector: dict[str, Any]) -> None:
    try:
        envelope = crypto.decode_envelope(vector["envelope"])
    except crypto.SealedRecordError:
        assert vector["expected"] == "malformed"
        return
    if vector["expected"] in KEYLESS_KINDS:
        with pytest.raises(crypto.SealedRecordError) as raised:
            crypto.inspect_envelope(envelope)
        assert raised.value.kind == vector["expected"]
    else:
        header = crypto.inspect_envelope(envelope)
        assert header.key_id == envelope[7:39]
        assert header.version == envelope[0]


@pytest.mark.parametrize("vector", KEY_FILES["vectors"], ids=_ids(KEY_FILES["vectors"]))
def test_key_file_vector(vector: dict[str, Any]) -> None:
    data = vector["keyFile"].encode("utf-8")
    if vector["expectedWithoutPassphrase"] == "ok":
        metadata = crypto.read_key_file_metadata(data)
    else:
        with pytest.raises(crypto.KeyFileError) as raised:
            crypto.read_key_file_metadata(data)
        assert raised.value.kind == vector["expectedWithoutPassphrase"]

    if vector["expected"] == "ok":
        opened = crypto.read_key_file(data, vector["passphrase"])
        assert opened.key_id.hex() == vector["keyId"] == metadata.key_id.hex()
        assert opened.created.utcoffset() == dt.timedelta(0)
        assert opened.created.strftime("%Y-%m-%dT%H:%M:%SZ") == vector["created"]
        assert crypto.public_key_spki(opened.private_key) == opened.public_spki
        return
    with pytest.raises(crypto.KeyFileError) as raised:
        crypto.read_key_file(data, vector["passphrase"])
    assert raised.value.kind == vector["expected"]


def test_committed_vector_files_are_what_the_script_generates() -> None:
    assert (VECTORS / "sealed-record-v1.json").read_text(encoding="utf-8") == generator.render(
        generator.sealed_record_vectors()
    )
    assert (VECTORS / "sealed-record-v2.json").read_text(encoding="utf-8") == generator.render(
        generator.sealed_record_v2_vectors()
    )
    assert (VECTORS / "keyfile-v1.json").read_text(encoding="utf-8") == generator.render(
        generator.key_file_vectors()
    )


def test_format_document_agrees_with_vectors_and_constants() -> None:
    """docs/FORMAT.md quotes a fingerprint and the envelope sizes; they must stay true."""
    document = (Path(__file__).parents[2] / "docs" / "FORMAT.md").read_text(encoding="utf-8")
    office_a = bytes.fromhex(SEALED["keys"]["office-a"]["keyId"])
    assert f"`{crypto.format_fingerprint(office_a)}`" in document
    assert f"`{office_a.hex()}`" in document
    sizes = " | ".join(str(104 + bucket + 16) for bucket in crypto.BUCKETS)
    assert f"| envelope length (bytes) | {sizes} |" in document
    assert f"{crypto.MAX_ENVELOPE_TEXT_LENGTH:,}" in document


HPKE_VECTORS = [
    vector
    for vector in SEALED_VECTORS
    if vector["expected"] in AUTHENTIC_KINDS | {"decryption_failed"}
]


@pytest.mark.parametrize("vector", HPKE_VECTORS, ids=_ids(HPKE_VECTORS))
def test_library_hpke_alone_opens_exactly_the_authentic_vectors(vector: dict[str, Any]) -> None:
    """cryptography's Suite.decrypt on enc || ct, with the info of FORMAT.md 5.2.

    Every authentic envelope opens and yields the padded record; every
    decryption_failed one (moved, relabelled, altered) raises the library's InvalidTag.
    """
    envelope = crypto.decode_envelope(vector["envelope"])
    recipient_key_id = envelope[7:39]
    (key,) = [
        PRIVATE_KEYS[name]
        for name in vector["openWith"]
        if SEALED["keys"][name]["keyId"] == recipient_key_id.hex()
    ]
    info = generator.record_info(
        vector["locationCode"], vector["areaCode"], recipient_key_id, envelope[0]
    )
    if vector["expected"] == "decryption_failed":
        with pytest.raises(InvalidTag):
            HPKE_SUITE.decrypt(envelope[39:], key, info)
        return
    padded = HPKE_SUITE.decrypt(envelope[39:], key, info)
    assert len(padded) == len(envelope) - 104 - 16
    if vector["expected"] == "ok":
        record_json = padded.rstrip(b"\x00")
        assert record_json.endswith(b"\x80")
        assert json.loads(record_json[:-1]) == vector["record"]


def test_every_authentic_vector_kind_is_run_against_the_library() -> None:
    assert {vector["expected"] for vector in HPKE_VECTORS} == AUTHENTIC_KINDS | {
        "decryption_failed"
    }
