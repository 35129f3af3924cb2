"""`gastregister keygen`, `key show` and `key monitor`: on the health office's machine.

These commands run on the health office's own computer; they need neither Flask nor
the database, only the crypto package (and, for the monitor, the standard library's
urllib). The passphrase is read from the terminal without echo, never from an option
or the environment, where it would end up in shell history or process listings.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path

import click

import crypto
from health_export import key_monitor
from health_export.key_monitor import Finding, KeyObservation

_PASSPHRASE_ATTEMPTS = 3


def _read_key_file_bytes(path: Path) -> bytes:
    try:
        with path.open("rb") as key_file:
            # Anything longer than a key file can be is not one; do not read it all.
            return key_file.read(64 * 1024)
    except OSError as error:
        raise click.ClickException(f"Cannot read {path}: {error.strerror}") from None


def _write_new_file(path: Path, data: bytes) -> None:
    """Create ``path`` readable by its owner only, refusing to replace anything."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise click.ClickException(
            f"{path} already exists. An existing key file is never overwritten."
        ) from None
    except OSError as error:
        raise click.ClickException(f"Cannot create {path}: {error.strerror}") from None
    with os.fdopen(descriptor, "wb") as key_file:
        key_file.write(data)


def _chosen_passphrase() -> str:
    click.echo(
        f"Wählen Sie eine Passphrase (mindestens {crypto.MIN_PASSPHRASE_LENGTH} Zeichen, schwer "
        "zu erraten). Sie kann nicht wiederhergestellt werden.\n"
        f"Choose a passphrase (at least {crypto.MIN_PASSPHRASE_LENGTH} characters, hard to "
        "guess). It cannot be recovered: without it, records sealed to this key cannot be opened."
    )
    for _ in range(_PASSPHRASE_ATTEMPTS):
        passphrase: str = click.prompt("Passphrase", hide_input=True)
        try:
            crypto.check_new_passphrase(passphrase)
        except crypto.GuessablePassphraseError:
            click.echo(
                "Fehler: Die Passphrase ist zu leicht zu erraten. Nehmen Sie die "
                "vorgeschlagene (ohne --choose-passphrase) oder mehrere unabhängige Wörter.\n"
                "Error: The passphrase is too easy to guess. Use a proposed one (without "
                "--choose-passphrase) or several unrelated words.",
                err=True,
            )
            continue
        except crypto.WeakPassphraseError as error:
            click.echo(
                f"Fehler: Die Passphrase braucht mindestens {crypto.MIN_PASSPHRASE_LENGTH} "
                f"Zeichen.\nError: {error}",
                err=True,
            )
            continue
        if click.prompt("Repeat passphrase", hide_input=True) != passphrase:
            click.echo(
                "Fehler: Die beiden Passphrasen stimmen nicht überein.\n"
                "Error: The two passphrases do not match.",
                err=True,
            )
            continue
        return passphrase
    raise click.ClickException("No passphrase was set, so no key file was written.")


def _proposed_passphrase() -> str:
    """A passphrase of six German words, shown once and typed back once."""
    passphrase = crypto.generate_passphrase()
    click.echo(
        "Passphrase der neuen Schlüsseldatei / Passphrase of the new key file:\n\n"
        f"    {passphrase}\n\n"
        "Schreiben Sie sie jetzt auf (Papier, Tresor); sie wird nur dieses eine Mal gezeigt "
        "und kann nicht wiederhergestellt werden.\n"
        "Write it down now (paper, safe); it is shown only this once and cannot be recovered."
    )
    for _ in range(_PASSPHRASE_ATTEMPTS):
        typed: str = click.prompt(
            "Passphrase zur Bestätigung eintippen / Type it to confirm", hide_input=True
        )
        if typed.strip() == passphrase:
            return passphrase
        click.echo(
            "Fehler: Das ist nicht die gezeigte Passphrase.\n"
            "Error: The passphrases do not match the one shown.",
            err=True,
        )
    raise click.ClickException("The passphrase was not confirmed, so no key file was written.")


def _created_text(created: dt.datetime) -> str:
    return created.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@click.command("keygen")
