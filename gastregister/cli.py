"""The `gastregister` command: one group that carries every package's commands.

Each package keeps its commands beside its code (registration.commands,
registration.retention.cli, registration.operator.commands, health_export.office_commands,
health_export.offline_commands, health_export.key_commands); this
module only builds the group, which attaches them when a command is looked up, plus
`serve-demo`, which runs the whole service from this package's gunicorn entry points.

Commands that need no database (keygen, decrypt, static-export) do not build the
app, so a health office can run them offline on a machine without any configuration.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from flask import Flask

# The modules that bring commands, each in a list named `commands`. They are imported
# when a command is looked up, the offline ones first: those import neither the app
# nor the database, so `gastregister decrypt` on a health office's computer starts
# without loading the server (half a second of a 50,000-visit decryption).
OFFLINE_COMMAND_MODULES = ("health_export.offline_commands", "health_export.key_commands")
SERVER_COMMAND_MODULES = (
    "registration.commands",
    "registration.retention.cli",
    "health_export.office_commands",
    "registration.operator.commands",
)


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


class GastregisterGroup(click.Group):
    """Our commands only, attached when looked up: listing them (`--help`) never builds
    the app, so help works on a host that is not configured yet.

    A plain click group, not Flask's FlaskGroup (none of whose options, --app,
    --env-file and --debug, this command needs), so an offline command starts without
    importing Flask. A command from a server module gets the app as FlaskGroup would
    give it: a ScriptInfo that builds it (`with_appcontext`), unless the caller passed
    one (Flask's test runner passes its app).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loaded_modules: set[str] = set()
        self.offline_commands: set[str] = set()

    def list_commands(self, ctx: click.Context) -> list[str]:
        self.load_commands(OFFLINE_COMMAND_MODULES + SERVER_COMMAND_MODULES)
        return sorted(self.commands)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        for modules in (OFFLINE_COMMAND_MODULES, SERVER_COMMAND_MODULES):
            if cmd_name in self.commands:
                break
            self.load_commands(modules)
        return self.commands.get(cmd_name)

    def load_commands(self, modules: tuple[str, ...]) -> None:
        """Attach the commands of these modules (once each)."""
        for module_name in modules:
            if module_name in self.loaded_modules:
                continue
            commands: list[click.Command] = importlib.import_module(module_name).commands
            for command in commands:
                self.add_command(command)
                if module_name in OFFLINE_COMMAND_MODULES and command.name is not None:
                    self.offline_commands.add(command.name)
            self.loaded_modules.add(module_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if name is not None and name not in self.offline_commands:
            from flask.cli import ScriptInfo

            if not isinstance(ctx.obj, ScriptInfo):
                ctx.obj = ScriptInfo(
                    create_app=_create_app, set_debug_flag=False, load_dotenv_defaults=False
                )
        return name, command, rest


@click.group(cls=GastregisterGroup)
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
