"""The export-package vectors (tests/crypto/vectors/export-package-v1.json), read offline.

Each vector is a whole package with the outcome of the package and of every visit:
the tamper cases of the visit checks (re-dated row, changed persons or source,
swapped envelopes, a record pasted from another request, duplicates) each with its
kind. tests/js/export-package.test.mjs runs the same file through the browser's
reader, so both readers must agree visit for visit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import crypto
from health_export.decryption import (
    VISIT_CHECK_KINDS,
    ParallelOptions,
    open_package,
    open_rendered,
    sormas_rows,
    visit_rows,
)
from health_export.export_layout import COLUMNS
from health_export.exports import (
    csv_document,
    csv_visit_lines,
    rows_to_csv,
    rows_to_sormas,
    sormas_document,
    sormas_visit_lines,
)
from health_export.offline_commands import EXIT_PARTIAL, decrypt
from health_export.packages import PackageFormatError, parse_package, passphrase_from_file
from tests.crypto.vectors import make_tamper_vectors as generator

VECTOR_FILE = Path(__file__).parents[1] / "crypto" / "vectors" / "export-package-v1.json"
VECTORS = json.loads(VECTOR_FILE.read_text(encoding="utf-8"))


def _key(name: str) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_der_private_key(
        crypto.b64url_decode(VECTORS["keys"][name]["privateKeyPkcs8"]), password=None
    )
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def outcomes(vector: dict[str, Any], parallel: ParallelOptions | None = None) -> dict[str, Any]:
    """What the CLI's reader makes of a vector, in the vector's terms."""
    try:
        package = parse_package(vector["package"].encode("utf-8"))
    except PackageFormatError as error:
        return {"expected": error.kind}
    result = open_package(package, [_key(name) for name in vector["openWith"]], parallel=parallel)
    visits = {visit.number: "ok" for visit in result.visits}
    visits |= {failure.number: failure.kind for failure in result.failures}
    return {
        "expected": "ok",
        "visits": [{"visit": number, "outcome": visits[number]} for number in sorted(visits)],
        "unbound": result.unbound,
    }


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=[v["name"] for v in VECTORS["vectors"]])
def test_package_vector(vector: dict[str, Any]) -> None:
    expected = {name: vector[name] for name in ("expected", "visits", "unbound") if name in vector}
    assert outcomes(vector) == expected


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_worker_processes_give_the_same_outcomes_and_bytes_as_one_process(
    start_method: str,
) -> None:
    """The vector with every visit check kind (bad envelopes, tampered rows, duplicates
    across chunks), opened by two workers in chunks of three records: each failure
    still names its visit, and the CSV is byte for byte the one of a single process."""
    (vector,) = [v for v in VECTORS["vectors"] if v["name"] == "visits-checked"]
    parallel = ParallelOptions(jobs=2, parallel_from=1, chunk=3, start_method=start_method)
    assert (
        outcomes(vector, parallel)
        == outcomes(vector)
        == {name: vector[name] for name in ("expected", "visits", "unbound")}
    )
    package = parse_package(vector["package"].encode("utf-8"))
    keys = [_key(name) for name in vector["openWith"]]
    alone = open_package(package, keys)
    together = open_package(package, keys, parallel=parallel)
    assert together.failures == alone.failures and together.unbound == alone.unbound
    assert rows_to_csv(visit_rows(together.visits)) == rows_to_csv(visit_rows(alone.visits))


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_visits_rendered_in_worker_processes_make_the_same_files_as_rows(
    start_method: str,
) -> None:
    """What the offline CLI does: each visit's CSV (or SORMAS) lines are written in the
    worker that opened it. Every outcome, failures and duplicates across chunks
    included, and the file bytes are those of the rows of one process."""
    (vector,) = [v for v in VECTORS["vectors"] if v["name"] == "visits-checked"]
    package = parse_package(vector["package"].encode("utf-8"))
    keys = [_key(name) for name in vector["openWith"]]
    alone = open_package(package, keys)
    parallel = ParallelOptions(jobs=2, parallel_from=1, chunk=3, start_method=start_method)
    for options in (None, parallel):
        lines = open_rendered(
            package, keys, partial(csv_visit_lines, separator=","), parallel=options
        )
        assert lines.failures == alone.failures and lines.unbound == alone.unbound
        assert len(lines.visits) == len(alone.visits)
        assert csv_document(lines.visits, separator=",") == rows_to_csv(
            visit_rows(alone.visits), separator=","
        )
        sormas = open_rendered(
            package,
            keys,
            partial(sormas_visit_lines, location_name="Ort", separator=";"),
            parallel=options,
        )
        assert sormas_document(sormas.visits, separator=";") == rows_to_sormas(
            sormas_rows(alone.visits, "Ort"), separator=";"
        )


def _vector_files(vector: dict[str, Any], tmp_path: Path) -> list[str]:
    """The vector's package, its key files and a passphrase file, as CLI arguments."""
    passphrase = "Vektor-Passphrase 2026"
    package = tmp_path / "vector.grexport"
    package.write_text(vector["package"], encoding="utf-8")
    arguments = [str(package)]
    for name in vector["openWith"]:
        key_file = tmp_path / f"{name}.key.json"
        key_file.write_bytes(
            crypto.write_key_file(
                _key(name),
                passphrase,
                created=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
                iterations=crypto.MIN_ITERATIONS,
            )
        )
        arguments += ["--key", str(key_file)]
    (tmp_path / "passphrase.txt").write_text(passphrase + "\n", encoding="utf-8")
    return [*arguments, "--passphrase-file", str(tmp_path / "passphrase.txt")]


