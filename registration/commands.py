"""The shared core's commands: database schema, demo data, static files, the audit check.

Plain click commands; the composition root (gastregister.cli) attaches them to the
`gastregister` group beside the other packages' commands. Commands that need the
database run inside the app that group builds (`with_appcontext`); `static-export`
needs no configuration at all.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import with_appcontext

from registration.session import get_db, get_session, get_settings


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Migrate the database to the newest schema (safe to run again)."""
    from registration.migrate import upgrade

    # The first write of a new installation: the instance folder and the SQLite file's
    # folder are made here, not in create_app (which writes nothing).
    get_settings().instance_path.mkdir(parents=True, exist_ok=True)
    sqlite_path = get_db().sqlite_path
    if sqlite_path is not None:
        sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    session = get_session()
    upgrade(session.connection(), revision, settings=get_settings())
    session.commit()
    click.echo(f"Database at {revision} ({get_db().dialect}).")


@click.group()
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


@click.command("static-export")
@click.argument("target", type=click.Path(file_okay=False, path_type=Path))
def static_export(target: Path) -> None:
    """Copy the static files to TARGET/<version>/ for nginx (after every upgrade).

    Needs no configuration: the version is a hash of the files themselves.
    """
    from registration.static_files import export_static

    destination = export_static(target)
    click.echo(f"Static files at {destination}")


@click.group("audit")
def audit() -> None:
    """The tamper-evident audit log."""


@audit.command("verify")
@with_appcontext
def audit_verify() -> None:
    """Recompute the hash chain over every entry; exit 1 if it is broken."""
    from registration.audit import all_events, verify_chain

    events = all_events(get_session())
    try:
        report = verify_chain(events)
    finally:
        # A broken chain stops the check early; the server-side cursor must still close.
        close = getattr(events, "close", None)
        if close is not None:
            close()
    if report.intact:
        click.echo(f"Audit log intact: {report.checked} entries checked.")
        return
    click.echo(
        f"Audit log BROKEN at entry {report.first_broken_id} "
        f"({report.checked} entries before it are intact).",
        err=True,
    )
    sys.exit(1)


commands: list[click.Command] = [db, demo, static_export, audit]
