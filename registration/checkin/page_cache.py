"""The guest page rendered once per area and language, its few per-request values filled in.

Rendering the page's template (some ninety translated texts, the contact fields'
macros, a dozen URLs) was most of a guest page's CPU time, and for one area in one
language it gives the same text every time except for a few values: the CSRF token,
the form's idempotency key, in rotating mode the admission, the notices "full" and
"you are checked in here", and the page's own path in the language switch. The
template is rendered with a marker in each of those places (PageSkeleton.render);
the text between the markers is kept, and a request only joins it with its values.

The kept text is keyed by everything the template reads that can change: the area's
values as the request has them (lookup.GuestPageArea), the language and the script
root. Settings and static URLs are fixed for the app's life,
and the cache is the app's (app.extensions), so nothing is ever invalidated: a renamed
area or a new office key simply is another key.

Compression: the kept text is also kept compressed (raw DEFLATE, each piece ending on
a byte boundary), and a gzip answer is those pieces with the request's values between
them as *stored* (uncompressed) blocks. Compressing costs nothing per request, and no
secret (CSRF token, idempotency key) is ever compressed together with text a third
party chooses, which is what BREACH reads secrets through.
"""

from __future__ import annotations

import re
import secrets
import struct
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass

from markupsafe import Markup

EXTENSION = "gastregister.guest_pages"
# The places a page's per-request values go; each template marks them with {{ slots.name }}.
SLOT_NAMES = (
    "csrf_token",
    "idempotency_key",
    "admission_input",
    "admission_json",
    "full_notice",
    "current_checkin",
    "return_path",
)
# Pages kept per process: a few kilobytes each (text and its compressed pieces), so a
# town's evening (hundreds of areas, a few languages each) fits.
MAX_PAGES = 512
# RFC 1952: gzip member header (deflate, no name, no time, unknown OS) and the end of
# a DEFLATE stream: a final fixed-Huffman block holding only its end code (RFC 1951).
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
_FINAL_EMPTY_BLOCK = b"\x03\x00"
_STORED_BLOCK_MAX = 0xFFFF


def stored_blocks(data: bytes) -> bytes:
    """`data` as non-final stored DEFLATE blocks (RFC 1951, 3.2.4), starting and ending on
    a byte boundary, so they can stand between the kept pieces as they are."""
    out = bytearray()
    for start in range(0, len(data), _STORED_BLOCK_MAX):
        chunk = data[start : start + _STORED_BLOCK_MAX]
        # BFINAL=0, BTYPE=00 and the padding to the byte boundary: one zero byte.
        out += b"\x00" + struct.pack("<HH", len(chunk), len(chunk) ^ 0xFFFF) + chunk
    return bytes(out)


def _deflated(text: bytes) -> bytes:
    """`text` compressed alone (raw DEFLATE, level 9), flushed to a byte boundary and
    not final, so that other blocks may follow it in the same stream."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(text) + compressor.flush(zlib.Z_SYNC_FLUSH)


@dataclass(frozen=True)
class PageSkeleton:
    """A rendered page split at its slots: parts[0] slot[0] parts[1] … parts[-1]."""

    parts: tuple[bytes, ...]
    slots: tuple[str, ...]
    deflated_parts: tuple[bytes, ...]

    @classmethod
    def render(cls, render: Callable[[Mapping[str, Markup]], str]) -> PageSkeleton:
        """Call `render` with a marker per slot and split its text at the markers.

        The markers carry a random part, so no text a business types (an area's name)
        can pass for one.
        """
        prefix = "grslot" + secrets.token_hex(8)
        markers = {name: Markup("{0}{1}").format(prefix, name) for name in SLOT_NAMES}
        text = render(markers)
        # Inside the page script's JSON configuration the marker stands in quotes;
        # its value (JSON, e.g. null) replaces the quotes too.
        text = text.replace(f'"{markers["admission_json"]}"', markers["admission_json"])
        pieces = re.split(f"{prefix}({'|'.join(SLOT_NAMES)})", text)
        parts = tuple(piece.encode() for piece in pieces[0::2])
        return cls(
            parts=parts,
            slots=tuple(pieces[1::2]),
            deflated_parts=tuple(_deflated(part) for part in parts),
        )

    def _values(self, values: Mapping[str, str]) -> list[bytes]:
        return [values[name].encode() for name in self.slots]

    def fill(self, values: Mapping[str, str]) -> bytes:
        """The page with `values` (already escaped for their place) in its slots."""
        filled = self._values(values)
        out = [self.parts[0]]
        for value, part in zip(filled, self.parts[1:], strict=True):
            out += (value, part)
        return b"".join(out)

    def gzip(self, values: Mapping[str, str]) -> tuple[bytes, bytes]:
        """The page (as `fill` gives it) and the same page as a gzip member."""
        body = self.fill(values)
        out = [_GZIP_HEADER, self.deflated_parts[0]]
        for value, deflated in zip(self._values(values), self.deflated_parts[1:], strict=True):
            if value:
                out.append(stored_blocks(value))
            out.append(deflated)
        out += (
            _FINAL_EMPTY_BLOCK,
            struct.pack("<II", zlib.crc32(body), len(body) & 0xFFFFFFFF),
        )
        return body, b"".join(out)


class PageCache:
    """The app's rendered guest pages (PageSkeleton), least recently used dropped first."""

    def __init__(self, max_pages: int = MAX_PAGES) -> None:
        self._max_pages = max_pages
        self._pages: OrderedDict[Hashable, PageSkeleton] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._pages)

    def skeleton(
        self, key: Hashable, render: Callable[[Mapping[str, Markup]], str]
    ) -> PageSkeleton:
        """The page kept under `key`, rendered (outside the lock) if it is not kept yet."""
        with self._lock:
            page = self._pages.get(key)
            if page is not None:
                self._pages.move_to_end(key)
                return page
        page = PageSkeleton.render(render)
        with self._lock:
            self._pages[key] = page
            while len(self._pages) > self._max_pages:
                self._pages.popitem(last=False)
        return page
