"""Key file v1: a health-office private key under a passphrase, readable by WebCrypto.

The file is JSON so that a browser can open it with nothing but WebCrypto
(PBKDF2, AES-GCM, PKCS#8 import), and so that a person can see which key it holds
(keyId, created) without the passphrase. The key id is the AES-GCM aad: a file whose
keyId was edited does not decrypt, and a decrypted key that is not the key the file
names is refused, so a health office cannot end up holding a key other than the
one whose fingerprint it confirmed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from crypto.b64 import NonCanonicalBase64Error, b64url_decode, b64url_encode
from crypto.errors import (
    GuessablePassphraseError,
    KeyFileError,
    KeyFileErrorKind,
    KeyFormatError,
    WeakPassphraseError,
)
from crypto.keys import format_fingerprint, key_id, load_public_spki, public_key_spki
from crypto.passphrase import passphrase_strength
from crypto.times import format_utc

KEY_FILE_FORMAT = "gastregister-keyfile"
KEY_FILE_VERSION = 1
KDF_NAME = "PBKDF2-SHA-256"
CIPHER_NAME = "AES-256-GCM"
DEFAULT_ITERATIONS = 600_000  # what writers MUST use at least
MIN_ITERATIONS = 100_000  # what readers still accept; tests write this to stay fast
MAX_ITERATIONS = 10_000_000
MIN_PASSPHRASE_LENGTH = 12
SALT_SIZE = 16
NONCE_SIZE = 12
MAX_KEY_FILE_BYTES = 16_384
KEY_FILE_AAD_PREFIX = "gastregister/keyfile/v1:"

_MEMBERS = frozenset(
    ("format", "version", "keyId", "publicKey", "created", "kdf", "cipher", "encryptedPrivateKey")
)
_KDF_MEMBERS = frozenset(("name", "iterations", "salt"))
_CIPHER_MEMBERS = frozenset(("name", "nonce"))
_KEY_ID_HEX = re.compile(r"[0-9a-f]{64}")
_CREATED = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z"
)  # ASCII digits only
_Kind = KeyFileErrorKind


@dataclass(frozen=True)
class KeyFileMetadata:
    """What a key file says about its key without the passphrase."""

    key_id: bytes
    public_spki: bytes
    created: dt.datetime

    @property
    def fingerprint(self) -> str:
        return format_fingerprint(self.key_id)


@dataclass(frozen=True)
class KeyFile:
    """An opened key file: the private key and what identifies it."""

    key_id: bytes
    private_key: ec.EllipticCurvePrivateKey = field(repr=False)
    public_spki: bytes
    created: dt.datetime

    @property
    def fingerprint(self) -> str:
        return format_fingerprint(self.key_id)


@dataclass(frozen=True)
class _ParsedKeyFile:
    metadata: KeyFileMetadata
    key_id_hex: str
    iterations: int
    salt: bytes
    nonce: bytes
    encrypted_private_key: bytes


def _normalised_passphrase(passphrase: str) -> bytes:
    # NFC so that "ä" typed as one code point or as "a" + combining diaeresis, which
    # look identical, derive the same key on every keyboard and in every browser.
    return unicodedata.normalize("NFC", passphrase).encode("utf-8")


def _wrapping_key(passphrase: str, salt: bytes, iterations: int) -> bytes:
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=iterations)
    return kdf.derive(_normalised_passphrase(passphrase))


def _aad(key_id_hex: str) -> bytes:
    return (KEY_FILE_AAD_PREFIX + key_id_hex).encode("ascii")


def format_created(created: dt.datetime) -> str:
    """The key file's ``created`` text: UTC, whole seconds, ``Z`` suffix."""
    return format_utc(created)


def check_new_passphrase(passphrase: str) -> None:
    """Raise WeakPassphraseError unless a person may choose ``passphrase`` for a key file.

    Two rules: the format's minimum of 12 characters (after NFC normalisation), and
    the strength estimate of crypto.passphrase (zxcvbn, at least 10^14 guesses), which
    refuses ``aaaaaaaaaaaa`` and ``Passwort1234``. The CLI and the key page (with the
    same estimator in the browser) check it before they generate a key; passphrases
    they propose themselves pass it by construction.
    """
    _check_passphrase_length(passphrase)
    if not passphrase_strength(passphrase).acceptable:
        raise GuessablePassphraseError(
            "The passphrase is too easy to guess. Use the proposed one, or several "
            "unrelated words (at least five) that are not a saying, a name or a date."
        )


