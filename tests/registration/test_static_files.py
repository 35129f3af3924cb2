"""Static files under versioned URLs: cached for a year, never stale after an upgrade."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event
from sqlalchemy.orm import Session

from gastregister.cli import main
from registration.clock import FrozenClock
from registration.models import Role
from registration.static_files import STATIC_FOLDER, export_static, static_version
from tests import factories
from tests.health_export.office_support import sign_in


def _copy_of_static(tmp_path: Path) -> Path:
    folder = tmp_path / "static"
    for path in STATIC_FOLDER.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            target = folder / path.relative_to(STATIC_FOLDER)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    return folder


def test_pages_link_versioned_static_urls_served_with_a_long_cache(client: FlaskClient) -> None:
    page = client.get("/").get_data(as_text=True)
    [stylesheet] = re.findall(r'href="(/static/[^"]+/css/app\.css)"', page)
    assert stylesheet == f"/static/{static_version()}/css/app.css"
    response = client.get(stylesheet)
    response.close()
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert client.get("/static/000000000000/css/app.css").status_code == 404
    assert client.get("/").headers["Cache-Control"] == "no-store"


def test_the_version_changes_with_any_file(tmp_path: Path) -> None:
    folder = _copy_of_static(tmp_path)
    before = static_version(folder)
    assert before == static_version(STATIC_FOLDER)
    script = folder / "js" / "checkin.js"
    script.write_bytes(script.read_bytes() + b"\n")
    assert static_version(folder) != before


def test_export_writes_one_folder_per_version_and_keeps_older_ones(tmp_path: Path) -> None:
    folder = _copy_of_static(tmp_path)
    target = tmp_path / "public" / "static"
    first = export_static(target, folder)
    assert first == target / static_version(folder)
    assert (first / "js" / "checkin.js").read_bytes() == (folder / "js" / "checkin.js").read_bytes()
    (folder / "css" / "app.css").write_text("/* changed */", encoding="utf-8")
    second = export_static(target, folder)
    assert second != first and first.exists() and second.exists()
    assert export_static(target, folder) == second  # again: nothing to do
    assert sorted(p.name for p in target.iterdir()) == sorted([first.name, second.name])


def test_static_export_command_needs_no_configuration(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["static-export", str(tmp_path / "out")], env={})
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / static_version() / "vendor" / "hpke.js").is_file()


def test_static_files_never_touch_the_database(
    app: Flask, db_session: Session, clock: FrozenClock
) -> None:
    """A page loads a dozen modules at once: if each asked the database (as a session
    hook for signed-in users did), a slow database turned the page's scripts into 503s.
    A signed-in office user's static requests must run without a single query."""
    admin = factories.user(
        db_session, role=Role.HEALTH_OFFICE_ADMIN, office=factories.health_office(db_session)
    )
    db_session.commit()
    client = app.test_client()
    sign_in(client, admin, clock)
    statements: list[str] = []
    engine = app.extensions["gastregister.db"].engine
    listener = lambda *args: statements.append(str(args[2]))  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        response = client.get(f"/static/{static_version()}/css/app.css")
        response.close()
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert response.status_code == 200
    # The test database wraps each request in a savepoint; no query may run inside.
    queries = [s for s in statements if not s.startswith(("SAVEPOINT", "RELEASE", "ROLLBACK"))]
    assert queries == []


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_focus_ring_stands_out_from_every_page_background() -> None:
    """WCAG 2.1 1.4.11: a focus indicator needs 3:1 against what surrounds it (the
    yellow ring had 1.64:1 on white)."""
    css = (STATIC_FOLDER / "css" / "app.css").read_text()
    colours = {
        name: value if len(value) == 7 else "#" + "".join(c * 2 for c in value[1:])
        for name, value in re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6}|#[0-9a-fA-F]{3})\b", css)
    }
    for background in ("bg", "card"):
        assert _contrast(colours["focus"], colours[background]) >= 3, background
