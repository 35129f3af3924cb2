"""The printable paper guest list (A4 landscape) for guests without a phone.

Staff lay it out at the till; guests write one row per person with the same fields as
the guest form; staff later type the rows in with the staff entry, which seals them
in the browser, and then destroy the sheet. The privacy facts (DSGVO Art. 13) that
the guest page shows are printed below the rows, because a guest on paper must get
them before writing too.

Like the posters, the sheet is German and English side by side, and everything an
owner typed goes through `posters.printable`.
"""

from __future__ import annotations

from dataclasses import dataclass

from fpdf import FPDF

from registration.config import Settings
from registration.models import Area, Location
from registration.portal.posters import FONT_DIR, FONT_FAMILY, printable

MARGIN = 10.0
ROW_HEIGHT = 9.5
HEADER_HEIGHT = 11.0
MIN_ROWS = 4
MAX_ROWS = 12
RULE_SPACE = 6.0  # the contact rule under the rows

TITLE = "Gästeliste · Guest list"
DATE_FIELD = "Datum · Date:"
AREA_FIELD = "Bereich/Tisch · Area/table:"
ONE_ROW_EACH = (
    "Bitte jede Person in eine eigene Zeile, gut lesbar in Druckschrift. · "
    "Please one row per person, clearly in block letters."
)
CONTACT_RULES = {
    "phone_or_email": "Telefon oder E-Mail (mindestens eins) · Phone or e-mail (at least one)",
    "phone": "Telefon ist Pflicht · A phone number is required",
    "email": "E-Mail ist Pflicht · An e-mail address is required",
    "both": "Telefon und E-Mail sind Pflicht · Phone and e-mail are required",
}
STAFF_NOTE = (
    "Für das Personal: die Zeilen mit der Personaleingabe in Gastregister eintippen, "
    "danach dieses Blatt vernichten. · For staff: type the rows in with Gastregister's "
    "staff entry, then destroy this sheet."
)


@dataclass(frozen=True)
class Column:
    """One column of the list: its bilingual heading and its width in millimetres."""

    heading: str
    width: float


# The guest form's fields (checkin.contact_form.labels), plus the times of the visit.
COLUMNS = (
    Column("Kommen · Arrival (Uhrzeit · time)", 21),
    Column("Gehen · Departure (Uhrzeit · time)", 21),
    Column("Vorname · First name", 30),
    Column("Nachname · Last name", 32),
    Column("Straße und Hausnummer · Street and house number", 50),
    Column("Postleitzahl · Postal code", 22),
    Column("Ort · City", 30),
    Column("Telefon · Phone", 32),
    Column("E-Mail · E-mail", 39),
)


def privacy_paragraphs(
    settings: Settings, location: Location, office_name: str
) -> list[tuple[str, str]]:
    """The Art. 13 facts of the guest page, as (heading, text) pairs in both languages."""
    controller = settings.privacy_controller or ", ".join(
        part
        for part in (
            location.business.name,
            f"{location.street} {location.house_number}".strip(),
            f"{location.zip_code} {location.city}".strip(),
        )
        if part
    )
    notice = [part.strip() for part in settings.privacy_notice.split("\n\n") if part.strip()]
    if notice:
        return [
            ("Datenschutz (Art. 13 DSGVO) · Privacy (Art. 13 GDPR)", ""),
            ("Verantwortlich · Controller:", controller),
            *(("", paragraph) for paragraph in notice),
        ]
    recipient = office_name or "das zuständige Gesundheitsamt · the responsible health office"
    days = settings.retention_days
    return [
        ("Datenschutz (Art. 13 DSGVO) · Privacy (Art. 13 GDPR)", ""),
        ("Verantwortlich · Controller:", controller),
        (
            "Zweck und Rechtsgrundlage · Purpose and legal basis:",
            "Erfassung der Gäste zur Kontaktnachverfolgung nach § 28a Abs. 4 IfSG und der "
            "Landesverordnung, Art. 6 Abs. 1 lit. c DSGVO; die Angaben sind für den Besuch "
            "erforderlich. · Recording of guests for contact tracing under § 28a (4) IfSG "
            "and the state's ordinance, Art. 6 (1) (c) GDPR; giving these details is "
            "required to visit.",
        ),
        (
            "Empfänger · Recipient:",
            f"{recipient}, nur auf dessen Anfrage in einem bestimmten Infektionsfall. Die "
            "Angaben werden beim Eintippen für das Gesundheitsamt verschlüsselt. · only on "
            "its request for a specific infection case. The details are encrypted for the "
            "health office when they are typed in.",
        ),
        (
            "Speicherdauer · Storage period:",
            f"{days} Tage nach Ihrem Besuch, dann automatisch gelöscht. · {days} days after "
            "your visit, then deleted automatically.",
        ),
        (
            "Ihre Rechte · Your rights:",
            "Auskunft, Berichtigung, Löschung, Einschränkung (Art. 15\u201318 DSGVO), Beschwerde "
            "bei einer Datenschutz-Aufsichtsbehörde (Art. 77 DSGVO). · Access, "
            "rectification, erasure, restriction (Art. 15\u201318 GDPR), complaint to a data "
            "protection supervisory authority (Art. 77 GDPR).",
        ),
    ]


