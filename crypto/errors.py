"""Every error the crypto package raises, in one place.

Opening a sealed record fails in many distinct ways, and tests and logs need to tell
them apart; callers must not, because a detailed answer to an attacker ("the padding
was wrong") is an oracle and a detailed message may echo guest data. So there is one
type callers catch, :class:`SealedRecordError`, with a fixed message and a ``kind``
that is safe to log. The writer side is different: a record that does not fit the
schema is a programming or form error that must be fixed, so it names the field.
"""

from __future__ import annotations

import enum


class SealedRecordErrorKind(enum.StrEnum):
    """Why a sealed record could not be opened or inspected (docs/FORMAT.md, "Error kinds")."""

    MALFORMED = "malformed"
    UNKNOWN_VERSION = "unknown_version"
    WRONG_SUITE = "wrong_suite"
    WRONG_KEY = "wrong_key"
    BAD_LENGTH = "bad_length"
    DECRYPTION_FAILED = "decryption_failed"
    BAD_PADDING = "bad_padding"
    BAD_RECORD = "bad_record"


class SealedRecordError(Exception):
    """A sealed record could not be inspected or opened.

    The message is the same for every kind and never contains any part of the record,
    so the exception can be logged or reported as it is. ``kind`` tells tests and
    operators which rule rejected the envelope; it is not meant for guests.
    """

    MESSAGE = "The sealed contact record could not be opened."

    def __init__(self, kind: SealedRecordErrorKind) -> None:
        super().__init__(self.MESSAGE)
        self.kind = kind

    def __repr__(self) -> str:
        return f"SealedRecordError(kind={self.kind.value!r})"


class KeyFileErrorKind(enum.StrEnum):
    """Why a key file could not be read (docs/FORMAT.md, "Key file")."""

    MALFORMED = "malformed"
    UNSUPPORTED = "unsupported"
    WRONG_PASSPHRASE = "wrong_passphrase"  # noqa: S105 -- an error kind, not a password
    KEY_MISMATCH = "key_mismatch"


_KEY_FILE_MESSAGES = {
    KeyFileErrorKind.MALFORMED: "This is not a valid Gastregister key file.",
    KeyFileErrorKind.UNSUPPORTED: (
        "This key file uses a version or algorithm that is not supported."
    ),
    KeyFileErrorKind.WRONG_PASSPHRASE: "Wrong passphrase, or the key file has been altered.",
    KeyFileErrorKind.KEY_MISMATCH: "The private key in this key file does not match its key id.",
}


class KeyFileError(Exception):
    """A key file could not be read; ``kind`` says why, the message is fit for the CLI."""

    def __init__(self, kind: KeyFileErrorKind) -> None:
        super().__init__(_KEY_FILE_MESSAGES[kind])
        self.kind = kind

    def __repr__(self) -> str:
        return f"KeyFileError(kind={self.kind.value!r})"


class KeyFormatError(ValueError):
    """Bytes that should be a P-256 public key in canonical DER SPKI form are not."""


class WeakPassphraseError(ValueError):
    """A key file passphrase is shorter than the format allows writers to accept."""


class GuessablePassphraseError(WeakPassphraseError):
    """A chosen key file passphrase is long enough but too easy to guess (zxcvbn)."""


class RecordSchemaError(ValueError):
    """A contact record does not fit the record schema; raised before anything is sealed.

    ``field`` is a path such as ``additionalPersons[2].email`` ("" for the record as a
    whole) and ``reason`` a stable code (``too_long``, ``not_a_string``, ...). The
    offending value is deliberately left out: it is guest data.
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field or '<record>'}: {reason}")
        self.field = field
        self.reason = reason
