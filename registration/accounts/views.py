"""Account pages under /konto: sign-up, log-in, second factor, resets, invitations."""

from __future__ import annotations

import datetime as dt
import io
from urllib.parse import urlsplit

import qrcode
import qrcode.image.svg
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import login_user, logout_user
from markupsafe import Markup
from werkzeug.wrappers import Response

from registration.accounts import invitations, services
from registration.accounts import login as signin
from registration.accounts import second_factor as two_factor
from registration.accounts.access import OFFICE_ROLES, acting_user, signed_in_user
from registration.accounts.errors import (
    EmailNotVerifiedError,
    EmailTakenError,
    InvalidLinkError,
    LoginFailedError,
    SecondFactorFailedError,
    TwoFactorRequiredError,
)
from registration.accounts.forms import (
    AcceptInvitationForm,
    ConfirmForm,
    EmailOnlyForm,
    LoginForm,
    NewPasswordForm,
    PasswordConfirmForm,
    SecondFactorForm,
    SignupForm,
    TotpSetupForm,
)
from registration.accounts.validation import password_problems
from registration.extensions import limiter
from registration.mail import MailError
from registration.models import Role, User
from registration.session import get_clock, get_session, get_settings
from registration.templating import current_language

bp = Blueprint("accounts", __name__, url_prefix="/konto", template_folder="templates")

PENDING_KEY = "pending_login"
SETUP_SECRET_KEY = "totp_setup_secret"  # noqa: S105 - a session key name, not a secret
AUTH_AT_KEY = "auth_at"
PENDING_LIFETIME = dt.timedelta(minutes=10)
LOGIN_LIMIT = "10 per minute;60 per hour"
MAIL_LIMIT = "5 per minute;30 per hour"

Page = str | Response | tuple[str, int]


# --- helpers ---------------------------------------------------------------------


