"""Key transparency for the health office: does the server hand out the office's key?

Guests seal their data to whatever key the guest page gives them. A server that was
broken into, or a database that was changed, could hand out another key and collect
readable data, and no guest would notice. The office can: `gastregister key monitor`
asks the public check-in API and the guest page of each of its locations' areas which
key they hand out and compares it with the office's own keys (from its key files, or
fingerprints it wrote down). It runs on the office's machine with nothing but the
standard library (urllib), so a compromised server cannot vouch for itself.

The key id that counts is computed here from the public key in the answer, not taken
from the answer's ``keyId``: the browser seals to the public key.
"""

from __future__ import annotations

import enum
import html.parser
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import crypto

MAX_ANSWER_BYTES = 1024 * 1024
USER_AGENT = "gastregister-key-monitor"
_HEX_FINGERPRINT = re.compile(r"[0-9a-f]{64}")
_LOOPBACK_HOSTS = frozenset(("localhost", "127.0.0.1", "::1"))

Fetch = Callable[[str, str], tuple[int, bytes]]


class Finding(enum.StrEnum):
    """What one answer (the API's or the guest page's) says about an area's key."""

    OFFICE_KEY = "office_key"  # the office's own key: all is well
    FOREIGN_KEY = "foreign_key"  # a key the office does not hold: the alarm
    KEY_ID_MISMATCH = "key_id_mismatch"  # keyId is not SHA-256 of the public key: the alarm
    NO_KEY = "no_key"  # the area hands out no key (guests cannot check in)
    NOT_FOUND = "not_found"  # unknown or archived area code
    NOT_CHECKED = "not_checked"  # the guest page shows no form (entrance code, closed)
    UNREACHABLE = "unreachable"  # network error, HTTP error, or an answer that is not ours


ALARMS = frozenset((Finding.FOREIGN_KEY, Finding.KEY_ID_MISMATCH))
UNCHECKED = frozenset((Finding.NO_KEY, Finding.NOT_FOUND, Finding.UNREACHABLE))


@dataclass(frozen=True)
class KeyObservation:
    """One answer about one area: where it came from, the key in it, and the finding."""

    area_code: str
    source: str  # "api" or "page"
    finding: Finding
    key_id: str | None = None  # SHA-256 of the public key handed out, hex
    detail: str = ""

    @property
    def fingerprint(self) -> str:
        return crypto.format_fingerprint(bytes.fromhex(self.key_id)) if self.key_id else ""


class MonitorSetupError(ValueError):
    """The monitor was given something it cannot use (a bad URL, fingerprint or code)."""


def parse_fingerprint(text: str) -> str:
    """A full fingerprint or key id as typed (spaces allowed, any case) → 64 hex digits.

    Only the full 64 digits are accepted: the short form on posters is for the eye,
    not for an automatic check.
    """
    digits = "".join(text.split()).lower()
    if not _HEX_FINGERPRINT.fullmatch(digits):
        raise MonitorSetupError(
            "A fingerprint has 64 hexadecimal digits (16 groups of 4); "
            "the short form on posters is not enough here."
        )
    return digits


def base_url(text: str) -> str:
    """The service's address; HTTPS, except on this machine (tests, a local proxy)."""
    parsed = urllib.parse.urlsplit(text.strip())
    if parsed.scheme not in ("https", "http") or not parsed.hostname:
        raise MonitorSetupError("The URL must look like https://gastregister.example.de.")
    if parsed.scheme == "http" and parsed.hostname not in _LOOPBACK_HOSTS:
        raise MonitorSetupError(
            "Use HTTPS: over plain HTTP anyone on the way could show the monitor the right "
            "key and the guests another one."
        )
    return text.strip().rstrip("/")


def area_codes(lines: Iterable[str]) -> list[str]:
    """Area codes, one per line; a check-in URL (…/c/CODE) stands for its code.

    Blank lines and lines starting with # are skipped, repeated codes are checked once.
    """
    codes: list[str] = []
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if "/c/" in line:
            line = urllib.parse.urlsplit(line).path.rsplit("/c/", 1)[-1].strip("/")
        if not line or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", line):
            raise MonitorSetupError(f"Not an area code: {raw.strip()!r}")
        if line not in codes:
            codes.append(line)
    return codes


