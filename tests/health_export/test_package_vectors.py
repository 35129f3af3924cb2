"""The export-package vectors (tests/crypto/vectors/export-package-v1.json), read offline.

Each vector is a whole package with the outcome of the package and of every visit:
the tamper cases of the visit checks (re-dated row, changed persons or source,
swapped envelopes, a record pasted from another request, duplicates) each with its
kind. tests/js/export-package.test.mjs runs the same file through the browser's
reader, so both readers must agree visit for visit.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import crypto
from health_export.decryption import (
    VISIT_CHECK_KINDS,
    ParallelOptions,
    open_package,
    visit_rows,
)
from health_export.export_layout import COLUMNS
from health_export.exports import rows_to_csv
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
