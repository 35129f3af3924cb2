"""The e-mail address and first password of an account added on the command line.

`gastregister operator add` and `gastregister health-office add-user` take the same
two inputs with the same rules: the address checked as the sign-up form checks it,
and the first password either typed (no echo, twice, checked as a chosen password)
or made here and shown once, to be handed over in person.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import click

from registration.accounts.validation import email_problems, normalise_email, password_problems


@dataclass(frozen=True)
class FirstLogin:
    email: str
    password: str
    typed: bool


def read_first_login(email: str, *, ask_password: bool) -> FirstLogin:
    """The checked address and a first password; click errors name what is wrong."""
    email = normalise_email(email)
    for problem in email_problems(email):
        raise click.UsageError(problem)
    if not ask_password:
        return FirstLogin(email, secrets.token_urlsafe(15), typed=False)
    password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    for problem in password_problems(password, email):
        raise click.ClickException(problem)
    return FirstLogin(email, password, typed=True)


def tell_first_login(login: FirstLogin) -> None:
    """After the account is stored: the one-time password (if made here) and what follows."""
    if not login.typed:
        click.echo(f"One-time password (shown once, hand it over in person): {login.password}")
    click.echo("Two-factor log-in (TOTP) is set up at the first log-in.")
