"""Security headers on every response, and the one rule for where we redirect to.

The Content-Security-Policy allows nothing but our own origin and no inline script:
the guest page must not talk to any third party (docs/ARCHITECTURE.md, "The promise", 6).

`Referrer-Policy: same-origin` sends the Referer to our own pages only. Flask-WTF's
CSRF protection checks, on HTTPS, that a form post's Referer is our own origin (on
top of the token); with `no-referrer` browsers sent none and every form post over
HTTPS was refused. Other sites still learn nothing: no Referer leaves the origin, so
codes in our URLs (area codes, display secrets) never reach a third party.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response, request

from registration.static_files import MAX_AGE_SECONDS

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


# What a versioned static file needs besides its bytes, as nginx serves it
# (deploy/nginx/gastregister.conf): no validators (the URL changes with the file, so
# nothing is ever revalidated) and no headers that only a document obeys. A script
# keeps the Content-Security-Policy: a worker started from it runs under it.
STATIC_FILE_DROPPED_HEADERS = ("Content-Disposition", "Expires", "Last-Modified", "ETag")
SCRIPT_TYPES = ("text/javascript", "application/javascript")


# A document's headers, unless its view set them itself (e.g. a Cache-Control of its own).
DOCUMENT_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
    ("Cache-Control", "no-store"),
)
HSTS = ("Strict-Transport-Security", "max-age=63072000; includeSubDomains")


def set_security_headers(response: Response) -> Response:
    headers = response.headers
    if not request.path.startswith("/static/"):
        # One pass over the response's headers rather than a search per header: this
        # runs for every page, the guest page's hundreds a second among them.
        present = {name.lower() for name, _value in headers}
        for name, value in (HSTS, *DOCUMENT_HEADERS) if request.is_secure else DOCUMENT_HEADERS:
            if name.lower() not in present:
                headers.add(name, value)
        return response
    if request.is_secure:
        headers.setdefault(*HSTS)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    if response.status_code == 200:
        # Versioned URLs (registration.static_files): a changed file gets a new URL.
        headers["Cache-Control"] = f"public, max-age={MAX_AGE_SECONDS}, immutable"
        for name in STATIC_FILE_DROPPED_HEADERS:
            headers.pop(name, None)
        if response.mimetype in SCRIPT_TYPES:
            headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response
    for name, value in DOCUMENT_HEADERS[1:-1]:
        headers.setdefault(name, value)
    return response


def register_security(app: Flask) -> None:
    app.after_request(set_security_headers)


def safe_redirect_target(target: str | None) -> str | None:
    """`target` if it is a path on this site, else None: `next` never leaves the site.

    Refused: anything with a scheme or host (`https://evil`, `//evil`), a backslash
    (browsers read `/\\evil` as `//evil`), and control characters — a CR/LF would
    split the `Location` header (Werkzeug refuses it with an error, which was a 500
    after log-in).
    """
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target