@pytest.mark.parametrize("output_format", ["csv", "sormas"])
def test_the_cli_writes_the_same_bytes_and_lists_the_same_failures_with_workers(
    output_format: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (vector,) = [v for v in VECTORS["vectors"] if v["name"] == "visits-checked"]
    arguments = [*_vector_files(vector, tmp_path), "--format", output_format]
    # Workers even for 32 visits, in chunks of three: duplicates across chunks.
    monkeypatch.setattr("health_export.decryption.PARALLEL_THRESHOLD", 1)
    monkeypatch.setattr(
        "health_export.decryption.ParallelOptions", partial(ParallelOptions, chunk=3)
    )
    runs = {}
    for jobs in ("1", "2"):
        output = tmp_path / f"out-{jobs}"
        result = CliRunner().invoke(decrypt, [*arguments, "-o", str(output), "--jobs", jobs])
        assert result.exit_code == EXIT_PARTIAL, result.output
        runs[jobs] = (output.read_bytes(), result.output)
    assert runs["1"] == runs["2"]
    package = parse_package(vector["package"].encode("utf-8"))
    expected = open_package(package, [_key(name) for name in vector["openWith"]])
    data, messages = runs["2"]
    if output_format == "csv":
        assert data == rows_to_csv(visit_rows(expected.visits), separator=";")
    else:
        location = str(package.location.get("name", ""))
        assert data == rows_to_sormas(sormas_rows(expected.visits, location))
    for failure in expected.failures:
        assert "  " + failure.describe(package) in messages
    assert f"{len(expected.failures)} visit(s) could NOT be opened" in messages


def test_a_damaged_package_is_reported_before_a_key_file_the_passphrase_does_not_open(
    tmp_path: Path,
) -> None:
    """The key files are opened while the package is read; the package speaks first."""
    (vector,) = [v for v in VECTORS["vectors"] if v["name"] == "visits-checked"]
    arguments = _vector_files(vector, tmp_path)
    (tmp_path / "vector.grexport").write_bytes(b"not a package at all\n")
    (tmp_path / "passphrase.txt").write_text("a wrong passphrase\n", encoding="utf-8")
    result = CliRunner().invoke(decrypt, [*arguments, "-o", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert PackageFormatError.MESSAGES["not_a_package"] in result.output
    (tmp_path / "vector.grexport").write_text(vector["package"], encoding="utf-8")
    result = CliRunner().invoke(decrypt, [*arguments, "-o", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "passphrase" in result.output.lower()


@pytest.mark.parametrize(
    ("content", "sha256_of", "kind"),
    [
        (b"{not json", b"{not json", "malformed"),
        (b"{not json", b"{other", "integrity"),
        (b'{"records": []}', b"{other", "integrity"),
        (b"\xff\xfe not UTF-8", b"\xff\xfe not UTF-8", "malformed"),
    ],
)
def test_the_hash_is_checked_as_if_before_the_json_is_read(
    content: bytes, sha256_of: bytes, kind: str
) -> None:
    """The SHA-256 runs beside the JSON reader; an altered file is still `integrity`."""
    header = {
        "format": "gastregister-export",
        "version": 1,
        "contentLength": len(content),
        "contentSha256": hashlib.sha256(sha256_of).hexdigest(),
    }
    with pytest.raises(PackageFormatError) as raised:
        parse_package(json.dumps(header).encode("ascii") + b"\n" + content)
    assert raised.value.kind == kind


def test_every_visit_check_kind_and_package_kind_has_a_vector() -> None:
    seen = {visit["outcome"] for vector in VECTORS["vectors"] for visit in vector.get("visits", [])}
    assert set(VISIT_CHECK_KINDS) <= seen
    assert {"ok", "malformed", "decryption_failed", "wrong_key"} <= seen
    package_kinds = {vector["expected"] for vector in VECTORS["vectors"]}
    assert package_kinds == {
        "ok",
        *PackageFormatError.MESSAGES,
    }


def test_committed_package_vectors_are_what_the_script_generates() -> None:
    assert VECTOR_FILE.read_text(encoding="utf-8") == generator.render(
        generator.export_package_vectors()
    )


@pytest.mark.parametrize(
    ("data", "passphrase"),
    [
        (b"correct horse battery staple\n# demo only\n", "correct horse battery staple"),
        (b"correct horse battery staple\r\nsecond line", "correct horse battery staple"),
        (b"\xef\xbb\xbfGr\xc3\xbc\xc3\x9fe aus Jena", "Grüße aus Jena"),
        (b"  spaced\tout  \n", "  spaced\tout  "),
        (b"with\x0bvertical tab\n", "with\x0bvertical tab"),
        (b"one\rtwo\n", "one\rtwo"),
        (b"", ""),
    ],
)
def test_the_passphrase_file_is_its_first_line(data: bytes, passphrase: str) -> None:
    assert passphrase_from_file(data) == passphrase


def test_the_cli_names_refused_and_unbound_visits() -> None:
    (vector,) = [v for v in VECTORS["vectors"] if v["name"] == "visits-checked"]
    package = parse_package(vector["package"].encode("utf-8"))
    result = open_package(package, [_key(name) for name in vector["openWith"]])
    assert result.describe_unbound() == (
        "1 visit(s) in format v1: metadata not bound to the sealed record, so arrival and "
        "source could not be checked (visits 4)."
    )
    described = [failure.describe(package) for failure in result.failures]
    assert described[0] == (
        "visit 1 (Tisch 12, 2026-11-20 18:30): opened, but refused: its metadata does not "
        "fit the sealed record or the request (arrival_mismatch)"
    )
    assert any(text.endswith("could not be opened (decryption_failed)") for text in described)


def test_a_visit_delivered_late_keeps_its_mark_into_the_rows() -> None:
    """The mark is the server's (not sealed): the reader carries it to every row of
    the visit, and export.test.mjs holds the browser to the same rows."""
    [vector] = [v for v in VECTORS["vectors"] if v["name"] == "visits-checked"]
    result = open_package(
        parse_package(vector["package"].encode("utf-8")), [_key(n) for n in vector["openWith"]]
    )
    late = [visit.record["firstName"] for visit in result.visits if visit.delivered_late]
    assert late == ["Ulla"]
    marks = {(row[8], row[-1]) for row in visit_rows(result.visits)}
    assert ("Ulla", "ja") in marks and ("Udo", "nein") in marks
    assert {mark for _, mark in marks} == {"ja", "nein"}
    assert COLUMNS[-1] == "Verspätet übermittelt"
