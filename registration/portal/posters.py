"""Printable posters and table cards with an area's QR code (PDF), and the bare QR (SVG, PNG).

Everything an owner typed (business, location and area names) is cleaned before it
reaches the page: control and formatting characters are dropped, emoji the embedded
font cannot draw are printed by name, other characters it cannot draw are left out (an
area left with no name prints its number), and names that are too long shrink and wrap
into a fixed box, so no name can push the QR code off the page or inject anything.
The QR code is embedded as a lossless image with whole pixels per module, so it stays
sharp in print and can be read back by a decoder in tests.

The printed texts are German with a second language below each line (English unless
the owner picks another guest language), whatever language the owner's portal is set
to: one poster serves every guest. They come from the catalogs like any page's text;
Arabic is shaped (HarfBuzz, uharfbuzz) and set right to left.
"""

from __future__ import annotations

import functools
import io
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import cast

import qrcode
import qrcode.constants
import qrcode.image.svg
from flask_babel import force_locale
from flask_babel import gettext as _
from fpdf import FPDF

import crypto
from registration.config import Settings
from registration.i18n import DEFAULT_LANGUAGE, GUEST_LANGUAGES
from registration.models import Area, Location
from registration.names import graphemes

FONT_DIR = Path(__file__).resolve().parent / "fonts"
FONT_FAMILY = "DejaVu"
QR_BOX_PIXELS = 16
QR_BORDER_MODULES = 4
ELLIPSIS = "…"

# Languages a poster's second line may be in: every guest language but German.
SECOND_LANGUAGES = tuple(code for code in GUEST_LANGUAGES if code != DEFAULT_LANGUAGE)
DEFAULT_SECOND_LANGUAGE = "en"


@dataclass(frozen=True)
class PosterTexts:
    """The fixed texts of a poster in one language."""

    headline: str
    instructions: str
    no_phone: str
    privacy: str
    key_fingerprint: str


def poster_texts(language: str, retention_days: int, fingerprint: str) -> PosterTexts:
    """The poster's texts in `language`, from the catalogs (needs an app context)."""
    with force_locale(language):
        return PosterTexts(
            headline=_("Please check in here"),
            instructions=_("Scan the QR code with your phone camera and fill in the short form."),
            no_phone=_("No smartphone? Please ask our staff."),
            privacy=_(
                "Your contact details are encrypted for the health office, read only by it"
                " on request, and deleted after %(days)s days.",
                days=retention_days,
            ),
            key_fingerprint=_("Health office key: %(fingerprint)s", fingerprint=fingerprint),
        )


# For an area whose name has nothing printable (e.g. an emoji the font and Unicode's
# names do not know): its position, as the portal lists the areas.
AREA_FALLBACK = "Bereich {number} · Area {number}"
# The entrance sign (rotating mode) keeps German and English side by side.
NO_PHONE = "Ohne Smartphone? Fragen Sie unser Personal. · No smartphone? Please ask our staff."
PRIVACY = (
    "Ihre Kontaktdaten werden auf Ihrem Gerät für das Gesundheitsamt verschlüsselt, nur von "
    "ihm auf Anfrage gelesen und nach {days} Tagen gelöscht. · Your contact details are "
    "encrypted on your device for the health office, read only by it on request, and "
    "deleted after {days} days."
)


@dataclass(frozen=True)
class PosterFormat:
    """Page size and type scale of one poster kind (all lengths in millimetres)."""

    name: str
    page: str | tuple[float, float]
    margin: float
    qr_size: float
    title_size: float
    area_size: float
    body_size: float
    small_size: float


A4 = PosterFormat("a4", "A4", 15, 125, 30, 40, 13, 9.5)
A6 = PosterFormat("a6", (105, 148), 7, 66, 14, 19, 7, 5.5)
FORMATS = {f.name: f for f in (A4, A6)}


def checkin_url(settings: Settings, area: Area) -> str:
    """The address in an area's QR code; the code in it can only create check-ins."""
    return settings.public_base_url.rstrip("/") + "/c/" + area.code