def _check_passphrase_length(passphrase: str) -> None:
    """The format's rule for writers (docs/FORMAT.md §4.2): 12 characters after NFC."""
    if len(unicodedata.normalize("NFC", passphrase)) < MIN_PASSPHRASE_LENGTH:
        raise WeakPassphraseError(
            f"The passphrase needs at least {MIN_PASSPHRASE_LENGTH} characters."
        )


def write_key_file(
    private_key: ec.EllipticCurvePrivateKey,
    passphrase: str,
    *,
    created: dt.datetime,
    iterations: int = DEFAULT_ITERATIONS,
) -> bytes:
    """Serialize ``private_key`` into a key file protected by ``passphrase``.

    The format requires at least 600,000 PBKDF2 iterations from writers, which is the
    default; lower counts down to the readers' minimum (100,000) exist only so that
    test suites stay fast. Raises WeakPassphraseError for a passphrase shorter than
    12 characters (after NFC normalisation), the format's rule; the strength check of
    check_new_passphrase is for passphrases a person chooses, and the interfaces apply
    it before they get here.
    """
    if not isinstance(private_key, ec.EllipticCurvePrivateKey) or not isinstance(
        private_key.curve, ec.SECP256R1
    ):
        raise TypeError("a health-office key is a P-256 private key")
    _check_passphrase_length(passphrase)
    if type(iterations) is not int or not MIN_ITERATIONS <= iterations <= MAX_ITERATIONS:
        raise ValueError(f"iterations must be between {MIN_ITERATIONS} and {MAX_ITERATIONS}")
    created_text = format_created(created)

    spki = public_key_spki(private_key)
    key_id_hex = key_id(spki).hex()
    salt = os.urandom(SALT_SIZE)
    nonce = os.urandom(NONCE_SIZE)
    pkcs8 = private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    wrapped = AESGCM(_wrapping_key(passphrase, salt, iterations)).encrypt(
        nonce, pkcs8, _aad(key_id_hex)
    )
    document = {
        "format": KEY_FILE_FORMAT,
        "version": KEY_FILE_VERSION,
        "keyId": key_id_hex,
        "publicKey": b64url_encode(spki),
        "created": created_text,
        "kdf": {"name": KDF_NAME, "iterations": iterations, "salt": b64url_encode(salt)},
        "cipher": {"name": CIPHER_NAME, "nonce": b64url_encode(nonce)},
        "encryptedPrivateKey": b64url_encode(wrapped),
    }
    return (json.dumps(document, indent=2) + "\n").encode("utf-8")


def read_key_file_metadata(data: bytes) -> KeyFileMetadata:
    """Validate a key file's structure and return its key id, public key and date.

    Needs no passphrase: the CLI shows it, and an operator registers the public key
    from it. Raises KeyFileError (malformed, unsupported, key_mismatch).
    """
    return _parse(data).metadata


def read_key_file(data: bytes, passphrase: str) -> KeyFile:
    """Open a key file. Raises KeyFileError with the kind the format assigns.

    A wrong passphrase and an altered file are indistinguishable (both break the
    AES-GCM tag) and both report ``wrong_passphrase``.
    """
    parsed = _parse(data)
    private_key = _unwrap(parsed, passphrase)
    if public_key_spki(private_key) != parsed.metadata.public_spki:
        raise KeyFileError(_Kind.KEY_MISMATCH)
    return KeyFile(
        key_id=parsed.metadata.key_id,
        private_key=private_key,
        public_spki=parsed.metadata.public_spki,
        created=parsed.metadata.created,
    )


def _unwrap(parsed: _ParsedKeyFile, passphrase: str) -> ec.EllipticCurvePrivateKey:
    # Errors are raised outside the handlers so that they carry no __context__: the
    # caught exceptions say nothing useful and a traceback should not hint at more.
    kind = _Kind.WRONG_PASSPHRASE
    try:
        pkcs8 = AESGCM(_wrapping_key(passphrase, parsed.salt, parsed.iterations)).decrypt(
            parsed.nonce, parsed.encrypted_private_key, _aad(parsed.key_id_hex)
        )
        kind = _Kind.MALFORMED
        private_key = serialization.load_der_private_key(pkcs8, password=None)
    except (InvalidTag, ValueError, TypeError, UnsupportedAlgorithm):
        pass
    else:
        if isinstance(private_key, ec.EllipticCurvePrivateKey) and isinstance(
            private_key.curve, ec.SECP256R1
        ):
            return private_key
    raise KeyFileError(kind)


