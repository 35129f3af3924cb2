"""Security headers on every response.

The Content-Security-Policy allows nothing but our own origin and no inline script:
the guest page must not talk to any third party (docs/ARCHITECTURE.md, "The promise", 6).

`Referrer-Policy: same-origin` sends the Referer to our own pages only. Flask-WTF's
CSRF protection checks, on HTTPS, that a form post's Referer is our own origin (on
top of the token); with `no-referrer` browsers sent none and every form post over
HTTPS was refused. Other sites still learn nothing: no Referer leaves the origin, so
codes in our URLs (area codes, display secrets) never reach a third party.
"""

from __future__ import annotations

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


def set_security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
    if request.path.startswith("/static/"):
        # Versioned URLs (registration.static_files): a changed file gets a new URL.
        if response.status_code == 200:
            headers["Cache-Control"] = f"public, max-age={MAX_AGE_SECONDS}, immutable"
    else:
        headers.setdefault("Cache-Control", "no-store")
    return response


def register_security(app: Flask) -> None:
    app.after_request(set_security_headers)
