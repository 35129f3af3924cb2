"""Refuse hostile input where a request is parsed, before any view sees it.

Fuzzing found inputs that every view would otherwise have to remember (issue
"Hardening", anonymous 500s):

- JSON nested deeper than Python's recursion limit (1,000 levels fit in 2 KB) raised
  RecursionError inside the parser. Our bodies are flat objects; more than
  `MAX_JSON_DEPTH` levels is refused as invalid JSON.
- NUL bytes and lone surrogates: PostgreSQL refuses both in text (a NUL cannot be
  stored or compared; a surrogate cannot be encoded), so a lookup by such a code
  failed with an error instead of "not found". They are refused in JSON strings, in
  paths and in query strings, together with the other control characters, which no
  URL of ours carries and which would forge lines in a log or a `Location` header.
- `X-Forwarded-For` and `X-Forwarded-Proto` from whoever reached the app: a client
  talking to gunicorn directly chose its own address (its rate-limit bucket) and
  claimed HTTPS. They count only from the configured proxies
  (GASTREGISTER_FORWARDED_ALLOW_IPS, the same list gunicorn trusts).
- Integer ids beyond the id columns' range cannot be bound (SQLite raises
  OverflowError beyond 64 bits, PostgreSQL a range error beyond its 32-bit INTEGER):
  the `int` URL converter matches only what an id column holds, so such a path is
  simply not found; ids in query strings and forms are read with `id_arg`, which
  gives None for anything else (`?before=10**30`, `?location=²`).
- Times whose UTC form lies outside year 1..9999 (`9999-12-31T23:59:59-14:00`,
  `0001-01-01T00:00:00+14:00`, or a Berlin time on 1 January of year 1) parse, and
  then raise OverflowError on conversion. Every time a client sends is read with
  `utc_moment` or `berlin_moment`, which give None for those as for any other
  unreadable time, so each caller answers with its own field error.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from flask import Flask, abort, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from registration.clock import BERLIN

MAX_JSON_DEPTH = 32
# The largest id our id columns hold (PostgreSQL INTEGER; see registration/models.py).
MAX_ID = 2**31 - 1
# C0 controls (NUL, CR, LF, …), DEL, and the surrogate code points, which never stand
# alone in valid text.
_FORBIDDEN = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
_FORBIDDEN_IN_JSON = re.compile("[\x00\ud800-\udfff]")
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class HostileJSONError(ValueError):
    """Nested too deeply, or a string holds a NUL byte or a lone surrogate."""


def _check_json(value: Any) -> None:
    """Walk the parsed value without recursion, checking depth and every string."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            if _FORBIDDEN_IN_JSON.search(item):
                raise HostileJSONError("NUL byte or lone surrogate in a string")
        elif isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise HostileJSONError("nested too deeply")
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)


class GuardedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, refusing what fuzzing found (see the module docstring).

    Raising ValueError lets Flask treat the body like any malformed JSON: the API's
    `get_json(silent=True)` sees None and answers `invalid_json`.
    """

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            value = json.loads(s, **kwargs)
        except RecursionError as exc:
            raise HostileJSONError("nested too deeply") from exc
        if not _plainly_harmless(s):
            _check_json(value)
        return value


def _plainly_harmless(text: str | bytes) -> bool:
    """True when the text alone shows that its parsed value passes _check_json: too few
    brackets to nest too deeply, and no way to spell a NUL byte or a lone surrogate (no
    \\u escape, no NUL, and for bytes no 0xED, the UTF-8 lead byte of the surrogates,
    which json.loads decodes with "surrogatepass"). A check-in's body is such a text, and
    walking its parsed value was a thirtieth of its CPU (issue 15); any other text is
    walked."""
    if isinstance(text, str):
        return (
            text.count("{") + text.count("[") <= MAX_JSON_DEPTH
            and "\\u" not in text
            and not _FORBIDDEN_IN_JSON.search(text)
        )
    return (
        text.count(b"{") + text.count(b"[") <= MAX_JSON_DEPTH
        and b"\\u" not in text
        and b"\x00" not in text
        and b"\xed" not in text
    )


class BoundedIntConverter(IntegerConverter):
    """`<int:…>` that matches only ids a database column can hold."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


_DECIMAL = re.compile(r"[0-9]{1,10}", re.ASCII)