def _parse(data: bytes) -> _ParsedKeyFile:
    if not isinstance(data, bytes) or len(data) > MAX_KEY_FILE_BYTES:
        raise KeyFileError(_Kind.MALFORMED)
    try:
        document = json.loads(data.decode("utf-8"), object_pairs_hook=_unique_members)
    except (UnicodeDecodeError, ValueError, RecursionError):
        document = None
    if not isinstance(document, dict) or document.get("format") != KEY_FILE_FORMAT:
        raise KeyFileError(_Kind.MALFORMED)
    version = document.get("version")
    if type(version) is not int:
        raise KeyFileError(_Kind.MALFORMED)
    if version != KEY_FILE_VERSION:
        raise KeyFileError(_Kind.UNSUPPORTED)
    if set(document) != _MEMBERS:
        raise KeyFileError(_Kind.MALFORMED)

    kdf = _algorithm(document["kdf"], KDF_NAME, _KDF_MEMBERS)
    iterations = kdf["iterations"]
    if type(iterations) is not int:
        raise KeyFileError(_Kind.MALFORMED)
    if not MIN_ITERATIONS <= iterations <= MAX_ITERATIONS:
        raise KeyFileError(_Kind.UNSUPPORTED)
    salt = _bytes_member(kdf["salt"], SALT_SIZE)
    cipher = _algorithm(document["cipher"], CIPHER_NAME, _CIPHER_MEMBERS)
    nonce = _bytes_member(cipher["nonce"], NONCE_SIZE)

    key_id_hex = document["keyId"]
    if not isinstance(key_id_hex, str) or not _KEY_ID_HEX.fullmatch(key_id_hex):
        raise KeyFileError(_Kind.MALFORMED)
    try:
        public_spki = _bytes_member(document["publicKey"], None)
        load_public_spki(public_spki)
    except KeyFormatError:
        raise KeyFileError(_Kind.MALFORMED) from None
    if key_id(public_spki).hex() != key_id_hex:
        raise KeyFileError(_Kind.KEY_MISMATCH)

    encrypted_private_key = _bytes_member(document["encryptedPrivateKey"], None)
    if len(encrypted_private_key) <= 16:  # at least one byte of key plus the GCM tag
        raise KeyFileError(_Kind.MALFORMED)

    return _ParsedKeyFile(
        metadata=KeyFileMetadata(
            key_id=bytes.fromhex(key_id_hex),
            public_spki=public_spki,
            created=_parse_created(document["created"]),
        ),
        key_id_hex=key_id_hex,
        iterations=iterations,
        salt=salt,
        nonce=nonce,
        encrypted_private_key=encrypted_private_key,
    )


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        raise ValueError("duplicate member")
    return document


def _algorithm(value: object, expected_name: str, members: frozenset[str]) -> dict[str, Any]:
    # The name is checked before the other members: another algorithm has other
    # parameters, and that makes the file unsupported rather than malformed.
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        raise KeyFileError(_Kind.MALFORMED)
    if value["name"] != expected_name:
        raise KeyFileError(_Kind.UNSUPPORTED)
    if set(value) != members:
        raise KeyFileError(_Kind.MALFORMED)
    return value


def _bytes_member(value: object, size: int | None) -> bytes:
    if not isinstance(value, str):
        raise KeyFileError(_Kind.MALFORMED)
    try:
        decoded = b64url_decode(value)
    except NonCanonicalBase64Error:
        raise KeyFileError(_Kind.MALFORMED) from None
    if size is not None and len(decoded) != size:
        raise KeyFileError(_Kind.MALFORMED)
    return decoded


def _parse_created(value: object) -> dt.datetime:
    if not isinstance(value, str) or not _CREATED.fullmatch(value):
        raise KeyFileError(_Kind.MALFORMED)
    try:
        return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        raise KeyFileError(_Kind.MALFORMED) from None
