"""`gastregister keygen` and `gastregister key show`: key files on the health office's machine.

These commands run offline, on the health office's own computer; they need neither
Flask nor the database, only the crypto package. The passphrase is read from the
terminal without echo, never from an option or the environment, where it would end
up in shell history or process listings.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import click

import crypto

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


def _new_passphrase() -> str:
    click.echo(
        f"Choose a passphrase of at least {crypto.MIN_PASSPHRASE_LENGTH} characters. "
        "It cannot be recovered: without it, records sealed to this key cannot be opened."
    )
    for _ in range(_PASSPHRASE_ATTEMPTS):
        passphrase: str = click.prompt("Passphrase", hide_input=True)
        try:
            crypto.check_new_passphrase(passphrase)
        except crypto.WeakPassphraseError as error:
            click.echo(f"Error: {error}", err=True)
            continue
        if click.prompt("Repeat passphrase", hide_input=True) != passphrase:
            click.echo("Error: The two passphrases do not match.", err=True)
            continue
        return passphrase
    raise click.ClickException("No passphrase was set, so no key file was written.")


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
def keygen_command(out_path: Path) -> None:
    """Create a health office's key pair and write it to a passphrase-protected key file.

    Register the printed fingerprint with the operator and compare it on a second
    channel (telephone, letter) before the key is activated.
    """
    if out_path.exists():
        raise click.ClickException(
            f"{out_path} already exists. An existing key file is never overwritten."
        )
    passphrase = _new_passphrase()
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


# Attached to the `gastregister` group by registration/commands.py.
commands: list[click.Command] = [keygen_command, key_group]
