"""The `gastregister` command: operators' tools, one group for every package.

Commands that need no database (keygen, decrypt) do not build the app, so a health
office can run them offline on a machine without any configuration.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from flask import Flask
from flask.cli import FlaskGroup, with_appcontext

from registration.session import get_db, get_session


def _create_app() -> Flask:
    """The app for a command: its database waits as long as maintenance may (a purge
    rebuilding partitions, a migration), not as briefly as a guest's request."""
    from registration import create_app
    from registration.config import ConfigurationError, Settings
    from registration.database import Database, DatabaseTimeouts

    try:
        settings = Settings.from_env()
        database = Database(
            settings.database_url, timeouts=DatabaseTimeouts.for_maintenance(settings)
        )
        return create_app(settings, database=database)
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None


class GastregisterGroup(FlaskGroup):
    """Our commands only: listing them (`--help`) never builds the app, so help works
    on a host that is not configured yet; commands that need the app build it."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.commands)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self.commands.get(cmd_name)


@click.group(
    cls=GastregisterGroup,
    create_app=_create_app,
    add_default_commands=False,
    add_version_option=False,
    load_dotenv=False,
    set_debug_flag=False,
)
def main() -> None:
    """Gastregister: digital guest registration for health offices."""


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Migrate the database to the newest schema (safe to run again)."""
    from registration.migrate import upgrade

    session = get_session()
    upgrade(session.connection(), revision)
    session.commit()
    click.echo(f"Database at {revision} ({get_db().dialect}).")


@main.group()
def demo() -> None:
    """Demo data for `make run` (never in production)."""


@demo.command("seed")
@with_appcontext
def demo_seed() -> None:
    """Create the demo health office, key, business and location (idempotent)."""
    from registration.demo import seed_demo

    facts = seed_demo()
    for line in facts.lines():
        click.echo(line)


@main.command("serve-demo")
@click.option("--port", default=5000, show_default=True)
def serve_demo(port: int) -> None:
    """Serve the demo with gunicorn on 127.0.0.1 and print the logins.

    The web workers run the maintenance timer themselves (web mode), so the demo
    deletes on schedule without a separate `gastregister worker`.
    """
    from registration.demo import demo_banner

    os.environ.setdefault("GASTREGISTER_ENV", "demo")
    os.environ.setdefault("GASTREGISTER_SCHEDULER", "web")
    click.echo(demo_banner(port))
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    os.execv(  # noqa: S606 - replaces this process with the server, no shell involved
        gunicorn,
        [
            gunicorn,
            "-c",
            "python:registration.gunicorn_conf",
            "--bind",
            f"127.0.0.1:{port}",
            "registration.wsgi:app",
        ],
    )


@main.command("static-export", with_appcontext=False)
@click.argument("target", type=click.Path(file_okay=False, path_type=Path))
def static_export(target: Path) -> None:
    """Copy the static files to TARGET/<version>/ for nginx (after every upgrade).

    Needs no configuration: the version is a hash of the files themselves.
    """
    from registration.static_files import export_static

    destination = export_static(target)
    click.echo(f"Static files at {destination}")


def _attach_package_commands() -> None:
    """Commands of the other packages, attached here so there is one `gastregister`."""
    from registration.commands import commands

    for command in commands():
        main.add_command(command)


_attach_package_commands()
