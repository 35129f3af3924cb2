"""Sealed contact records for Gastregister: the Python side of docs/FORMAT.md.

A small library with no knowledge of Flask or the database. Guests' browsers (or
the server, for guests without JavaScript) seal each contact record to the
responsible health office's public key; only the health office, holding the
private key in a passphrase-protected key file, can open it. Everything a caller
needs is re-exported here; the modules behind it are an implementation detail.
"""

from crypto.b64 import b64url_decode, b64url_encode
from crypto.envelope import (
    FORMAT_VERSION,
    HEADER_SIZE,
    MAX_ENVELOPE_BYTES,
    MAX_ENVELOPE_TEXT_LENGTH,
    MIN_ENVELOPE_BYTES,
    SUPPORTED_VERSIONS,
    EnvelopeHeader,
    decode_envelope,
    encode_envelope,
    inspect_envelope,
    open_contact_record,
    open_with_any_key,
    seal_contact_record,
)
from crypto.errors import (
    GuessablePassphraseError,
    KeyFileError,
    KeyFileErrorKind,
    KeyFormatError,
    RecordSchemaError,
    SealedRecordError,
    SealedRecordErrorKind,
    WeakPassphraseError,
)
from crypto.keyfile import (
    DEFAULT_ITERATIONS,
    MIN_ITERATIONS,
    MIN_PASSPHRASE_LENGTH,
    KeyFile,
    KeyFileMetadata,
    check_new_passphrase,
    read_key_file,
    read_key_file_metadata,
    write_key_file,
)
from crypto.keys import (
    KEY_ID_SIZE,
    format_fingerprint,
    format_short_fingerprint,
    generate_private_key,
    key_id,
    key_id_hex,
    load_public_spki,
    public_jwk,
    public_key_spki,
)
from crypto.passphrase import (
    PassphraseStrength,
    generate_passphrase,
    passphrase_strength,
)
from crypto.record import (
    BUCKETS,
    FIELD_LIMITS,
    MAX_ADDITIONAL_PERSONS,
    MAX_RECORD_JSON_BYTES,
    SOURCES,
    VisitBinding,
    normalise_contact_record,
)
from crypto.times import format_utc

__all__ = [
    "BUCKETS",
    "DEFAULT_ITERATIONS",
    "FIELD_LIMITS",
    "FORMAT_VERSION",
    "HEADER_SIZE",
    "KEY_ID_SIZE",
    "MAX_ADDITIONAL_PERSONS",
    "MAX_ENVELOPE_BYTES",
    "MAX_ENVELOPE_TEXT_LENGTH",
    "MAX_RECORD_JSON_BYTES",
    "MIN_ENVELOPE_BYTES",
    "MIN_ITERATIONS",
    "MIN_PASSPHRASE_LENGTH",
    "SOURCES",
    "SUPPORTED_VERSIONS",
    "EnvelopeHeader",
    "GuessablePassphraseError",
    "KeyFile",
    "KeyFileError",
    "KeyFileErrorKind",
    "KeyFileMetadata",
    "KeyFormatError",
    "PassphraseStrength",
    "RecordSchemaError",
    "SealedRecordError",
    "SealedRecordErrorKind",
    "VisitBinding",
    "WeakPassphraseError",
    "b64url_decode",
    "b64url_encode",
    "check_new_passphrase",
    "decode_envelope",
    "encode_envelope",
    "format_fingerprint",
    "format_short_fingerprint",
    "format_utc",
    "generate_passphrase",
    "generate_private_key",
    "inspect_envelope",
    "key_id",
    "key_id_hex",
    "load_public_spki",
    "normalise_contact_record",
    "open_contact_record",
    "open_with_any_key",
    "passphrase_strength",
    "public_jwk",
    "public_key_spki",
    "read_key_file",
    "read_key_file_metadata",
    "seal_contact_record",
    "write_key_file",
]