def fetch_url(url: str, accept: str, *, timeout: float = 15) -> tuple[int, bytes]:
    """GET ``url``: the status and at most 1 MiB of the body. Raises OSError when unreachable."""
    request = urllib.request.Request(  # noqa: S310 -- base_url() allows only http(s)
        url, headers={"Accept": accept, "User-Agent": USER_AGENT}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 -- as above
            return int(response.status), response.read(MAX_ANSWER_BYTES)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, b""


def check_areas(
    service_url: str, codes: Iterable[str], office_key_ids: frozenset[str], fetch: Fetch
) -> list[KeyObservation]:
    """The API's and the guest page's answer for every area, compared with the office's keys."""
    observations: list[KeyObservation] = []
    for code in codes:
        quoted = urllib.parse.quote(code, safe="")
        observations.append(
            _observe(
                code,
                "api",
                f"{service_url}/api/v1/areas/{quoted}",
                "application/json",
                _key_from_api,
                office_key_ids,
                fetch,
            )
        )
        observations.append(
            _observe(
                code,
                "page",
                f"{service_url}/c/{quoted}",
                "text/html",
                _key_from_page,
                office_key_ids,
                fetch,
            )
        )
    return observations


class _NoFormError(Exception):
    """The guest page has no check-in form (entrance code required, or closed)."""


def _observe(
    code: str,
    source: str,
    url: str,
    accept: str,
    read_key: Callable[[bytes], Any],
    office_key_ids: frozenset[str],
    fetch: Fetch,
) -> KeyObservation:
    try:
        status, body = fetch(url, accept)
    except OSError as error:
        return KeyObservation(code, source, Finding.UNREACHABLE, detail=str(error))
    if status == 404:
        return KeyObservation(code, source, Finding.NOT_FOUND)
    if source == "page" and status == 503:  # the page of a closed area or one without a key
        return KeyObservation(code, source, Finding.NOT_CHECKED, detail=f"HTTP {status}")
    if status != 200:
        return KeyObservation(code, source, Finding.UNREACHABLE, detail=f"HTTP {status}")
    try:
        key = read_key(body)
    except _NoFormError:
        return KeyObservation(code, source, Finding.NOT_CHECKED)
    except (ValueError, UnicodeDecodeError):
        return KeyObservation(code, source, Finding.UNREACHABLE, detail="not a Gastregister answer")
    return _judge(code, source, key, office_key_ids)


def _judge(code: str, source: str, key: object, office_key_ids: frozenset[str]) -> KeyObservation:
    if key is None:
        return KeyObservation(code, source, Finding.NO_KEY)
    if not isinstance(key, dict) or not isinstance(key.get("publicKey"), str):
        return KeyObservation(code, source, Finding.UNREACHABLE, detail="not a Gastregister answer")
    try:
        spki = crypto.b64url_decode(key["publicKey"])
        crypto.load_public_spki(spki)
    except ValueError:  # KeyFormatError and NonCanonicalBase64Error are ValueErrors
        return KeyObservation(
            code, source, Finding.FOREIGN_KEY, detail="not a P-256 key in the Gastregister format"
        )
    handed_out = crypto.key_id(spki).hex()
    if key.get("keyId") != handed_out:
        return KeyObservation(code, source, Finding.KEY_ID_MISMATCH, key_id=handed_out)
    if handed_out not in office_key_ids:
        return KeyObservation(code, source, Finding.FOREIGN_KEY, key_id=handed_out)
    return KeyObservation(code, source, Finding.OFFICE_KEY, key_id=handed_out)


def _key_from_api(body: bytes) -> object:
    document = json.loads(body.decode("utf-8"))
    if not isinstance(document, dict) or "key" not in document:
        raise ValueError("no key member")
    return document["key"]


class _ConfigBlock(html.parser.HTMLParser):
    """Collects the text of <script type="application/json" id="checkin-config">."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = False
        self.found = False
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script" and values.get("id") == "checkin-config":
            self.inside = self.found = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self.inside = False

    def handle_data(self, data: str) -> None:
        if self.inside:
            self.text.append(data)


def _key_from_page(body: bytes) -> object:
    parser = _ConfigBlock()
    parser.feed(body.decode("utf-8"))
    if not parser.found:
        raise _NoFormError
    config = json.loads("".join(parser.text))
    if not isinstance(config, dict) or "key" not in config:
        raise ValueError("no key member")
    return config["key"]
