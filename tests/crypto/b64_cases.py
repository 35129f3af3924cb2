"""Texts both base64url decoders (crypto/b64.py and static/js/b64url.js) must agree on:
the canonical ones with their bytes, and the non-canonical ones, each refused for a reason."""

from __future__ import annotations

CANONICAL = [
    ("", b""),
    ("AA", b"\x00"),
    ("AAE", b"\x00\x01"),
    ("_-8", b"\xff\xef"),
    ("Zm9vYmFy", b"foobar"),
]

NON_CANONICAL = [
    "AA==",  # padding
    "AA=",
    "Zm9v YmFy",  # whitespace
    "Zm9v\nYmFy",
    "Zm9vYmFy\n",
    "+/8",  # standard alphabet, not URL-safe
    "A",  # impossible length
    "AAAAA",
    "AB",  # non-zero unused bits (2 characters carry 8 bits)
    "AAF",  # non-zero unused bits (3 characters carry 16 bits)
    "Zm9vYmFyé",
]