class _Sheet(FPDF):
    def __init__(self) -> None:
        super().__init__(orientation="landscape", unit="mm", format="A4")
        self.add_font(FONT_FAMILY, "", str(FONT_DIR / "DejaVuSans.ttf"))
        self.add_font(FONT_FAMILY, "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(auto=True, margin=MARGIN)
        self.set_creator("Gastregister")
        self.set_text_color(20, 20, 20)
        self.set_draw_color(60, 60, 60)


def _header(pdf: _Sheet, location: Location, areas: list[Area]) -> None:
    pdf.set_font(FONT_FAMILY, "B", 14)
    pdf.cell(0, 7, TITLE, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT_FAMILY, "", 10)
    address = f"{location.street} {location.house_number}, {location.zip_code} {location.city}"
    pdf.cell(
        0,
        5.5,
        printable(f"{location.business.name} \u2013 {location.name} \u2013 {address}", limit=200),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(1.5)
    pdf.set_font(FONT_FAMILY, "B", 10)
    pdf.cell(pdf.get_string_width(DATE_FIELD) + 2, 7, DATE_FIELD)
    pdf.cell(55, 7, "", border="B")
    pdf.cell(8, 7, "")
    pdf.cell(pdf.get_string_width(AREA_FIELD) + 2, 7, AREA_FIELD)
    pdf.cell(70, 7, "", border="B", new_x="LMARGIN", new_y="NEXT")
    if areas:
        pdf.set_font(FONT_FAMILY, "", 7.5)
        names = ", ".join(printable(area.name, limit=60) for area in areas[:40])
        pdf.multi_cell(0, 3.6, printable(f"Bereiche · Areas: {names}", limit=600))
    pdf.set_font(FONT_FAMILY, "", 8)
    pdf.ln(1)
    pdf.multi_cell(0, 3.8, ONE_ROW_EACH)
    pdf.ln(1.5)


def _rows(pdf: _Sheet, contact_rule: str, count: int) -> None:
    top = pdf.get_y()
    x = MARGIN
    pdf.set_font(FONT_FAMILY, "B", 7.5)
    for column in COLUMNS:
        pdf.rect(x, top, column.width, HEADER_HEIGHT)
        pdf.set_xy(x + 0.8, top + 0.8)
        pdf.multi_cell(column.width - 1.6, 3.2, column.heading, align="L")
        x += column.width
    y = top + HEADER_HEIGHT
    for _row in range(count):
        x = MARGIN
        for column in COLUMNS:
            pdf.rect(x, y, column.width, ROW_HEIGHT)
            x += column.width
        y += ROW_HEIGHT
    pdf.set_xy(MARGIN, y + 1)
    pdf.set_font(FONT_FAMILY, "", 7.5)
    pdf.multi_cell(0, 3.6, CONTACT_RULES.get(contact_rule, CONTACT_RULES["phone_or_email"]))


def _privacy(pdf: _Sheet, paragraphs: list[tuple[str, str]]) -> None:
    pdf.ln(1.5)
    for heading, text in paragraphs:
        pdf.set_x(MARGIN)
        if heading and not text:
            pdf.set_font(FONT_FAMILY, "B", 8)
            pdf.multi_cell(0, 3.8, heading)
            continue
        if heading:
            pdf.set_font(FONT_FAMILY, "B", 6.8)
            pdf.write(3.1, heading + " ")
        pdf.set_font(FONT_FAMILY, "", 6.8)
        pdf.write(3.1, printable(text, limit=2000))
        pdf.ln(3.4)
    pdf.ln(1)
    pdf.set_x(MARGIN)
    pdf.set_font(FONT_FAMILY, "", 6.8)
    pdf.multi_cell(0, 3.1, STAFF_NOTE)


def _row_count(pdf: _Sheet, paragraphs: list[tuple[str, str]]) -> int:
    """As many rows as leave room for the privacy facts on the same sheet (within limits)."""
    probe = _Sheet()
    probe.add_page()
    start = probe.get_y()
    _privacy(probe, paragraphs)
    privacy_height = probe.get_y() - start if probe.page == 1 else probe.h
    probe.output()  # fpdf2 closes its font files only here
    room = pdf.h - MARGIN - pdf.get_y() - HEADER_HEIGHT - RULE_SPACE - privacy_height
    return max(MIN_ROWS, min(MAX_ROWS, int(room // ROW_HEIGHT)))


def paper_list_pdf(
    settings: Settings, location: Location, areas: list[Area], *, office_name: str
) -> bytes:
    """An A4 landscape sheet of rows to fill in, with the privacy facts below."""
    pdf = _Sheet()
    pdf.set_title(printable(f"{location.name} - Gästeliste / Guest list", limit=120))
    pdf.add_page()
    _header(pdf, location, areas)
    paragraphs = privacy_paragraphs(settings, location, office_name)
    _rows(pdf, settings.contact_required, _row_count(pdf, paragraphs))
    _privacy(pdf, paragraphs)
    return bytes(pdf.output())