@click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the new key file. An existing file is never overwritten.",
)
@click.option(
    "--choose-passphrase",
    is_flag=True,
    help="Type your own passphrase instead of the proposed six words; weak ones are refused.",
)
def keygen_command(out_path: Path, choose_passphrase: bool) -> None:
    """Create a health office's key pair and write it to a passphrase-protected key file.

    The passphrase is proposed: six words from a German word list, drawn at random
    (about 77 bits), shown once. Register the printed fingerprint with the operator
    and compare it on a second channel (telephone, letter) before the key is activated.
    """
    if out_path.exists():
        raise click.ClickException(
            f"{out_path} already exists. An existing key file is never overwritten."
        )
    passphrase = _chosen_passphrase() if choose_passphrase else _proposed_passphrase()
    private_key = crypto.generate_private_key()
    data = crypto.write_key_file(private_key, passphrase, created=dt.datetime.now(dt.UTC))
    _write_new_file(out_path, data)
    metadata = crypto.read_key_file_metadata(data)
    click.echo(f"Key file written: {out_path}")
    click.echo(f"Fingerprint: {metadata.fingerprint}")
    click.echo("Keep a copy of the key file in a safe place; nobody can restore it.")


@click.group("key")
def key_group() -> None:
    """Inspect health-office key files."""


@key_group.command("show")
@click.argument("key_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--check-passphrase",
    is_flag=True,
    help="Also ask for the passphrase and check that it opens the key file.",
)
def show_command(key_file: Path, check_passphrase: bool) -> None:
    """Show a key file's fingerprint and creation date (no passphrase needed)."""
    data = _read_key_file_bytes(key_file)
    try:
        metadata = crypto.read_key_file_metadata(data)
    except crypto.KeyFileError as error:
        raise click.ClickException(f"{key_file}: {error}") from None
    click.echo(f"Key file:    {key_file}")
    click.echo(f"Fingerprint: {metadata.fingerprint}")
    click.echo(f"Key ID:      {crypto.key_id_hex(metadata.key_id)}")
    click.echo(f"Created:     {_created_text(metadata.created)}")
    click.echo(f"Public key:  {crypto.b64url_encode(metadata.public_spki)}")
    if check_passphrase:
        passphrase: str = click.prompt("Passphrase", hide_input=True)
        try:
            crypto.read_key_file(data, passphrase)
        except crypto.KeyFileError as error:
            raise click.ClickException(f"{key_file}: {error}") from None
        click.echo("The passphrase opens this key file.")


EXIT_UNCHECKED = 1
EXIT_FOREIGN_KEY = 4

_SOURCES = {"api": "API", "page": "Gästeseite / guest page"}
_PROBLEMS = {
    Finding.FOREIGN_KEY: "FREMDER SCHLÜSSEL / FOREIGN KEY",
    Finding.KEY_ID_MISMATCH: "SCHLÜSSEL-ID PASST NICHT / KEY ID DOES NOT MATCH THE KEY",
    Finding.NO_KEY: "kein Schlüssel, Gäste können sich nicht registrieren / no key, guests cannot check in",
    Finding.NOT_FOUND: "unbekannter Code / unknown code",
    Finding.UNREACHABLE: "nicht erreichbar / unreachable",
    Finding.NOT_CHECKED: "ohne Formular (Eingangscode oder geschlossen), nicht geprüft / "
    "no form (entrance code or closed), not checked",
}


def _office_key_ids(key_files: tuple[Path, ...], fingerprints: tuple[str, ...]) -> frozenset[str]:
    key_ids = set()
    for key_file in key_files:
        try:
            metadata = crypto.read_key_file_metadata(_read_key_file_bytes(key_file))
        except crypto.KeyFileError as error:
            raise click.ClickException(f"{key_file}: {error}") from None
        key_ids.add(crypto.key_id_hex(metadata.key_id))
    for text in fingerprints:
        try:
            key_ids.add(key_monitor.parse_fingerprint(text))
        except key_monitor.MonitorSetupError as error:
            raise click.BadParameter(str(error), param_hint="--fingerprint") from None
    if not key_ids:
        raise click.UsageError(
            "Name the office's keys: --key-file (its public part is read, no passphrase) "
            "or --fingerprint."
        )
    return frozenset(key_ids)


