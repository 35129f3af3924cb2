"""The /amt blueprint: its one gate, and what every office page shares.

Blueprint `office`; its templates are in health_export/templates/office/. Every route
needs a health-office account that logged in with its second factor.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, abort
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

import crypto
from registration.accounts.access import OFFICE_ROLES, signed_in_user
from registration.extensions import login_manager
from registration.models import (
    HealthOffice,
    KeyState,
    Role,
    TraceRequestNoteKind,
    TraceRequestState,
    User,
)
from registration.session import get_session

# Rooted in the package folder, not this one: the templates live in health_export/templates.
bp = Blueprint(
    "office",
    __name__,
    url_prefix="/amt",
    template_folder="templates",
    root_path=str(Path(__file__).resolve().parent.parent),
)

Page = str | Response | tuple[str, int]


STATE_LABELS = {
    TraceRequestState.REQUESTED: _l("requested, waiting for release"),
    TraceRequestState.RELEASED: _l("released, ready to download"),
    TraceRequestState.DOWNLOADED: _l("downloaded"),
    TraceRequestState.CLOSED: _l("closed"),
    TraceRequestState.ABORTED: _l("withdrawn"),
    TraceRequestState.EXPIRED: _l("expired"),
    TraceRequestState.DECLINED: _l("declined by the business"),
    TraceRequestState.QUERIED: _l("question from the business, waiting for your answer"),
}
NOTE_LABELS = {
    TraceRequestNoteKind.DECLINE_REASON: _l("Reason the business declined"),
    TraceRequestNoteKind.QUESTION: _l("Question from the business"),
    TraceRequestNoteKind.ANSWER: _l("Your office's answer"),
}
KEY_STATE_LABELS = {
    KeyState.PENDING: _l("pending, needs a second person"),
    KeyState.ACTIVE: _l("active"),
    KeyState.RETIRED: _l("retired"),
}


@bp.context_processor
def office_helpers() -> dict[str, Any]:
    """Labels for states and notes, and fingerprints as people compare them (audit
    entries read as sentences through the app-wide `audit_sentence`, registration.audit)."""

    def fingerprint(key_id_hex: str) -> str:
        return crypto.format_fingerprint(bytes.fromhex(key_id_hex))

    def state_label(state: TraceRequestState) -> str:
        return str(STATE_LABELS[state])

    def key_state_label(state: KeyState) -> str:
        return str(KEY_STATE_LABELS[state])

    def note_label(kind: TraceRequestNoteKind) -> str:
        return str(NOTE_LABELS[kind])

    return {
        "fingerprint": fingerprint,
        "state_label": state_label,
        "key_state_label": key_state_label,
        "note_label": note_label,
    }


@bp.before_request
def require_office_member() -> Any:
    """One gate for every /amt route, so a new route cannot forget it."""
    user = signed_in_user()
    if user is None:
        return login_manager.unauthorized()
    if user.role not in OFFICE_ROLES or user.health_office_id is None:
        abort(403)
    if user.totp_enabled_at is None:
        abort(403)
    return None


def member() -> User:
    """The signed-in office member (the gate has let them in)."""
    user = signed_in_user()
    if user is None or user.health_office_id is None:
        abort(401)
    return user


def office_of(user: User) -> HealthOffice:
    office = get_session().get(HealthOffice, user.health_office_id)
    if office is None:
        abort(403)
    return office


def require_admin(user: User) -> None:
    if user.role is not Role.HEALTH_OFFICE_ADMIN:
        abort(403)
