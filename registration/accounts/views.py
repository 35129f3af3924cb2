"""Account pages under /konto: log-in, the second-factor step, log-out.

Importing this module attaches every account page to `bp`: the sign-up and
mailed-link pages (signup_views) and the security settings (security_views) are
imported here, so the app factory needs to know only this module.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from werkzeug.wrappers import Response

from registration.accounts import login as signin
from registration.accounts import second_factor as two_factor
from registration.accounts import security_views as security_views
from registration.accounts import signup_views as signup_views
from registration.accounts.access import signed_in_user
from registration.accounts.errors import (
    EmailNotVerifiedError,
    LoginFailedError,
    SecondFactorFailedError,
)
from registration.accounts.forms import ConfirmForm, EmailOnlyForm, LoginForm, SecondFactorForm
from registration.accounts.web import (
    FAILED_LOGIN_BACK_OFF,
    FAILED_LOGIN_LIMIT,
    LOGIN_LIMIT,
    PENDING_KEY,
    Page,
    after_login,
    device_cookie,
    end_session,
    failed_login,
    home_for,
    is_known_device,
    pending_user,
    start_session,
)

# `bp` is the blueprint the app factory registers, with every account page attached.
from registration.accounts.web import bp as bp
from registration.extensions import limiter
from registration.security import safe_redirect_target
from registration.session import get_clock, get_session, get_settings

# --- log-in, second factor, log-out ---------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(LOGIN_LIMIT, methods=["POST"])
@limiter.limit(
    FAILED_LOGIN_LIMIT,
    methods=["POST"],
    deduct_when=failed_login,
    meta_limits=FAILED_LOGIN_BACK_OFF,
)
def login() -> Page:
    user = signed_in_user()
    if user is not None and request.method == "GET":
        return redirect(home_for(user), code=303)
    form = LoginForm()
    if request.method == "GET" and safe_redirect_target(request.args.get("next")):
        session["login_next"] = request.args["next"]
    if not form.validate_on_submit():
        return render_template("accounts/login.html", form=form), 422 if form.errors else 200
    try:
        user = signin.authenticate(
            get_session(),
            get_clock(),
            get_settings(),
            form.email.data,
            form.password.data,
            device=device_cookie(),
        )
    except LoginFailedError:
        form.password.errors.append(
            _(
                "E-mail address or password is wrong, or there were too many wrong attempts: "
                "then please wait a few minutes, log in on a device you used before, or "
                "reset your password."
            )
        )
        return render_template("accounts/login.html", form=form), 422
    except EmailNotVerifiedError:
        return render_template(
            "accounts/check_mail.html", resend=EmailOnlyForm(email=form.email.data), unverified=True
        ), 403
    if two_factor.needs_second_factor(user) or two_factor.must_set_up_second_factor(user):
        next_target = session.get("login_next")
        session.clear()
        if next_target:
            session["login_next"] = next_target
        session[PENDING_KEY] = signin.PendingLogin(
            user.id, user.session_version, get_clock().now()
        ).as_session()
        if two_factor.must_set_up_second_factor(user):
            return redirect(url_for("accounts.setup_two_factor"), code=303)
        return redirect(url_for("accounts.second_factor"), code=303)
    start_session(user)
    return after_login(user)


@bp.route("/2fa", methods=["GET", "POST"])
@limiter.limit(LOGIN_LIMIT, methods=["POST"])
@limiter.limit(
    FAILED_LOGIN_LIMIT,
    methods=["POST"],
    deduct_when=failed_login,
    meta_limits=FAILED_LOGIN_BACK_OFF,
)
def second_factor() -> Page:
    pending = pending_user()
    if pending is None or pending[1].totp_enabled_at is None:
        flash(_("Please log in again."), "error")
        return redirect(url_for("accounts.login"), code=303)
    _state, user = pending
    form = SecondFactorForm()
    if form.validate_on_submit():
        try:
            two_factor.check_second_factor(
                get_session(),
                get_clock(),
                get_settings(),
                user,
                form.code.data,
                known_device=is_known_device(user),
            )
        except SecondFactorFailedError:
            form.code.errors.append(_("This code is not valid. Please try the current one."))
            return render_template("accounts/second_factor.html", form=form), 422
        start_session(user)
        left = two_factor.unused_recovery_codes(user)
        # Only a user who has had codes runs out of them; one who never set any up
        # (an account whose second factor the operator set up) is not told "0 left".
        if user.recovery_codes and left == 0:
            flash(_("You have no recovery codes left. Please create new ones."), "error")
        elif user.recovery_codes and left <= 3:
            flash(
                ngettext(
                    "Only %(num)s recovery code is left. Please create new ones.",
                    "Only %(num)s recovery codes are left. Please create new ones.",
                    left,
                ),
                "error",
            )
        return after_login(user)
    return render_template("accounts/second_factor.html", form=form), 422 if form.errors else 200


@bp.post("/logout")
def logout() -> Response:
    """End this browser's session; the user's sessions on other devices stay."""
    if ConfirmForm().validate_on_submit():
        end_session()
        flash(_("You are logged out."), "success")
    return redirect(url_for("accounts.login"), code=303)


@bp.post("/logout/everywhere")
def logout_everywhere() -> Response:
    """End every session of this user, on this device and all others (audited)."""
    user = signed_in_user()
    if user is not None and ConfirmForm().validate_on_submit():
        signin.end_all_sessions(get_session(), get_clock(), user)
        end_session()
        flash(_("You are logged out on all devices."), "success")
    return redirect(url_for("accounts.login"), code=303)