def _report(observation: KeyObservation) -> None:
    where = f"{observation.area_code} ({_SOURCES[observation.source]})"
    if observation.finding is Finding.OFFICE_KEY:
        click.echo(f"OK     {where}: {observation.fingerprint}")
        return
    text = _PROBLEMS[observation.finding]
    if observation.fingerprint:
        text += f": {observation.fingerprint}"
    if observation.detail:
        text += f" ({observation.detail})"
    label = "ALARM  " if observation.finding in key_monitor.ALARMS else "Achtung / Warning: "
    click.echo(f"{label}{where}: {text}", err=observation.finding is not Finding.NOT_CHECKED)


@key_group.command("monitor")
@click.argument("codes", metavar="[AREA_CODE]...", nargs=-1)
@click.option(
    "--url",
    "service_url",
    required=True,
    help="The service's address, e.g. https://gastregister.example.de.",
)
@click.option(
    "--areas-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Area codes (or check-in URLs from the posters), one per line; # starts a comment.",
)
@click.option(
    "--key-file",
    "key_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A key file of the office (only its public part is read); repeat during a rotation.",
)
@click.option(
    "--fingerprint",
    "fingerprints",
    multiple=True,
    help="A full fingerprint of the office's key (64 hex digits); repeatable.",
)
@click.option(
    "--timeout", type=click.FloatRange(1, 120), default=15, show_default=True, help="Seconds."
)
def monitor_command(
    codes: tuple[str, ...],
    service_url: str,
    areas_file: Path | None,
    key_files: tuple[Path, ...],
    fingerprints: tuple[str, ...],
    timeout: float,
) -> None:
    """Check that every area hands out only the office's key (API and guest page).

    Exit code 0: every area hands out the office's key. 4: at least one hands out
    another key: guests' data would be sealed to someone else; tell the operator at
    once. 1: some areas could not be checked (unreachable, unknown, without a key).
    A code may begin with "-": put the codes after "--", or use --areas-file.
    """
    office_key_ids = _office_key_ids(key_files, fingerprints)
    try:
        url = key_monitor.base_url(service_url)
        lines = list(codes)
        if areas_file is not None:
            lines += areas_file.read_text(encoding="utf-8-sig").splitlines()
        area_codes = key_monitor.area_codes(lines)
    except key_monitor.MonitorSetupError as error:
        raise click.UsageError(str(error)) from None
    if not area_codes:
        raise click.UsageError("Name at least one area code (argument or --areas-file).")

    def fetch(address: str, accept: str) -> tuple[int, bytes]:
        return key_monitor.fetch_url(address, accept, timeout=timeout)

    observations = key_monitor.check_areas(url, area_codes, office_key_ids, fetch)
    for observation in observations:
        _report(observation)
    findings = {observation.finding for observation in observations}
    if findings & key_monitor.ALARMS:
        click.echo(
            "\n!!! ALARM: Der Server gibt einen Schlüssel aus, der nicht Ihrem Amt gehört. "
            "Gäste würden ihre Daten für jemand anderen verschlüsseln. Melden Sie das sofort "
            "dem Betreiber und prüfen Sie die Schlüssel im Portal.\n"
            "!!! ALARM: The server hands out a key that is not your office's. Guests' data "
            "would be sealed to someone else. Tell the operator at once and check the keys "
            "in the portal.",
            err=True,
        )
        sys.exit(EXIT_FOREIGN_KEY)
    if findings & key_monitor.UNCHECKED:
        click.echo(
            "Nicht alle Bereiche konnten geprüft werden (siehe oben). / "
            "Not every area could be checked (see above).",
            err=True,
        )
        sys.exit(EXIT_UNCHECKED)
    click.echo(
        f"{len(area_codes)} Bereich(e): nur Schlüssel Ihres Amts. / "
        f"{len(area_codes)} area(s): only your office's keys."
    )


# Attached to the `gastregister` group by registration/commands.py.
commands: list[click.Command] = [keygen_command, key_group]
