"""The operator's `gastregister` commands that the foundation provides."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import crypto
from gastregister import create_app
from gastregister.cli import main
from registration.config import Settings
from registration.demo import DEMO_PASSPHRASE
from registration.models import Area, HealthOffice, HealthOfficeKey, KeyState, Location, User

ROOT = Path(__file__).resolve().parents[2]


def test_demo_seed_is_idempotent_and_gives_a_working_key(
    runner: FlaskCliRunner, db_session: Session, settings: Settings
) -> None:
    first = runner.invoke(main, ["demo", "seed"])
    assert first.exit_code == 0, first.output
    assert "DEMO ONLY" in first.output
    second = runner.invoke(main, ["demo", "seed"])
    assert second.exit_code == 0, second.output

    assert db_session.scalar(select(func.count()).select_from(Location)) == 1
    assert db_session.scalar(select(func.count()).select_from(Area)) == 2
    assert db_session.scalar(select(func.count()).select_from(HealthOffice)) == 2
    assert db_session.scalar(select(func.count()).select_from(User)) == 3
    key = db_session.scalars(select(HealthOfficeKey)).one()
    assert key.state is KeyState.ACTIVE

    key_file = settings.instance_path / "demo" / "demo-health-office.key.json"
    opened = crypto.read_key_file(key_file.read_bytes(), DEMO_PASSPHRASE)
    assert opened.key_id.hex() == key.key_id
    demo = settings.instance_path / "demo"
    # The passphrase file is exactly the passphrase; the warning sits beside it.
    assert (demo / "demo-passphrase.txt").read_text(encoding="utf-8") == DEMO_PASSPHRASE + "\n"
    assert "DEMO ONLY" in (demo / "README-DEMO-ONLY.txt").read_text(encoding="utf-8")


def test_demo_seed_refuses_production(settings: Settings, app: Flask) -> None:
    production = Settings.from_mapping(
        {"environment": "production", "secret_key": "p" * 48, "mail_server": "127.0.0.1"},
        base=settings,
    )
    production_app = create_app(production, database=app.extensions["gastregister.db"])
    result = production_app.test_cli_runner().invoke(main, ["demo", "seed"])
    assert result.exit_code != 0
    assert not (settings.instance_path / "demo").exists()


def test_db_upgrade_is_safe_to_repeat(runner: FlaskCliRunner) -> None:
    result = runner.invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "Database at head" in result.output


def test_help_works_and_misconfiguration_is_one_clear_line() -> None:
    """An operator's first `gastregister --help` on an unconfigured production host."""
    from click.testing import CliRunner

    env = {"GASTREGISTER_ENV": "production", "SECRET_KEY": ""}
    runner = CliRunner()
    help_result = runner.invoke(main, ["--help"], env=env)
    assert help_result.exit_code == 0, help_result.output
    for command in ("worker", "purge", "status", "keygen", "decrypt", "health-office", "audit"):
        assert command in help_result.output

    status = runner.invoke(main, ["status"], env=env)
    assert status.exit_code == 1
    assert "SECRET_KEY is not set" in status.output
    assert "Traceback" not in status.output


def test_create_app_writes_nothing_and_db_upgrade_makes_the_folders(tmp_path: Path) -> None:
    """create_app has no side effects; the first `db upgrade` creates the instance folder
    and the SQLite database's folder (a `file:` URI included)."""
    instance = tmp_path / "instance"
    data = tmp_path / "data"
    settings = Settings.from_env(
        {
            "GASTREGISTER_ENV": "demo",
            "GASTREGISTER_INSTANCE_PATH": str(instance),
            "DATABASE_URL": f"sqlite:///{data}/gastregister.db",
        }
    )
    app = create_app(settings)
    assert not instance.exists() and not data.exists()
    result = app.test_cli_runner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert instance.is_dir() and (data / "gastregister.db").is_file()


def test_the_offline_decrypt_command_starts_without_the_server() -> None:
    """A health office's computer runs `gastregister decrypt`: looking it up imports
    neither the app nor the database (half a second of its start-up), listing all
    commands still finds every one."""
    probe = (
        "import sys\n"
        "from gastregister.cli import main\n"
        "assert main.get_command(None, 'decrypt') is not None\n"
        "print(sorted(m for m in ('sqlalchemy', 'gastregister.app', 'registration.models')"
        " if m in sys.modules))\n"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert found.stdout.strip() == "[]"