def safe_next(target: str | None) -> str | None:
    """Only same-site paths, so `next` can never become an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def home_for(user: User) -> str:
    if user.role in OFFICE_ROLES:
        if "office.dashboard" in current_app.view_functions:
            return url_for("office.dashboard")
        return "/"
    if "portal.dashboard" in current_app.view_functions:
        return url_for("portal.dashboard")
    return "/"


def _start_session(user: User) -> None:
    """Finish a log-in: a fresh session that expires, and the audit entry for offices."""
    next_target = session.get("login_next")
    session.clear()
    session.permanent = True
    login_user(user)
    session[AUTH_AT_KEY] = int(get_clock().now().timestamp())
    if next_target:
        session["login_next"] = next_target
    signin.complete_login(get_session(), get_clock(), user)


def _after_login(user: User) -> Response:
    target = safe_next(session.pop("login_next", None))
    return redirect(target or home_for(user), code=303)


def _pending_user() -> tuple[signin.PendingLogin, User] | None:
    pending = signin.PendingLogin.from_session(session.get(PENDING_KEY))
    if pending is None or get_clock().now() - pending.started > PENDING_LIFETIME:
        return None
    user = get_session().get(User, pending.user_id)
    if user is None or user.session_version != pending.session_version or user.disabled_at:
        return None
    return pending, user


def _mail_failed() -> None:
    flash(_("The mail could not be sent right now. Please try again in a few minutes."), "error")


@bp.before_app_request
def expire_old_sessions() -> None:
    """Sessions end after the configured lifetime even while they are being used."""
    if signed_in_user() is None:
        return
    started = session.get(AUTH_AT_KEY)
    lifetime = get_settings().session_lifetime_minutes * 60
    now = int(get_clock().now().timestamp())
    if not isinstance(started, int) or now - started > lifetime:
        logout_user()
        session.clear()


# --- sign-up and e-mail verification --------------------------------------------


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit(MAIL_LIMIT, methods=["POST"])
def signup() -> Page:
    form = SignupForm()
    if form.validate_on_submit():
        try:
            services.sign_up(
                get_session(),
                get_clock(),
                get_settings(),
                business_name=form.business_name.data,
                email=form.email.data,
                password=form.password.data,
                display_name=form.display_name.data or "",
                language=current_language(),
            )
        except MailError:
            _mail_failed()
        return redirect(url_for("accounts.check_mail"), code=303)
    return render_template("accounts/signup.html", form=form), 422 if form.errors else 200


@bp.get("/signup/mail")
def check_mail() -> str:
    return render_template("accounts/check_mail.html", resend=EmailOnlyForm())


@bp.get("/verify/<token>")
def verify(token: str) -> Page:
    try:
        services.verify_email(get_session(), get_clock(), get_settings(), token)
    except InvalidLinkError:
        return render_template("accounts/invalid_link.html", resend=EmailOnlyForm()), 400
    flash(_("Thank you, your e-mail address is confirmed. You can log in now."), "success")
    return redirect(url_for("accounts.login"), code=303)


@bp.post("/verify/resend")
@limiter.limit(MAIL_LIMIT)
def resend_verification() -> Page:
    form = EmailOnlyForm()
    if form.validate_on_submit():
        try:
            services.resend_verification(
                get_session(), get_clock(), get_settings(), form.email.data
            )
        except MailError:
            _mail_failed()
        flash(_("If this address has an unconfirmed account, we have sent a new link."), "success")
        return redirect(url_for("accounts.check_mail"), code=303)
    return render_template("accounts/check_mail.html", resend=form), 422


# --- log-in, second factor, log-out ---------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(LOGIN_LIMIT, methods=["POST"])
def login() -> Page:
    user = signed_in_user()
    if user is not None and request.method == "GET":
        return redirect(home_for(user), code=303)
    form = LoginForm()
    if request.method == "GET" and safe_next(request.args.get("next")):
        session["login_next"] = request.args["next"]
    if not form.validate_on_submit():
        return render_template("accounts/login.html", form=form), 422 if form.errors else 200
    try:
        user = signin.authenticate(get_session(), get_clock(), form.email.data, form.password.data)
    except LoginFailedError:
        form.password.errors.append(
            _(
                "E-mail address or password is wrong, or the account is locked for a while "
                "after too many attempts."
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
    _start_session(user)
    return _after_login(user)


@bp.route("/2fa", methods=["GET", "POST"])
@limiter.limit(LOGIN_LIMIT, methods=["POST"])
def second_factor() -> Page:
    pending = _pending_user()
    if pending is None or pending[1].totp_enabled_at is None:
        flash(_("Please log in again."), "error")
        return redirect(url_for("accounts.login"), code=303)
    _state, user = pending
    form = SecondFactorForm()
    if form.validate_on_submit():
        try:
            two_factor.check_second_factor(get_session(), get_clock(), user, form.code.data)
        except SecondFactorFailedError:
            form.code.errors.append(_("This code is not valid. Please try the current one."))
            return render_template("accounts/second_factor.html", form=form), 422
        _start_session(user)
        left = two_factor.unused_recovery_codes(user)
        if left <= 3:
            flash(
                _("Only %(count)s recovery codes are left. Please create new ones.", count=left),
                "error",
            )
        return _after_login(user)
    return render_template("accounts/second_factor.html", form=form), 422 if form.errors else 200


def _svg_qr(data: str) -> Markup:
    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    buffer = io.BytesIO()
    image.save(buffer)
    svg = buffer.getvalue().decode("utf-8")
    svg = svg[svg.index("<svg") :]
    return Markup(svg)  # noqa: S704 - generated by qrcode from our own secret, no user text


@bp.route("/2fa/setup", methods=["GET", "POST"])
@limiter.limit(LOGIN_LIMIT, methods=["POST"])
def setup_two_factor() -> Page:
    """Set up TOTP: for a logged-in user, or during a health-office log-in that requires it."""
    user = signed_in_user()
    forced = False
    if user is None:
        pending = _pending_user()
        if pending is None or not two_factor.must_set_up_second_factor(pending[1]):
            return redirect(url_for("accounts.login"), code=303)
        user, forced = pending[1], True
    if user.totp_enabled_at is not None:
        return redirect(url_for("accounts.security"), code=303)
    secret = session.get(SETUP_SECRET_KEY)
    if not isinstance(secret, str) or len(secret) != 32:
        secret = two_factor.new_totp_secret()
        session[SETUP_SECRET_KEY] = secret
    form = TotpSetupForm()
    if form.validate_on_submit():
        try:
            codes = two_factor.enable_totp(get_session(), get_clock(), user, secret, form.code.data)
        except SecondFactorFailedError:
            form.code.errors.append(
                _("This code is not valid. Please check the time on your phone.")
            )
        else:
            session.pop(SETUP_SECRET_KEY, None)
            if forced:
                _start_session(user)
            return render_template(
                "accounts/recovery_codes.html", codes=codes, next_url=home_for(user)
            )
    uri = two_factor.totp_uri(secret, user.email)
    return render_template(
        "accounts/setup_two_factor.html",
        form=form,
        secret=secret,
        qr_svg=_svg_qr(uri),
        forced=forced,
    ), 422 if form.errors else 200


@bp.get("/")
def security() -> Page:
    user = signed_in_user()
    if user is None:
        return redirect(url_for("accounts.login", next=request.path), code=303)
    return render_template(
        "accounts/security.html",
        user=user,
        recovery_left=two_factor.unused_recovery_codes(user),
        disable_form=PasswordConfirmForm(),
        regenerate_form=ConfirmForm(),
        two_factor_mandatory=user.role in OFFICE_ROLES,
    )


@bp.post("/2fa/disable")
def disable_two_factor() -> Page:
    user = acting_user()
    form = PasswordConfirmForm()
    if form.validate_on_submit():
        try:
            two_factor.disable_totp(get_session(), get_clock(), user, form.password.data)
        except TwoFactorRequiredError:
            abort(403)
        except LoginFailedError:
            flash(_("The password is wrong."), "error")
            return redirect(url_for("accounts.security"), code=303)
        flash(_("Two-factor authentication is switched off."), "success")
    return redirect(url_for("accounts.security"), code=303)


@bp.post("/2fa/recovery-codes")
def regenerate_recovery_codes() -> Page:
    user = acting_user()
    if user.totp_enabled_at is None or not ConfirmForm().validate_on_submit():
        return redirect(url_for("accounts.security"), code=303)
    codes = two_factor.regenerate_recovery_codes(get_session(), user)
    return render_template(
        "accounts/recovery_codes.html", codes=codes, next_url=url_for("accounts.security")
    )


@bp.post("/logout")
def logout() -> Response:
    if ConfirmForm().validate_on_submit():
        logout_user()
        session.clear()
        flash(_("You are logged out."), "success")
    return redirect(url_for("accounts.login"), code=303)


# --- password reset ----------------------------------------------------------------


@bp.route("/reset", methods=["GET", "POST"])
@limiter.limit(MAIL_LIMIT, methods=["POST"])
def request_reset() -> Page:
    form = EmailOnlyForm()
    if form.validate_on_submit():
        try:
            services.request_password_reset(
                get_session(), get_clock(), get_settings(), form.email.data
            )
        except MailError:
            _mail_failed()
            return redirect(url_for("accounts.request_reset"), code=303)
        return render_template("accounts/reset_sent.html")
    return render_template("accounts/reset_request.html", form=form), 422 if form.errors else 200


@bp.route("/reset/<token>", methods=["GET", "POST"])
@limiter.limit(LOGIN_LIMIT, methods=["POST"])
def reset(token: str) -> Page:
    try:
        user = services.user_for_reset_token(get_session(), get_clock(), get_settings(), token)
    except InvalidLinkError:
        return render_template("accounts/invalid_link.html", reset=True), 400
    form = NewPasswordForm()
    if form.validate_on_submit():
        problems = password_problems(form.password.data, user.email)
        if problems:
            form.password.errors.extend(problems)
        else:
            services.reset_password(
                get_session(), get_clock(), get_settings(), token, form.password.data
            )
            logout_user()
            session.clear()
            flash(_("Your new password is set. Please log in."), "success")
            return redirect(url_for("accounts.login"), code=303)
    return render_template("accounts/reset.html", form=form), 422 if form.errors else 200


# --- staff invitations -------------------------------------------------------------


@bp.route("/invitation/<token>", methods=["GET", "POST"])
@limiter.limit(LOGIN_LIMIT, methods=["POST"])
def accept_invitation(token: str) -> Page:
    try:
        invitation = invitations.open_invitation(get_session(), get_clock(), token)
    except InvalidLinkError:
        return render_template("accounts/invalid_link.html", invitation=True), 400
    form = AcceptInvitationForm()
    if form.validate_on_submit():
        problems = password_problems(form.password.data, invitation.email)
        if problems:
            form.password.errors.extend(problems)
        else:
            try:
                user = invitations.accept_invitation(
                    get_session(),
                    get_clock(),
                    token,
                    display_name=form.display_name.data,
                    password=form.password.data,
                    language=current_language(),
                )
            except EmailTakenError:
                form.display_name.errors.append(
                    _(
                        "This e-mail address already has an account. Please ask the owner "
                        "to invite another address."
                    )
                )
            except InvalidLinkError:
                return render_template("accounts/invalid_link.html", invitation=True), 400
            else:
                _start_session(user)
                flash(
                    _(
                        "Welcome! You are now part of %(business)s.",
                        business=invitation.business.name,
                    ),
                    "success",
                )
                return _after_login(user)
    return render_template(
        "accounts/accept_invitation.html",
        form=form,
        invitation=invitation,
        roles=Role,
    ), 422 if form.errors else 200
