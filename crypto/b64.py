"""Canonical base64url without padding (RFC 4648 section 5), the only text encoding used.

The standard library decoder is lenient: it skips characters outside the alphabet
and ignores non-zero trailing bits, so several texts decode to the same bytes. A
format whose texts are compared, logged or de-duplicated needs exactly one text per
byte string, which this module enforces.
"""

from __future__ import annotations

import base64
import binascii
import re

_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")
_URLSAFE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_VALUE = {character: value for value, character in enumerate(_URLSAFE_ALPHABET)}
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")


class NonCanonicalBase64Error(ValueError):
    """The text is not the canonical unpadded base64url encoding of any byte string."""


def b64url_encode(data: bytes) -> str:
    """Encode ``data`` as base64url without ``=`` padding.

    binascii directly, as base64.urlsafe_b64encode does underneath: an export package
    encodes every envelope, and the two wrapper calls per envelope were a tenth of it.
    """
    return binascii.b2a_base64(data, newline=False).translate(_TO_URLSAFE).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    """Decode canonical unpadded base64url; anything else raises NonCanonicalBase64Error.

    Rejected: padding, whitespace, characters outside the URL-safe alphabet, a length
    of 1 modulo 4, and non-zero unused bits in the last character.
    """
    if not isinstance(text, str) or not _ALPHABET.fullmatch(text):
        raise NonCanonicalBase64Error("not base64url text")
    remainder = len(text) % 4
    if remainder == 1:
        raise NonCanonicalBase64Error("impossible length")
    if remainder:
        # 2 characters carry 8 bits (4 unused), 3 characters carry 16 bits (2 unused).
        unused_mask = 0x0F if remainder == 2 else 0x03
        if _VALUE[text[-1]] & unused_mask:
            raise NonCanonicalBase64Error("non-zero trailing bits")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
