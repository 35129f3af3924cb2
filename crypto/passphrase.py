"""Passphrases for key files: proposed from a German word list, or checked for strength.

A key file is only as strong as its passphrase: PBKDF2 with 600,000 iterations slows
each guess, but a passphrase from a short list of likely ones (``Passwort1234``) falls
in seconds. So the writers propose a passphrase of six words drawn with ``secrets``
from a 7,776-word German list (about 77 bits), and a passphrase a person chooses must
pass the zxcvbn strength estimator: at least 10^14 estimated guesses, which at the
speed of a current GPU against PBKDF2-SHA-256 (600,000 iterations) is well over a
century of guessing.

The browser applies the same rule with the npm build of zxcvbn; the parameters below
reach the key page as page data (:func:`client_rules`), and the node tests hold the
browser to verdicts this module computed (tests/js/fixtures/passphrase-cases.json).
zxcvbn knows English words only; the German list and a few words of this service are
given to it as "user inputs", so that words from the list count as dictionary words.
"""

from __future__ import annotations

import functools
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WORDLIST_PATH = Path(__file__).resolve().parent / "wordlists" / "de-7776.txt"
GENERATED_WORDS = 6
WORD_SEPARATOR = "-"
MIN_LENGTH = 12  # docs/FORMAT.md §4.2: what writers must refuse in any case
MIN_GUESSES_LOG10 = 14
# zxcvbn's run time grows with the length; the Python port refuses more than 72
# characters. Both sides judge the first 72 code points (a longer passphrase is at
# least as strong as its beginning).
MAX_CHECKED_LENGTH = 72
CONTEXT_WORDS = (
    "gastregister",
    "gesundheitsamt",
    "gesundheit",
    "passwort",
    "kennwort",
    "passphrase",
    "schluessel",
    "schlüssel",
    "schlüsseldatei",
    "geheim",
)


@functools.cache
def german_words() -> tuple[str, ...]:
    """The 7,776 words of the list, in the list's order."""
    lines = WORDLIST_PATH.read_text(encoding="utf-8").splitlines()
    return tuple(line.split()[1] for line in lines if line.strip())


@dataclass(frozen=True)
class PassphraseStrength:
    """zxcvbn's estimate for a passphrase and the verdict the writers act on."""

    length: int  # code points after NFC
    guesses_log10: float
    score: int

    @property
    def long_enough(self) -> bool:
        return self.length >= MIN_LENGTH

    @property
    def acceptable(self) -> bool:
        return self.long_enough and self.guesses_log10 >= MIN_GUESSES_LOG10


def passphrase_strength(passphrase: str) -> PassphraseStrength:
    """Estimate how many guesses ``passphrase`` takes (after NFC, first 72 code points)."""
    text = unicodedata.normalize("NFC", passphrase)
    if not text:  # zxcvbn's Python port fails on the empty string
        return PassphraseStrength(length=0, guesses_log10=0.0, score=0)
    # Imported here: its word lists cost every process that imports crypto (each web
    # worker) some 13 MiB and 60 ms, and only the writers of new key files need them.
    from zxcvbn import zxcvbn

    result = zxcvbn(text[:MAX_CHECKED_LENGTH], user_inputs=[*CONTEXT_WORDS, *german_words()])
    return PassphraseStrength(
        length=len(text),
        guesses_log10=float(result["guesses_log10"]),
        score=int(result["score"]),
    )


def generate_passphrase(words: int = GENERATED_WORDS) -> str:
    """Six words from the German list, drawn with ``secrets``, joined by hyphens.

    A draw that the estimator would refuse (vanishingly rare: all six words among the
    first few of the list) is drawn again, so a proposal always passes the check.
    """
    if words < GENERATED_WORDS:
        raise ValueError(f"a generated passphrase has at least {GENERATED_WORDS} words")
    choices = german_words()
    while True:
        passphrase = WORD_SEPARATOR.join(secrets.choice(choices) for _ in range(words))
        if passphrase_strength(passphrase).acceptable:
            return passphrase


def client_rules() -> dict[str, Any]:
    """What the key page's module needs to propose and judge passphrases like this module."""
    return {
        "minLength": MIN_LENGTH,
        "minGuessesLog10": MIN_GUESSES_LOG10,
        "maxCheckedLength": MAX_CHECKED_LENGTH,
        "contextWords": list(CONTEXT_WORDS),
        "generatedWords": GENERATED_WORDS,
        "separator": WORD_SEPARATOR,
        "words": list(german_words()),
    }
