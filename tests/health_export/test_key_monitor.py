"""`gastregister key monitor` against a live server whose database hands out a wrong key."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import update

import crypto
from health_export import key_monitor
from health_export.key_commands import EXIT_FOREIGN_KEY, EXIT_UNCHECKED, key_group
from registration.models import HealthOfficeKey
from tests import factories
from tests.local_servers import LiveServer

PASSPHRASE = "Monitor-Test Passphrase 2026"


@pytest.fixture
def scene(live_server: LiveServer, tmp_path: Path) -> dict[str, Any]:
    """An office with its key, a location with two areas, and the office's key file."""
    now = live_server.clock.now()
    with factories.committing(live_server.database) as session:
        office = factories.health_office(session, postal_codes=["10115"])
        key, private_key = factories.office_key(session, office, now=now)
        business = factories.business(session)
        place = factories.location(session, business, office=office, areas=["Saal", "Garten"])
        codes = [area.code for area in place.areas]
    key_file = tmp_path / "amt.key.json"
    key_file.write_bytes(
        crypto.write_key_file(
            private_key, PASSPHRASE, created=now, iterations=crypto.MIN_ITERATIONS
        )
    )
    areas_file = tmp_path / "bereiche.txt"
    areas_file.write_text(
        f"# Wirtshaus\n{live_server.url}/c/{codes[0]}\n\n{codes[1]}\n", encoding="utf-8"
    )
    return {
        "office": office,
        "key": key,
        "codes": codes,
        "key_file": key_file,
        "areas_file": areas_file,
        "fingerprint": crypto.format_fingerprint(bytes.fromhex(key.key_id)),
    }


VALUE_OPTIONS = {"--key-file", "--fingerprint", "--areas-file", "--url"}


def monitor(live_server: LiveServer, *args: str) -> Any:
    """Options first, then the codes after `--`: a code may begin with `-`."""
    options: list[str] = []
    codes: list[str] = []
    items = iter(args)
    for item in items:
        if item in VALUE_OPTIONS:
            options += [item, next(items)]
        else:
            codes.append(item)
    return CliRunner().invoke(
        key_group, ["monitor", "--url", live_server.url, *options, "--", *codes]
    )


def test_all_areas_hand_out_the_offices_key(live_server: LiveServer, scene: dict[str, Any]) -> None:
    result = monitor(live_server, "--key-file", str(scene["key_file"]), *scene["codes"])
    assert result.exit_code == 0, result.output
    assert result.output.count("OK ") == 4  # two areas, API and guest page each
    assert scene["fingerprint"] in result.output
    assert "only your office's keys" in result.output

    by_fingerprint = monitor(
        live_server,
        "--fingerprint",
        scene["fingerprint"],
        "--areas-file",
        str(scene["areas_file"]),
    )
    assert by_fingerprint.exit_code == 0, by_fingerprint.output
    assert by_fingerprint.output.count("OK ") == 4


def test_a_key_planted_in_the_database_raises_the_alarm(
    live_server: LiveServer, scene: dict[str, Any]
) -> None:
    """A newer active key that the office never made: guests would seal to it."""
    with factories.committing(live_server.database) as session:
        planted, _ = factories.office_key(
            session,
            scene["office"],
            activated_at=live_server.clock.now() - dt.timedelta(minutes=5),
        )
    planted_fingerprint = crypto.format_fingerprint(bytes.fromhex(planted.key_id))
    result = monitor(live_server, "--key-file", str(scene["key_file"]), *scene["codes"])
    assert result.exit_code == EXIT_FOREIGN_KEY, result.output
    assert result.output.count("FOREIGN KEY") == 4
    assert planted_fingerprint in result.output
    assert "!!! ALARM" in result.output and "not your office's" in result.output

    # During a rotation the office names both keys: then all is well.
    assert (
        monitor(
            live_server,
            "--key-file",
            str(scene["key_file"]),
            "--fingerprint",
            planted.key_id,
            *scene["codes"],
        ).exit_code
        == 0
    )


def test_a_public_key_swapped_under_the_offices_key_id_raises_the_alarm(
    live_server: LiveServer, scene: dict[str, Any]
) -> None:
    """The key id still says "the office's", but the browser would seal to another key."""
    other_spki = crypto.public_key_spki(crypto.generate_private_key())
    with factories.committing(live_server.database) as session:
        session.execute(
            update(HealthOfficeKey)
            .where(HealthOfficeKey.key_id == scene["key"].key_id)
            .values(public_spki=other_spki)
        )
    result = monitor(live_server, "--key-file", str(scene["key_file"]), scene["codes"][0])
    assert result.exit_code == EXIT_FOREIGN_KEY, result.output
    assert result.output.count("KEY ID DOES NOT MATCH") == 2
    assert crypto.format_fingerprint(crypto.key_id(other_spki)) in result.output


def test_unknown_codes_and_an_unreachable_server_are_reported(
    live_server: LiveServer, scene: dict[str, Any]
) -> None:
    result = monitor(live_server, "--key-file", str(scene["key_file"]), "Unbekannt123")
    assert result.exit_code == EXIT_UNCHECKED, result.output
    assert "unknown code" in result.output and "Not every area" in result.output

    closed = CliRunner().invoke(
        key_group,
        [
            "monitor",
            "--url",
            "http://127.0.0.1:9",
            "--fingerprint",
            scene["fingerprint"],
            "--",
            scene["codes"][0],
        ],
    )
    assert closed.exit_code == EXIT_UNCHECKED and "unreachable" in closed.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--url", "http://gastregister.example.de", "--fingerprint", "0" * 64, "A1"], "HTTPS"),
        (["--url", "https://x.example", "--fingerprint", "E665 9E7D A73D 8772", "A1"], "64"),
        (["--url", "https://x.example", "A1"], "--key-file"),
        (["--url", "https://x.example", "--fingerprint", "0" * 64], "at least one area"),
        (["--url", "https://x.example", "--fingerprint", "0" * 64, "a/b"], "Not an area code"),
    ],
)
def test_bad_setup_is_refused_before_anything_is_fetched(args: list[str], message: str) -> None:
    result = CliRunner().invoke(key_group, ["monitor", *args])
    assert result.exit_code == 2 and message in result.output


def test_the_page_of_an_area_without_a_form_is_not_checked_but_the_api_is() -> None:
    key_id = "ab" * 32

    def fetch(url: str, accept: str) -> tuple[int, bytes]:
        if "/api/" in url:
            return 200, b'{"key": null}'
        return 200, b"<html><body>Eingangscode</body></html>"

    found = key_monitor.check_areas("https://x.example", ["A1"], frozenset({key_id}), fetch)
    assert [o.finding for o in found] == [
        key_monitor.Finding.NO_KEY,
        key_monitor.Finding.NOT_CHECKED,
    ]
