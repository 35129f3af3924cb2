"""The CLI commands contributed by each package, attached to `gastregister`."""

from __future__ import annotations

import click


def commands() -> list[click.Command]:
    from health_export.cli import commands as office_commands
    from health_export.key_commands import commands as key_commands
    from registration.retention.cli import commands as retention_commands

    return [*key_commands, *office_commands, *retention_commands]
