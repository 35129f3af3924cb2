"""Canonical unpadded base64url (crypto/b64.py): exactly one text per byte string.

The texts the browser's decodeBase64url is tested with too (tests/crypto/b64_cases.py)
and a few more, and, for any text at all, the same answer as the rule written out
plainly: the URL-safe alphabet only, no padding, a length that is not 1 modulo 4, and
zero unused bits in the last character.
"""

from __future__ import annotations

import base64
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import b64url_decode, b64url_encode
from crypto.b64 import NonCanonicalBase64Error
from tests.crypto import b64_cases

pytestmark = pytest.mark.engine_independent("text encoding only: no database is involved")

_URLSAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _canonical_or_none(text: str) -> bytes | None:
    """The rule, spelled out: what a canonical text decodes to, or None."""
    if not re.fullmatch("[A-Za-z0-9_-]*", text) or len(text) % 4 == 1:
        return None
    if len(text) % 4:
        unused = 0x0F if len(text) % 4 == 2 else 0x03
        if _URLSAFE.index(text[-1]) & unused:
            return None
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.mark.parametrize(("text", "expected"), b64_cases.CANONICAL)
def test_canonical_text_decodes(text: str, expected: bytes) -> None:
    assert b64url_decode(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        *b64_cases.NON_CANONICAL,
        "=AA",  # padding first
        "\tZm9v",
        "Zm9+",  # standard alphabet, not URL-safe
        "Zm9/",
        "Zm9v\x00",
        "Zm9v\ud800",  # a lone surrogate
        "\uff3a\uff4d\uff19\uff56",  # full-width letters and a digit
    ],
)
def test_non_canonical_text_is_refused(text: str) -> None:
    with pytest.raises(NonCanonicalBase64Error):
        b64url_decode(text)


@pytest.mark.parametrize("value", [b"AAAA", None, 42, ["AAAA"]])
def test_only_text_is_decoded(value: object) -> None:
    with pytest.raises(NonCanonicalBase64Error):
        b64url_decode(value)  # type: ignore[arg-type]


@settings(max_examples=300)
@given(data=st.binary(max_size=200))
def test_every_byte_string_round_trips(data: bytes) -> None:
    assert b64url_decode(b64url_encode(data)) == data


@settings(max_examples=1000)
@given(text=st.text(alphabet=_URLSAFE + "+/=\n \t\x00é\ud800", max_size=24))
def test_any_text_gets_the_answer_of_the_rule(text: str) -> None:
    expected = _canonical_or_none(text)
    if expected is None:
        with pytest.raises(NonCanonicalBase64Error):
            b64url_decode(text)
    else:
        assert b64url_decode(text) == expected
