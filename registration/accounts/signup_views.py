"""Account pages reached through a mailed link: sign-up and address verification,
password reset, accepting a staff invitation.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _

from registration.accounts import invitations, services
from registration.accounts.errors import EmailTakenError, InvalidLinkError
from registration.accounts.forms import (
    AcceptInvitationForm,
    EmailOnlyForm,
    NewPasswordForm,
    SignupForm,
)
from registration.accounts.validation import password_problems
from registration.accounts.web import (
    LOGIN_LIMIT,
    MAIL_LIMIT,
    Page,
    after_login,
    bp,
    end_session,
    remember_device,
    start_session,
)
from registration.extensions import limiter
from registration.models import Role
from registration.session import get_clock, get_session, get_settings
from registration.templating import current_language

# --- sign-up and e-mail verification --------------------------------------------


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit(MAIL_LIMIT, methods=["POST"])
def signup() -> Page:
    form = SignupForm()
    if form.validate_on_submit():
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
        services.resend_verification(get_session(), get_clock(), get_settings(), form.email.data)
        flash(_("If this address has an unconfirmed account, we have sent a new link."), "success")
        return redirect(url_for("accounts.check_mail"), code=303)
    return render_template("accounts/check_mail.html", resend=form), 422


# --- password reset ----------------------------------------------------------------


@bp.route("/reset", methods=["GET", "POST"])
@limiter.limit(MAIL_LIMIT, methods=["POST"])
def request_reset() -> Page:
    form = EmailOnlyForm()
    if form.validate_on_submit():
        services.request_password_reset(get_session(), get_clock(), get_settings(), form.email.data)
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
            end_session()
            remember_device(user)  # the link proved the mailbox: this is the owner's device
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
                start_session(user)
                flash(
                    _(
                        "Welcome! You are now part of %(business)s.",
                        business=invitation.business.name,
                    ),
                    "success",
                )
                return after_login(user)
    return render_template(
        "accounts/accept_invitation.html", form=form, invitation=invitation, roles=Role
    ), 422 if form.errors else 200
