"""`/healthz` for load balancers and the operator: is the database reachable?"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from registration.session import get_db, get_session

bp = Blueprint("health", __name__)


def health_extras() -> dict[str, object]:
    """Extra facts shown in /healthz (e.g. the last purge); other packages add to this."""
    from flask import current_app

    extras: dict[str, object] = {}
    for provider in current_app.extensions.get("gastregister.health_providers", []):
        extras.update(provider())
    return extras


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    database = get_db()
    if not database.ping(get_session()):
        return jsonify({"status": "unavailable", "database": "unreachable"}), 503
    body: dict[str, object] = {"status": "ok", "database": database.dialect}
    try:
        body.update(health_extras())
    except Exception:
        body["extras"] = "unavailable"
    return jsonify(body), 200
