"""`keygen` and `key show`, run through click's test runner with typed passphrases."""

from __future__ import annotations

import datetime as dt
import json
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import crypto
from health_export.key_commands import key_group, keygen_command

PASSPHRASE = "Gesundheitsamt Jena, Raum 2026, Tresor links"
FINGERPRINT = re.compile(r"Fingerprint: ((?:[0-9A-F]{4} ){15}[0-9A-F]{4})\n")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "office.key.json"
    path.write_bytes(
        crypto.write_key_file(
            crypto.generate_private_key(),
            PASSPHRASE,
            created=dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC),
            iterations=crypto.MIN_ITERATIONS,
        )
    )
    return path


PROPOSED = "abend-zyste-abgas-dachs-kanne-ufer"


def test_keygen_proposes_a_strong_passphrase_and_shows_it_once(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(crypto, "generate_passphrase", lambda: PROPOSED)
    out = tmp_path / "office.key.json"
    # Typed back once, so that nobody leaves without having written it down.
    typed = f"{PROPOSED}x\n{PROPOSED}\n"
    result = runner.invoke(keygen_command, ["--out", str(out)], input=typed)
    assert result.exit_code == 0, result.output
    assert result.output.count(PROPOSED) == 1
    assert "do not match" in result.output
    assert "Schreiben Sie" in result.output and "Write it down" in result.output
    opened = crypto.read_key_file(out.read_bytes(), PROPOSED)
    match = FINGERPRINT.search(result.output)
    assert match is not None and match.group(1) == crypto.format_fingerprint(opened.key_id)


def test_a_real_proposal_is_six_words(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "office.key.json"
    first = runner.invoke(keygen_command, ["--out", str(out)], input="\n" * 3)
    assert first.exit_code == 1 and not out.exists()
    proposal = re.search(r"^ {4}(\S+)$", first.output, re.M)
    assert proposal is not None and len(proposal.group(1).split("-")) == 6


@pytest.mark.parametrize("weak", ["aaaaaaaaaaaa", "Passwort1234", "Gesundheitsamt Jena 2026"])
def test_keygen_refuses_a_weak_chosen_passphrase(
    runner: CliRunner, tmp_path: Path, weak: str
) -> None:
    out = tmp_path / "office.key.json"
    typed = f"{weak}\n{PASSPHRASE}\n{PASSPHRASE}\n"
    result = runner.invoke(keygen_command, ["--out", str(out), "--choose-passphrase"], input=typed)
    assert result.exit_code == 0, result.output
    assert "too easy to guess" in result.output and "zu leicht zu erraten" in result.output
    with pytest.raises(crypto.KeyFileError):
        crypto.read_key_file(out.read_bytes(), weak)
    assert crypto.read_key_file(out.read_bytes(), PASSPHRASE)


def test_keygen_writes_a_key_file_that_opens(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "office.key.json"
    result = runner.invoke(
        keygen_command, ["--out", str(out), "--choose-passphrase"], input=f"{PASSPHRASE}\n" * 2
    )
    assert result.exit_code == 0, result.output
    assert PASSPHRASE not in result.output

    opened = crypto.read_key_file(out.read_bytes(), PASSPHRASE)
    match = FINGERPRINT.search(result.output)
    assert match is not None
    assert match.group(1) == crypto.format_fingerprint(opened.key_id)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert json.loads(out.read_bytes())["kdf"]["iterations"] == 600_000
    assert abs(opened.created - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)


def test_keygen_never_overwrites(runner: CliRunner, key_file: Path) -> None:
    before = key_file.read_bytes()
    result = runner.invoke(keygen_command, ["--out", str(key_file)], input=f"{PASSPHRASE}\n" * 2)
    assert result.exit_code == 1
    assert "already exists" in result.output
    assert "Passphrase" not in result.output
    assert key_file.read_bytes() == before


def test_keygen_asks_again_after_a_short_or_mismatched_passphrase(
    runner: CliRunner, tmp_path: Path
) -> None:
    out = tmp_path / "office.key.json"
    typed = f"too short\n{PASSPHRASE}\n{PASSPHRASE}x\n{PASSPHRASE}\n{PASSPHRASE}\n"
    result = runner.invoke(keygen_command, ["--out", str(out), "--choose-passphrase"], input=typed)
    assert result.exit_code == 0, result.output
    assert "at least 12 characters" in result.output
    assert "do not match" in result.output
    assert crypto.read_key_file(out.read_bytes(), PASSPHRASE)


def test_keygen_gives_up_after_three_attempts(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "office.key.json"
    typed = f"{PASSPHRASE}\nsomething else entirely\n" * 3
    result = runner.invoke(keygen_command, ["--out", str(out), "--choose-passphrase"], input=typed)
    assert result.exit_code == 1
    assert "no key file was written" in result.output
    assert not out.exists()


def test_key_show_needs_no_passphrase(runner: CliRunner, key_file: Path) -> None:
    metadata = crypto.read_key_file_metadata(key_file.read_bytes())
    result = runner.invoke(key_group, ["show", str(key_file)])
    assert result.exit_code == 0, result.output
    assert f"Fingerprint: {metadata.fingerprint}\n" in result.output
    assert f"Key ID:      {metadata.key_id.hex()}\n" in result.output
    assert "Created:     2026-11-21 12:00:00 UTC\n" in result.output
    assert f"Public key:  {crypto.b64url_encode(metadata.public_spki)}\n" in result.output
    assert "Passphrase" not in result.output


def test_key_show_checks_the_passphrase_on_request(runner: CliRunner, key_file: Path) -> None:
    good = runner.invoke(key_group, ["show", str(key_file), "--check-passphrase"], input=PASSPHRASE)
    assert good.exit_code == 0, good.output
    assert "The passphrase opens this key file." in good.output

    bad = runner.invoke(key_group, ["show", str(key_file), "--check-passphrase"], input="wrong\n")
    assert bad.exit_code == 1
    assert "Wrong passphrase" in bad.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a key file", "not a valid Gastregister key file"),
        (b'{"format": "gastregister-keyfile", "version": 2}', "not supported"),
    ],
    ids=["malformed", "unsupported"],
)
def test_key_show_explains_a_bad_file(
    runner: CliRunner, tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    result = runner.invoke(key_group, ["show", str(path)])
    assert result.exit_code == 1
    assert message in result.output


def test_key_show_of_a_missing_file(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(key_group, ["show", str(tmp_path / "missing.json")])
    assert result.exit_code == 1
    assert "Cannot read" in result.output


def test_commands_load_without_flask() -> None:
    """The health office runs these offline; importing them must not pull in the web app."""
    code = (
        "import sys, health_export.key_commands; "
        "assert 'flask' not in sys.modules, 'flask imported'; "
        "assert 'sqlalchemy' not in sys.modules, 'sqlalchemy imported'"
    )
    completed = subprocess.run(  # same interpreter, fixed arguments
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stderr
