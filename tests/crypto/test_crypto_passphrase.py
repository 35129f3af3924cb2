"""Proposed passphrases and the strength check a person's own passphrase must pass."""

from __future__ import annotations

import hashlib
import math
import subprocess
import sys
import unicodedata

import pytest

import crypto
from crypto import passphrase as passphrases


def test_the_word_list_is_the_documented_file() -> None:
    data = passphrases.WORDLIST_PATH.read_bytes()
    assert (
        hashlib.sha256(data).hexdigest()
        == "a4a33aa6a9fd93f3d35a8a12c5899308ce4cc8c92cab76556a411ca97b232537"
    )
    words = passphrases.german_words()
    assert len(words) == len(set(words)) == 7776
    assert all(word.isascii() and word.isalpha() and word.islower() for word in words)


def test_a_proposed_passphrase_has_six_words_from_the_list_and_passes_the_check() -> None:
    seen = set()
    for _ in range(20):
        proposal = crypto.generate_passphrase()
        words = proposal.split("-")
        assert len(words) == 6 and set(words) <= set(passphrases.german_words())
        crypto.check_new_passphrase(proposal)
        seen.add(proposal)
    assert len(seen) == 20
    assert 6 * math.log2(7776) > 77


def test_fewer_than_six_words_are_not_proposed() -> None:
    with pytest.raises(ValueError, match="at least 6"):
        crypto.generate_passphrase(5)


@pytest.mark.parametrize(
    "weak",
    [
        "aaaaaaaaaaaa",
        "Passwort1234",
        "passwort1234",
        "Gesundheitsamt Jena 2026",
        "gesundheitsamt2024",
        "Sommer2026!Sommer2026!",
        "qwertzuiopü123456",
        "1234567890123",
        "p@ssw0rdp@ssw0rd",
        "abend-zyste-abgas",  # three words of the list: about 39 bits
    ],
)
def test_weak_passphrases_are_refused(weak: str) -> None:
    with pytest.raises(crypto.WeakPassphraseError, match="guess"):
        crypto.check_new_passphrase(weak)


@pytest.mark.parametrize(
    "strong",
    [
        "Korrekt Pferd Batterie Heftklammer",
        "Alter Schluessel, eigene Passphrase",
        "Grüße aus Jena, Äpfel über Öl",
        "abend-zyste-abgas-dachs-kanne-ufer",
    ],
)
def test_strong_passphrases_pass(strong: str) -> None:
    crypto.check_new_passphrase(strong)


def test_too_short_is_reported_as_such_after_nfc() -> None:
    with pytest.raises(crypto.WeakPassphraseError, match="12 characters"):
        crypto.check_new_passphrase("Xq7#vR2!pL9")
    decomposed = unicodedata.normalize("NFD", "äöüÄÖÜ")
    with pytest.raises(crypto.WeakPassphraseError, match="12 characters"):
        crypto.check_new_passphrase(decomposed)


def test_only_the_first_72_characters_are_judged() -> None:
    strong = "abend-zyste-abgas-dachs-kanne-ufer"
    assert crypto.passphrase_strength(strong + "x" * 200).guesses_log10 > 14
    assert not crypto.passphrase_strength("a" * 72 + strong).acceptable


def test_the_estimator_is_loaded_only_when_a_passphrase_is_judged() -> None:
    """Its word lists would cost every web worker memory for nothing."""
    code = "import sys, crypto; assert 'zxcvbn' not in sys.modules, 'zxcvbn imported'"
    completed = subprocess.run(  # same interpreter, fixed arguments
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stderr
