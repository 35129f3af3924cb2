"""`gastregister operator add`: the town's IT creates the operator accounts that open
the overview (/betreiber). There is no sign-up for this role on the web."""

from __future__ import annotations

import secrets

import click
from flask.cli import with_appcontext


@click.group("operator")
def operator() -> None:
    """Operator accounts: counts over the whole service, no guest data."""


@operator.command("add")
@click.argument("email")
@click.option("--display-name", default="", help="Name shown in the portal and the audit log.")
@click.option(
    "--ask-password",
    is_flag=True,
    help="Ask for the first password (no echo) instead of printing a one-time password.",
)
@with_appcontext
def add_operator(email: str, display_name: str, ask_password: bool) -> None:
    """Add an operator account for EMAIL; TOTP is set up at the first log-in."""
    from registration.accounts import services as accounts
    from registration.accounts.errors import EmailTakenError
    from registration.accounts.validation import email_problems, normalise_email, password_problems
    from registration.session import get_clock, get_session

    email = normalise_email(email)
    for problem in email_problems(email):
        raise click.UsageError(problem)
    if ask_password:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        for problem in password_problems(password, email):
            raise click.ClickException(problem)
    else:
        password = secrets.token_urlsafe(15)
    try:
        accounts.add_operator(
            get_session(),
            get_clock(),
            email=email,
            display_name=display_name,
            password=password,
        )
    except EmailTakenError:
        raise click.ClickException(f"an account for {email} exists already") from None
    click.echo(f"Added operator {email}.")
    if not ask_password:
        click.echo(f"One-time password (shown once, hand it over in person): {password}")
    click.echo("Two-factor log-in (TOTP) is set up at the first log-in.")


commands: list[click.Command] = [operator]