@functools.cache
def _font_characters() -> frozenset[int]:
    """Code points the embedded regular and bold fonts can both draw."""
    probe = FPDF()
    probe.add_font(FONT_FAMILY, "", str(FONT_DIR / "DejaVuSans.ttf"))
    probe.add_font(FONT_FAMILY, "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
    regular = set(getattr(probe.fonts["dejavu"], "cmap", {}))
    bold = set(getattr(probe.fonts["dejavuB"], "cmap", {}))
    for font in probe.fonts.values():
        getattr(font, "close", lambda: None)()  # fpdf2 closes font files only in output()
    return frozenset(regular & bold)


def printable(text: str, *, limit: int = 300) -> str:
    """Owner-typed text made safe for the page: one line, drawable characters only.

    The embedded font has no colour emoji and fpdf2 does not shape ZWJ sequences, so an
    emoji the font cannot draw, and every emoji sequence (👨‍👩‍👧, 👍🏽, flags), is
    printed as its Unicode name in brackets ("(Sunflower)", "(Man Woman Girl)"):
    readable, and never silently dropped or broken into a different picture.
    """
    drawable = _font_characters()
    cleaned = []
    for cluster in graphemes(unicodedata.normalize("NFC", text[: limit * 2])):
        base = cluster[0]
        category = unicodedata.category(base)
        if category.startswith("Z") or base in "\t\r\n":
            cleaned.append(" ")
        elif _is_emoji_sequence(cluster) or (category == "So" and ord(base) not in drawable):
            cleaned.append(_described(cluster))
        elif category[0] == "C":
            continue  # control, format (incl. bidi overrides), surrogate, private, unassigned
        else:
            cleaned.append("".join(char for char in cluster if ord(char) in drawable))
    return " ".join("".join(cleaned).split())[:limit]


def printable_name(name: str, *, fallback: str) -> str:
    """A typed name for the page, or `fallback` if nothing of it can be printed."""
    return printable(name) or fallback


def _is_emoji_sequence(cluster: str) -> bool:
    return len(cluster) > 1 and any(
        char == "\u200d" or 0x1F1E6 <= ord(char) <= 0x1F3FF or 0xE0020 <= ord(char) <= 0xE007F
        for char in cluster
    )


def _described(cluster: str) -> str:
    """An emoji sequence in words: the names of its pictures, a flag by its letters."""
    letters = [chr(ord(c) - 0x1F1E6 + ord("A")) for c in cluster if 0x1F1E6 <= ord(c) <= 0x1F1FF]
    if len(letters) == 2:
        return f" (Flag {''.join(letters)}) "
    words = [
        unicodedata.name(char, "").title()
        for char in cluster
        if unicodedata.category(char) == "So" and not 0x1F3FB <= ord(char) <= 0x1F3FF
    ]
    words = [word for word in words if word]
    return f" ({' '.join(words)}) " if words else ""


def qr_code(url: str) -> qrcode.QRCode:  # type: ignore[type-arg]  # generic in stubs only
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        box_size=QR_BOX_PIXELS,
        border=QR_BORDER_MODULES,
    )
    code.add_data(url)
    code.make(fit=True)
    return code


def qr_png(url: str) -> bytes:
    image = qr_code(url).make_image()
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def qr_svg(url: str) -> bytes:
    image = qr_code(url).make_image(image_factory=qrcode.image.svg.SvgPathFillImage)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue()


