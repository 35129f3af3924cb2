"""`gastregister decrypt`: open an export package on the health office's own machine.

It builds no app and needs no configuration or database, so a health office can use
it on a computer that never talks to the server (like keygen and key show in
key_commands.py). The passphrase is asked without echo unless a file is named; it
never appears on the command line.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

    import crypto
    from health_export.decryption import DecryptionResult, RenderedVisits
    from health_export.packages import ParsedPackage

EXIT_PARTIAL = 3


def _passphrases_from_files(passphrase_files: tuple[Path, ...]) -> list[str]:
    from health_export.packages import passphrase_from_file

    return [passphrase_from_file(path.read_bytes()) for path in passphrase_files]


@click.command("decrypt")
@click.argument(
    "package_file", metavar="PACKAGE", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--key",
    "key_files",
    multiple=True,
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Key file; repeat for older keys after a rotation (each with its own passphrase).",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["csv", "xlsx", "sormas", "json"]),
    default="csv",
    show_default=True,
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Output file ('-' for standard output).",
)
@click.option(
    "--separator",
    type=click.Choice([",", ";", "tab"]),
    default=None,
    help="CSV / SORMAS separator [default: ';' for csv (as Excel in German expects), "
    "',' for sormas (as its importer expects)].",
)
@click.option(
    "--passphrase-file",
    "passphrase_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read a passphrase from the first line of this file; repeat for key files "
    "with other passphrases.",
)
@click.option(
    "--jobs", type=click.IntRange(1, 32), default=None, help="Worker processes (default: up to 4)."
)
def decrypt(
    package_file: Path,
    key_files: tuple[Path, ...],
    output_format: str,
    output: Path,
    separator: str | None,
    passphrase_files: tuple[Path, ...],
    jobs: int | None,
) -> None:
    """Open an export PACKAGE with the office's key file, offline.

    Writes the same rows as the decryption page in the browser. Records that cannot
    be opened are listed on stderr and the exit code is 3; nothing is dropped silently.
    """
    from health_export.decryption import default_jobs
    from health_export.packages import PackageFormatError, parse_package

    passphrases: list[str] = []
    opened_first = None
    with ThreadPoolExecutor(max_workers=1) as pool:
        # With passphrase files, the key files' KDF (PBKDF2, which lets go of the GIL)
        # runs while the package is read; a package error is still reported first.
        opening = (
            pool.submit(_open_key_files, key_files, passphrase_files) if passphrase_files else None
        )
        try:
            package = parse_package(package_file.read_bytes())
        except PackageFormatError as error:
            raise click.ClickException(str(error)) from None
        if opening is not None:
            passphrases, opened_first = opening.result()
    keys = _private_keys(key_files, passphrases, package, opened_first)
    data, result = _export(
        package, keys, jobs or default_jobs(), output_format, _separator(separator, output_format)
    )
    _write_private(output, data)
    opened = len(result.visits)
    total = opened + len(result.failures)
    click.echo(f"{opened} of {total} visit(s) opened.", err=True)
    if (unbound := result.describe_unbound()) is not None:
        click.echo(unbound, err=True)
    if result.failures:
        for failure in result.failures:
            click.echo("  " + failure.describe(package), err=True)
        click.echo(f"{len(result.failures)} visit(s) could NOT be opened (listed above).", err=True)
        sys.exit(EXIT_PARTIAL)


def _open_key_files(
    key_files: tuple[Path, ...], passphrase_files: tuple[Path, ...]
) -> tuple[list[str], list[crypto.KeyFile | None]]:
    """The passphrases, and each key file opened by the first that fits or None; no asking."""
    passphrases = _passphrases_from_files(passphrase_files)
    return passphrases, [
        _open_with_known(path.read_bytes(), passphrases, path) for path in key_files
    ]


def _private_keys(
    key_files: tuple[Path, ...],
    passphrases: list[str],
    package: ParsedPackage,
    opened_first: list[crypto.KeyFile | None] | None = None,
) -> list[ec.EllipticCurvePrivateKey]:
    """The keys from the key files, refusing keys none of the package's records are sealed to.

    Each key file may have its own passphrase: a rotation makes a new key file, and its
    holder chooses (or is given) a new passphrase. Every passphrase known so far is
    tried on each file; without passphrase files, a file that none of them opens asks
    for its own. `opened_first`: the files as _open_key_files opened them already.
    """
    import crypto

    interactive = not passphrases
    keys = []
    for position, key_file in enumerate(key_files):
        data = key_file.read_bytes()
        opened = (
            opened_first[position]
            if opened_first is not None
            else _open_with_known(data, passphrases, key_file)
        )
        if opened is None and interactive:
            passphrase = str(
                click.prompt(f"Passphrase of the key file {key_file.name}", hide_input=True)
            )
            try:
                opened = crypto.read_key_file(data, passphrase)
            except crypto.KeyFileError as error:
                raise click.ClickException(f"{key_file.name}: {error}") from None
            passphrases.append(passphrase)
        if opened is None:
            raise click.ClickException(
                f"{key_file.name}: {crypto.KeyFileError(crypto.KeyFileErrorKind.WRONG_PASSPHRASE)}"
            )
        keys.append(opened.private_key)
    key_ids = {crypto.key_id(crypto.public_key_spki(key)).hex() for key in keys}
    if package.records and not key_ids & {record.key_id for record in package.records}:
        raise click.ClickException(
            "This key file does not belong to this package: its records are sealed to "
            "another key (another health office's, or an older key of yours — add it with "
            "another --key)."
        )
    return keys


def _open_with_known(data: bytes, passphrases: list[str], key_file: Path) -> crypto.KeyFile | None:
    """The key file opened by the first passphrase that fits, or None if none does."""
    import crypto

    for passphrase in passphrases:
        try:
            return crypto.read_key_file(data, passphrase)
        except crypto.KeyFileError as error:
            if error.kind is not crypto.KeyFileErrorKind.WRONG_PASSPHRASE:
                raise click.ClickException(f"{key_file.name}: {error}") from None
    return None


def _separator(chosen: str | None, output_format: str) -> str:
    from health_export.export_layout import CSV_SEPARATOR, SORMAS_SEPARATOR

    if chosen is None:
        return SORMAS_SEPARATOR if output_format == "sormas" else CSV_SEPARATOR
    return "\t" if chosen == "tab" else chosen


def _export(
    package: ParsedPackage,
    keys: list[ec.EllipticCurvePrivateKey],
    jobs: int,
    output_format: str,
    separator: str,
) -> tuple[bytes, RenderedVisits[Any] | DecryptionResult]:
    """The output file and what was opened and refused.

    CSV and SORMAS lines are written visit by visit where each record is opened (in
    the worker processes), so the records never travel back to this process.
    """
    from health_export import exports
    from health_export.decryption import open_package, open_rendered, visit_rows

    if output_format == "csv":
        lines = open_rendered(
            package, keys, partial(exports.csv_visit_lines, separator=separator), jobs=jobs
        )
        return exports.csv_document(lines.visits, separator=separator), lines
    if output_format == "sormas":
        location = str(package.location.get("name", ""))
        render = partial(exports.sormas_visit_lines, location_name=location, separator=separator)
        lines = open_rendered(package, keys, render, jobs=jobs)
        return exports.sormas_document(lines.visits, separator=separator), lines
    result = open_package(package, keys, jobs=jobs)
    if output_format == "xlsx":
        return exports.rows_to_xlsx(visit_rows(result.visits)), result
    return exports.result_to_json(package, result), result


def _write_private(output: Path, data: bytes) -> None:
    """Contact data in plain text: readable by the user only (mode 0600)."""
    if str(output) == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    descriptor = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as stream:
        stream.write(data)


commands: list[click.Command] = [decrypt]
