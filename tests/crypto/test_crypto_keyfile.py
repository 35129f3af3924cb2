"""Key files: writing, reading, metadata, and what a reader must refuse.

Writes use the readers' minimum of 100,000 PBKDF2 iterations to keep the suite fast,
except the one test that checks the default.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

import crypto

PASSPHRASE = "Kontaktnachverfolgung 2026"
CREATED = dt.datetime(2026, 11, 21, 12, 0, 0, tzinfo=dt.UTC)
FAST = crypto.MIN_ITERATIONS
KEY = crypto.generate_private_key()
KEY_FILE = crypto.write_key_file(KEY, PASSPHRASE, created=CREATED, iterations=FAST)


def test_round_trip() -> None:
    opened = crypto.read_key_file(KEY_FILE, PASSPHRASE)
    assert opened.private_key.private_numbers() == KEY.private_numbers()
    assert opened.public_spki == crypto.public_key_spki(KEY)
    assert opened.key_id == crypto.key_id(opened.public_spki)
    assert opened.created == CREATED
    assert opened.fingerprint == crypto.format_fingerprint(opened.key_id)


def test_private_key_is_not_in_the_repr() -> None:
    opened = crypto.read_key_file(KEY_FILE, PASSPHRASE)
    assert "private_key" not in repr(opened)


def test_metadata_needs_no_passphrase() -> None:
    metadata = crypto.read_key_file_metadata(KEY_FILE)
    assert metadata == crypto.KeyFileMetadata(
        key_id=crypto.key_id(crypto.public_key_spki(KEY)),
        public_spki=crypto.public_key_spki(KEY),
        created=CREATED,
    )


def test_document_has_exactly_the_format_members() -> None:
    document = json.loads(KEY_FILE)
    assert list(document) == [
        "format",
        "version",
        "keyId",
        "publicKey",
        "created",
        "kdf",
        "cipher",
        "encryptedPrivateKey",
    ]
    assert document["format"] == "gastregister-keyfile"
    assert document["version"] == 1
    assert re.fullmatch(r"[0-9a-f]{64}", document["keyId"])
    assert crypto.b64url_decode(document["publicKey"]) == crypto.public_key_spki(KEY)
    assert document["created"] == "2026-11-21T12:00:00Z"
    assert document["kdf"]["name"] == "PBKDF2-SHA-256"
    assert document["kdf"]["iterations"] == FAST
    assert len(crypto.b64url_decode(document["kdf"]["salt"])) == 16
    assert document["cipher"]["name"] == "AES-256-GCM"
    assert len(crypto.b64url_decode(document["cipher"]["nonce"])) == 12


def test_salt_and_nonce_are_fresh_for_every_file() -> None:
    again = json.loads(crypto.write_key_file(KEY, PASSPHRASE, created=CREATED, iterations=FAST))
    first = json.loads(KEY_FILE)
    assert again["kdf"]["salt"] != first["kdf"]["salt"]
    assert again["cipher"]["nonce"] != first["cipher"]["nonce"]
    assert again["encryptedPrivateKey"] != first["encryptedPrivateKey"]


def test_writers_default_to_600000_iterations() -> None:
    assert crypto.DEFAULT_ITERATIONS == 600_000
    key_file = crypto.write_key_file(KEY, PASSPHRASE, created=CREATED)
    assert json.loads(key_file)["kdf"]["iterations"] == 600_000
    assert crypto.read_key_file(key_file, PASSPHRASE).key_id == crypto.key_id(
        crypto.public_key_spki(KEY)
    )


def test_created_is_stored_in_utc_whole_seconds() -> None:
    created = dt.datetime(
        2026, 3, 29, 3, 30, 15, 999_999, tzinfo=dt.timezone(dt.timedelta(hours=2))
    )
    key_file = crypto.write_key_file(KEY, PASSPHRASE, created=created, iterations=FAST)
    assert json.loads(key_file)["created"] == "2026-03-29T01:30:15Z"
    assert crypto.read_key_file_metadata(key_file).created == dt.datetime(
        2026, 3, 29, 1, 30, 15, tzinfo=dt.UTC
    )


def test_created_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        crypto.write_key_file(KEY, PASSPHRASE, created=dt.datetime(2026, 1, 1), iterations=FAST)


def test_passphrase_needs_twelve_characters_after_nfc() -> None:
    twelve = "abcdefghijkl"
    crypto.write_key_file(KEY, twelve, created=CREATED, iterations=FAST)
    with pytest.raises(crypto.WeakPassphraseError):
        crypto.write_key_file(KEY, twelve[:-1], created=CREATED, iterations=FAST)
    # Twelve code points in NFD, six characters in NFC.
    decomposed = unicodedata.normalize("NFD", "äöüÄÖÜ")
    assert len(decomposed) == 12
    with pytest.raises(crypto.WeakPassphraseError):
        crypto.write_key_file(KEY, decomposed, created=CREATED, iterations=FAST)


def test_passphrase_is_nfc_normalised() -> None:
    composed = "Grüße aus Jena"
    key_file = crypto.write_key_file(KEY, composed, created=CREATED, iterations=FAST)
    decomposed = unicodedata.normalize("NFD", composed)
    assert decomposed != composed
    assert crypto.read_key_file(key_file, decomposed).created == CREATED


@pytest.mark.parametrize("iterations", [99_999, 10_000_001, 0, True])
def test_writer_rejects_iteration_counts_readers_refuse(iterations: int) -> None:
    with pytest.raises(ValueError, match="iterations"):
        crypto.write_key_file(KEY, PASSPHRASE, created=CREATED, iterations=iterations)


def test_writer_needs_a_p256_key() -> None:
    with pytest.raises(TypeError):
        crypto.write_key_file(
            ec.generate_private_key(ec.SECP384R1()),
            PASSPHRASE,
            created=CREATED,
            iterations=FAST,
        )


def test_wrong_passphrase() -> None:
    with pytest.raises(crypto.KeyFileError) as raised:
        crypto.read_key_file(KEY_FILE, PASSPHRASE.upper())
    assert raised.value.kind == "wrong_passphrase"
    assert PASSPHRASE.upper() not in str(raised.value)
    assert raised.value.__context__ is None


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"", "malformed"),
        (b"\xff", "malformed"),
        (b" " * 20_000 + b"{}", "malformed"),
        (KEY_FILE.replace(b'"version": 1', b'"version": 2'), "unsupported"),
        ("\ufeff".encode() + KEY_FILE, "malformed"),
    ],
    ids=["empty", "not-utf8", "too-large", "version-2", "bom"],
)
def test_reader_rejects(data: bytes, kind: str) -> None:
    with pytest.raises(crypto.KeyFileError) as raised:
        crypto.read_key_file(data, PASSPHRASE)
    assert raised.value.kind == kind


def test_error_kinds_are_those_of_the_format() -> None:
    assert {kind.value for kind in crypto.KeyFileErrorKind} == {
        "malformed",
        "unsupported",
        "wrong_passphrase",
        "key_mismatch",
    }


def test_created_with_non_ascii_digits_is_malformed_as_in_the_browser() -> None:
    """A regex `\\d` would match Unicode digits; the format and the browser allow ASCII only."""
    document = json.loads(KEY_FILE)
    document["created"] = "\uff12\uff10\uff12\uff16-11-21T12:00:00Z"  # full-width 2026
    with pytest.raises(crypto.KeyFileError) as caught:
        crypto.read_key_file_metadata(json.dumps(document).encode())
    assert caught.value.kind.value == "malformed"