class _Poster(FPDF):
    def __init__(self, poster_format: PosterFormat) -> None:
        super().__init__(orientation="portrait", unit="mm", format=poster_format.page)
        self.add_font(FONT_FAMILY, "", str(FONT_DIR / "DejaVuSans.ttf"))
        self.add_font(FONT_FAMILY, "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
        # Arabic letters join and the line runs right to left only with a shaping engine.
        self.set_text_shaping(use_shaping_engine=True)
        self.set_auto_page_break(auto=False)
        self.set_margins(poster_format.margin, poster_format.margin, poster_format.margin)
        self.set_creator("Gastregister")
        self.set_text_color(20, 20, 20)

    def fitted(
        self,
        text: str,
        *,
        size: float,
        style: str = "",
        max_lines: int = 2,
        min_size: float = 6,
        gap: float = 1.5,
    ) -> None:
        """Write centred text in at most `max_lines` lines, shrinking it first, then cutting."""
        if not text:
            return
        width = self.w - self.l_margin - self.r_margin
        current = size
        while True:
            self.set_font(FONT_FAMILY, style, current)
            lines: list[str] = cast(
                "list[str]",
                self.multi_cell(w=width, h=current * 0.45, text=text, dry_run=True, output="LINES"),
            )
            if len(lines) <= max_lines or current <= min_size:
                break
            current = max(min_size, current * 0.85)
        if len(lines) > max_lines:
            lines = [*lines[: max_lines - 1], self._cut(lines[max_lines - 1], width)]
        self.set_x(self.l_margin)
        self.multi_cell(w=width, h=current * 0.45, text="\n".join(lines), align="C")
        self.ln(gap)

    def _cut(self, line: str, width: float) -> str:
        while line and self.get_string_width(line + ELLIPSIS) > width:
            line = line[:-1]
        return line.rstrip() + ELLIPSIS


def _draw_area_page(
    pdf: _Poster,
    poster_format: PosterFormat,
    location: Location,
    area: Area,
    settings: Settings,
    texts: Sequence[PosterTexts],
) -> None:
    """One page; `texts` are German and the second language, each line in both."""
    f = poster_format
    pdf.add_page()
    pdf.set_y(f.margin)
    pdf.fitted(printable(location.business.name), size=f.title_size, style="B", max_lines=2)
    pdf.fitted(printable(location.name), size=f.body_size * 1.2, max_lines=1)
    area_name = printable_name(area.name, fallback=AREA_FALLBACK.format(number=area.sort_key))
    pdf.fitted(area_name, size=f.area_size, style="B", max_lines=2)
    for version in texts:
        pdf.fitted(version.headline, size=f.body_size * 1.15, style="B", max_lines=1, gap=0.5)

    url = checkin_url(settings, area)
    qr_top = max(pdf.get_y() + 1, f.margin)
    footer_space = f.body_size * 3.6 + f.small_size * 4.4
    qr_size = min(f.qr_size, pdf.h - f.margin - footer_space - qr_top)
    pdf.image(io.BytesIO(qr_png(url)), x=(pdf.w - qr_size) / 2, y=qr_top, w=qr_size, h=qr_size)
    pdf.set_y(qr_top + qr_size + 1)
    pdf.fitted(url, size=f.body_size, max_lines=2, min_size=f.small_size)
    for version in texts:
        pdf.fitted(version.instructions, size=f.body_size, max_lines=2, gap=0.5)
    pdf.ln(1)
    for version in texts:
        pdf.fitted(version.no_phone, size=f.small_size, max_lines=1, min_size=4, gap=0.5)
    for version in texts:
        pdf.fitted(version.privacy, size=f.small_size, max_lines=2, min_size=4, gap=0.5)
    for version in texts:
        if version.key_fingerprint:
            pdf.fitted(version.key_fingerprint, size=f.small_size, max_lines=1, min_size=4, gap=0.5)


def poster_pdf(
    settings: Settings,
    location: Location,
    areas: Sequence[Area] | Iterable[Area],
    poster_format: PosterFormat = A4,
    *,
    sealing_key_id: str | None = None,
    second_language: str = DEFAULT_SECOND_LANGUAGE,
) -> bytes:
    """One page per area: for a single area's poster or all areas of a location at once.

    ``sealing_key_id`` (hex) is the key guests seal to; its short fingerprint is printed
    so that an owner or a guest can compare it with the guest page and the health office.
    Every text is printed in German and below it in ``second_language``.
    """
    key_fingerprint = (
        crypto.format_short_fingerprint(bytes.fromhex(sealing_key_id)) if sealing_key_id else ""
    )
    if second_language not in SECOND_LANGUAGES:
        second_language = DEFAULT_SECOND_LANGUAGE
    texts = [
        poster_texts(language, settings.retention_days, key_fingerprint)
        for language in (DEFAULT_LANGUAGE, second_language)
    ]
    if not key_fingerprint:
        texts = [replace(version, key_fingerprint="") for version in texts]
    pdf = _Poster(poster_format)
    pdf.set_title(printable(f"{location.name} - QR", limit=120))
    for area in areas:
        _draw_area_page(pdf, poster_format, location, area, settings, texts)
    if pdf.page == 0:
        pdf.add_page()
    return bytes(pdf.output())


ENTRANCE_SIGN_HEADLINE = "Bitte am Bildschirm einchecken · Please check in at the screen"
ENTRANCE_SIGN_STEPS = (
    "Scannen Sie den QR-Code auf dem Bildschirm am Eingang mit der Handykamera und füllen "
    "Sie das kurze Formular aus. Der Code wechselt alle 30 Sekunden; ein Foto davon "
    "funktioniert später nicht mehr.",
    "Scan the QR code on the screen at the entrance with your phone camera and fill in the "
    "short form. The code changes every 30 seconds; a photo of it stops working soon after.",
)


def entrance_sign_pdf(settings: Settings, location: Location) -> bytes:
    """An A4 sign for a location in rotating mode: it points guests to the entrance screen.

    It carries no QR code on purpose: a printed code would work without the screen, which
    is exactly what rotating mode prevents (a photo posted online, the zoo incident).
    """
    f = A4
    pdf = _Poster(f)
    pdf.set_title(printable(f"{location.name} - Eingang / Entrance", limit=120))
    pdf.add_page()
    pdf.set_y(f.margin + 10)
    pdf.fitted(printable(location.business.name), size=f.title_size, style="B", max_lines=2)
    pdf.fitted(printable(location.name), size=f.body_size * 1.4, max_lines=2)
    pdf.ln(12)
    pdf.fitted(ENTRANCE_SIGN_HEADLINE, size=f.area_size * 0.9, style="B", max_lines=3, gap=10)
    for line in ENTRANCE_SIGN_STEPS:
        pdf.fitted(line, size=f.body_size * 1.3, max_lines=5, gap=6)
    pdf.ln(10)
    pdf.fitted(NO_PHONE, size=f.body_size, max_lines=2, gap=4)
    pdf.fitted(
        PRIVACY.format(days=settings.retention_days), size=f.small_size, max_lines=4, min_size=4
    )
    return bytes(pdf.output())