def bounded_int(text: object, *, maximum: int = MAX_ID) -> int | None:
    """`text` as a whole number 0..maximum written in ASCII digits; None for anything else.

    int() alone takes "1_0", " 7", "+7" and, after str.isdigit(), raises on "²".
    """
    if not isinstance(text, str) or not _DECIMAL.fullmatch(text):
        return None
    number = int(text)
    return number if number <= maximum else None


def id_arg(values: Mapping[str, str], name: str) -> int | None:
    """An id from a query string or form (`request.args`, `request.form`), or None.

    None for a missing value and for one no id column holds (beyond 2**31 - 1, signed,
    not digits): callers treat it as absent or answer 400, never bind it.
    """
    return bounded_int(values.get(name))


def utc_moment(moment: dt.datetime) -> dt.datetime | None:
    """An aware time in UTC; None when it is naive or its UTC form is not a datetime."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        return None
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:
        return None


def berlin_moment(text: object, *, max_length: int = 19) -> dt.datetime | None:
    """A naive ISO time typed in Europe/Berlin ('2026-11-20T19:30') as aware UTC, else None.

    A time that does not exist (the hour skipped in spring) or exists twice (autumn)
    takes the offset zoneinfo gives with fold=0; a minute's ambiguity is fine for
    typed-in times. A time with its own offset is not one typed into our forms.
    """
    if not isinstance(text, str) or not 10 <= len(text.strip()) <= max_length:
        return None
    try:
        local = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if local.tzinfo is not None:
        return None
    return utc_moment(local.replace(tzinfo=BERLIN))


def refuse_control_characters() -> None:
    """404 for a path, 400 for a query string, holding a control character or surrogate;
    400 for a posted form field holding a NUL byte (line breaks are fine there)."""
    if _FORBIDDEN.search(request.path):
        abort(404)
    for key, value in request.args.items(multi=True):
        if _FORBIDDEN.search(key) or _FORBIDDEN.search(value):
            abort(400)
    if request.method == "POST" and request.mimetype in _FORM_TYPES:
        for key, value in request.form.items(multi=True):
            if "\x00" in key or "\x00" in value:
                abort(400)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# Client addresses TrustedProxies remembers its verdict for before it starts again.
_MAX_REMEMBERED_ADDRESSES = 1024


def environ_key(header: str) -> str:
    """Where WSGI keeps a request header: `X-Gastregister-Area` as HTTP_X_GASTREGISTER_AREA."""
    return "HTTP_" + header.upper().replace("-", "_")


class TrustedProxies:
    """ProxyFix for requests from our own proxies; the headers are dropped for the rest.

    `proxy_headers` names further headers that mean something only when our proxy
    passed them on (the area it counted a check-in for, registration.checkin.web):
    dropped from a request that did not come through it, like X-Forwarded-*.
    """

    def __init__(
        self, wsgi_app: Any, proxies: Iterable[str], proxy_headers: Iterable[str] = ()
    ) -> None:
        self.networks: tuple[Network, ...] = tuple(
            ipaddress.ip_network(proxy, strict=False) for proxy in proxies
        )
        self.proxy_only = tuple(environ_key(name) for name in proxy_headers)
        self._verdicts: dict[str, bool] = {}
        self.direct = wsgi_app
        # nginx replaces (does not append to) X-Forwarded-For: one hop.
        self.proxied = ProxyFix(wsgi_app, x_for=1, x_proto=1, x_host=0)

    def _trusted(self, address: str) -> bool:
        """Whether `address` is one of our proxies: remembered per address, since behind
        nginx every request comes from the same one or two (parsing the address was a
        thirtieth of a check-in's CPU, issue 15)."""
        known = self._verdicts.get(address)
        if known is not None:
            return known
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        trusted = any(ip in network for network in self.networks)
        if len(self._verdicts) >= _MAX_REMEMBERED_ADDRESSES:
            self._verdicts.clear()  # clients connecting directly, each with its own address
        self._verdicts[address] = trusted
        return trusted

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if self._trusted(environ.get("REMOTE_ADDR", "")):
            return self.proxied(environ, start_response)
        for header in [
            key for key in environ if key.startswith("HTTP_X_FORWARDED_") or key in self.proxy_only
        ]:
            del environ[header]
        return self.direct(environ, start_response)


def register_request_guard(app: Flask) -> None:
    app.json = GuardedJSONProvider(app)
    app.url_map.converters["int"] = BoundedIntConverter
    app.before_request(refuse_control_characters)
