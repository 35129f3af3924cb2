"""The one rule for every name a person types: business, location, area, office, user.

Such a name is shown on pages, printed on posters, written into exports and mails, so
it must read the same everywhere and be unable to rearrange the text around it:

- NFC, so "é" typed two ways is one name (and one duplicate check);
- line breaks, tabs and Unicode spaces become one space; both ends are trimmed;
- bidirectional controls (U+202A..U+202E, U+2066..U+2069, U+200E, U+200F, U+061C) are
  removed: a right-to-left override in a business name would otherwise reverse the
  words after it in every sentence that names the business;
- other invisible format characters (zero-width space, word joiner, soft hyphen, BOM)
  are removed too, except ZWJ and ZWNJ and the emoji tag characters: emoji sequences
  (👨‍👩‍👧) and Persian and Indic spellings need them; variation selectors are marks
  and stay;
- other control characters (NUL and the rest of C0/C1, lone surrogates) are refused
  with a clear message, since they are never part of a name and would only hide
  something;
- the length is bounded as a person counts it (a family emoji is one character, see
  `grapheme_count`) and by the database column, which counts code points.

`clean_name` is the rule for services; `typed_name` applies it in a form.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms.validators import ValidationError

BIDI_CONTROLS = frozenset(
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
)
ZWJ = "\u200d"
ZWNJ = "\u200c"
# The lengths of the columns the names are stored in (models.py; a test holds them equal).
BUSINESS_NAME_LENGTH = 120
LOCATION_NAME_LENGTH = 120
AREA_NAME_LENGTH = 120
OFFICE_NAME_LENGTH = 200
DISPLAY_NAME_LENGTH = 100

_TAGS = range(0xE0020, 0xE0080)  # subdivision flags (🏴 + tags), e.g. Scotland
_SKIN_TONES = range(0x1F3FB, 0x1F400)
_REGIONAL_INDICATORS = range(0x1F1E6, 0x1F200)


class NameRefusedError(ValueError):
    """A typed name that cannot be stored; the message says why, for the person."""

    def __init__(self, message: Any) -> None:
        super().__init__(str(message))
        self.message = message


def graphemes(text: str) -> list[str]:
    """The text in characters as a person counts them: a letter with its marks, an emoji
    sequence, a flag. An approximation of Unicode's extended grapheme clusters (UAX #29)
    that is exact for combining marks, ZWJ sequences, skin tones, tags and flags."""
    clusters: list[str] = []
    joined = False
    open_flag = False
    for char in text:
        code = ord(char)
        extends = (
            joined
            or char in (ZWJ, ZWNJ)
            or unicodedata.category(char) in ("Mn", "Mc", "Me")
            or code in _SKIN_TONES
            or code in _TAGS
            or (code in _REGIONAL_INDICATORS and open_flag)
        )
        open_flag = code in _REGIONAL_INDICATORS and not (extends and open_flag)
        joined = char == ZWJ
        if extends and clusters:
            clusters[-1] += char
        else:
            clusters.append(char)
    return clusters


def grapheme_count(text: str) -> int:
    """How many characters a person counts in the text (see `graphemes`)."""
    return len(graphemes(text))


def clean_name(text: str, *, max_length: int) -> str:
    """The name as it is stored and shown; NameRefusedError when it cannot be.

    `max_length` is the database column's length: a name may have that many
    characters as a person counts them and that many code points as the column does.
    An empty result is returned as such; whether a name is required is the caller's.
    """
    kept: list[str] = []
    for char in unicodedata.normalize("NFC", text):
        category = unicodedata.category(char)
        if char in "\t\n\r" or category.startswith("Z"):
            kept.append(" ")
        elif category in ("Cc", "Cs"):
            raise NameRefusedError(_l("Please remove invisible control characters."))
        elif char in BIDI_CONTROLS:
            continue  # so the name can never reorder the text around it
        elif category == "Cf" and not (char in (ZWJ, ZWNJ) or ord(char) in _TAGS):
            continue  # other invisible format characters: zero-width space, BOM, …
        else:
            kept.append(char)
    name = " ".join("".join(kept).split())
    if grapheme_count(name) > max_length:
        raise NameRefusedError(_l("At most %(max)d characters.", max=max_length))
    if len(name) > max_length:
        raise NameRefusedError(
            _l(
                "This name is too long to store: emoji and some letters count as several "
                "characters. At most %(max)d plain letters.",
                max=max_length,
            )
        )
    return name


def typed_name(max_length: int, required_message: Any = None) -> Any:
    """A WTForms validator: cleans the field's text by `clean_name`, in place.

    With `required_message`, a name that cleans to nothing (only spaces or invisible
    characters) is refused like an empty field.
    """

    def validate(_form: Any, field: Any) -> None:
        try:
            field.data = clean_name(field.data or "", max_length=max_length)
        except NameRefusedError as error:
            raise ValidationError(error.message) from None
        if required_message is not None and not field.data:
            raise ValidationError(required_message)

    return validate
