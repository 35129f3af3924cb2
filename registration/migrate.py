"""Running Alembic from code, for the CLI and the tests."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from registration.config import Settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(
    connection: Connection | None = None, url: str | None = None, settings: Settings | None = None
) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    if settings is not None:
        # Migrations that key hashes of stored values (0005) derive their keys from it.
        config.attributes["settings"] = settings
    return config


def upgrade(
    connection: Connection, revision: str = "head", settings: Settings | None = None
) -> None:
    command.upgrade(alembic_config(connection, settings=settings), revision)


def downgrade(connection: Connection, revision: str) -> None:
    command.downgrade(alembic_config(connection), revision)
