"""The `gastregister` command: one group that carries every package's commands.

Each package keeps its commands beside its code (registration.commands,
registration.retention.cli, registration.operator.commands, health_export.office_commands,
health_export.offline_commands, health_export.key_commands); this
module only builds the group and attaches them, plus `serve-demo`, which runs the
whole service from this package's gunicorn entry points.

Commands that need no database (keygen, decrypt, static-export) do not build the
app, so a health office can run them offline on a machine without any configuration.
"""

from __future__ import annotations

import os
import sys

import click
from flask import Flask
from flask.cli import FlaskGroup

from health_export.key_commands import commands as key_commands
from health_export.office_commands import commands as office_commands
from health_export.offline_commands import commands as offline_commands
from registration.commands import commands as core_commands
from registration.operator.commands import commands as operator_commands
from registration.retention.cli import commands as retention_commands


def _create_app() -> Flask:
    """The app for a command: its database waits as long as maintenance may (a purge
    rebuilding partitions, a migration), not as briefly as a guest's request."""
    from gastregister.app import create_app
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
            "python:gastregister.gunicorn_conf",
            "--bind",
            f"127.0.0.1:{port}",
            "gastregister.wsgi:app",
        ],
    )


for _command in (
    *core_commands,
    *retention_commands,
    *office_commands,
    *offline_commands,
    *key_commands,
    *operator_commands,
):
    main.add_command(_command)
