"""Password hashing with Argon2id (memory-hard), parameters from argon2-cffi's RFC 9106 profile."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()

# A real hash of a random password: verifying against it when an e-mail is unknown
# costs the same time as a real check, so timing does not reveal which e-mails exist.
_DUMMY_HASH = _hasher.hash("not-a-real-password-7c1d0f")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when the password matches; spends the same work when there is no account."""
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)
