"""The office's keys: register a public key, confirm it (four eyes), discard a pending one.

The rules live in health_export/keys.py.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from crypto.passphrase import client_rules as passphrase_rules
from health_export import keys as key_service
from health_export.errors import HealthOfficeError
from health_export.views.portal import Page, bp, member, office_of, require_admin
from registration.models import User
from registration.session import get_clock, get_session, get_settings


@bp.get("/keys")
def keys() -> Page:
    user = member()
    office = office_of(user)
    settings = get_settings()
    listed = key_service.listed_keys(
        get_session(), office.id, now=get_clock().now(), retention_days=settings.retention_days
    )
    return render_template("office/keys.html", office=office, keys=listed, user=user)


@bp.get("/keys/new")
def new_key() -> Page:
    user = member()
    require_admin(user)
    return _new_key_page(office_of(user))


def _new_key_page(office: Any) -> str:
    """The key page, with the passphrase rules its module applies (crypto/passphrase.py)."""
    return render_template(
        "office/key_new.html", office=office, passphrase_rules=passphrase_rules()
    )


@bp.post("/keys")
def register_key() -> Page:
    user = member()
    require_admin(user)
    office = office_of(user)
    session = get_session()
    try:
        key_service.register_key(
            session,
            get_clock(),
            office_id=office.id,
            registered_by=user,
            public_key=request.form.get("public_key", ""),
            key_id=request.form.get("key_id", ""),
            label=request.form.get("label", ""),
        )
    except HealthOfficeError as error:
        session.rollback()
        flash(str(error), "error")
        return _new_key_page(office), 422
    session.commit()
    flash(
        _("The key is registered. A second person must now compare and confirm its fingerprint."),
        "success",
    )
    return redirect(url_for("office.keys"), code=303)


def _own_key(user: User, key_pk: int) -> Any:
    key = key_service.office_key(get_session(), office_of(user).id, key_pk)
    if key is None:
        abort(404)
    return key


@bp.post("/keys/<int:key_pk>/confirm")
def confirm_key(key_pk: int) -> Response:
    user = member()
    key = _own_key(user, key_pk)
    session = get_session()
    if request.form.get("fingerprint_checked") != "yes":
        flash(_("Please confirm that you compared the fingerprint."), "error")
        return redirect(url_for("office.keys"), code=303)
    try:
        key_service.confirm_key(session, get_clock(), key, confirmed_by=user)
    except HealthOfficeError as error:
        session.rollback()
        if error.status == 403:
            abort(403, description=str(error))
        flash(str(error), "error")
        return redirect(url_for("office.keys"), code=303)
    session.commit()
    flash(_("The key is active. Guests' data is now sealed to it."), "success")
    return redirect(url_for("office.keys"), code=303)


@bp.post("/keys/<int:key_pk>/discard")
def discard_key(key_pk: int) -> Response:
    user = member()
    require_admin(user)
    key = _own_key(user, key_pk)
    session = get_session()
    try:
        key_service.discard_pending_key(session, get_clock(), key, discarded_by=user)
    except HealthOfficeError as error:
        session.rollback()
        flash(str(error), "error")
        return redirect(url_for("office.keys"), code=303)
    session.commit()
    flash(_("The pending key was discarded."), "success")
    return redirect(url_for("office.keys"), code=303)
