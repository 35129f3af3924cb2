"""Flask extensions, created once and bound to each app in `create_app`.

Rate-limit keys are a keyed hash of the client address, never the address itself,
so not even the short-lived limiter storage (memory or Redis) holds an IP.
"""

from __future__ import annotations

from flask import request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_wtf import CSRFProtect

from registration.session import get_settings


def client_key() -> str:
    """A pseudonymous, per-deployment key for the requesting client."""
    address = request.remote_addr or "unknown"
    return get_settings().keyed_hash("rate-limit-client", address.encode()).hex()[:32]


csrf = CSRFProtect()
babel = Babel()
limiter = Limiter(key_func=client_key)
login_manager = LoginManager()
