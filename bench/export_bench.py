"""How fast a busy location's export is built, and opened by the CLI and the browser.

A trace request that matches 50,000 visits: the time to build its export package on
the server (SQLite and PostgreSQL; the PostgreSQL database gr_bench_export is
created and dropped by this script), the offline CLI's decryption rate
(`gastregister decrypt`, a real subprocess, key derivation included), and the time
the browser needs to open all records and make the CSV (Chromium, the page's own
modules: export-package.js, decrypt-rows.js and decrypt-export.js).

    .venv/bin/python -m bench.export_bench [--visits 50000] [--skip-postgres] [--skip-browser]

Aims: build < 2 s, CLI >= 15,000 records/s, browser < 4 s with no gap between animation
frames over 100 ms while the records open (the page stays responsive); each printed as
a `GOAL name measured=x target=y ok=yes|no` line for `make bench`, with the load average.
Beside the CLI and the browser it measures, in the same run, the floor neither can beat
on this machine: HPKE open alone on the CLI's processes, and P-256 ECDH alone in the
page's workers; a goal below its floor cannot be met on this machine. Not a test: it prints
figures and the machine they were measured on. The guest records are synthetic
and never printed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import os
import platform
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import text

import crypto
from bench.proc import cpu_seconds, processes
from crypto.envelope import record_info
from crypto.suite import HPKE_SUITE
from health_export.decryption import ParallelOptions, default_jobs
from health_export.export_layout import client_layout
from registration.clock import FrozenClock
from registration.config import Settings
from registration.database import Database
from registration.migrate import upgrade
from registration.models import TraceRequest, TraceRequestState
from registration.tracing.packages import build_export_package
from tests import factories
from tests.browser.chromium import launch_chromium, open_sealed_record_harness
from tests.local_servers import repository_server

PASSPHRASE = "bench passphrase, not a secret"
NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
AIMS = {"build": 2.0, "cli_rate": 15000.0, "browser": 4.0, "frame_gap_ms": 100.0}
PG_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_DATABASE = "gr_bench_export"

_FIRST = ["Anna", "Ömer", "Łukasz", "Zoë", "Jürgen", "Fatma", "李", "Noah", "Chloé"]
_LAST = ["Müller", "Schmidt", "Yilmaz", "Nowak", "Weiß", "O'Brien", "Kowalski"]


def _record(rng: random.Random) -> dict[str, Any]:
    companions = rng.choices([0, 1, 2, 4], weights=[60, 25, 10, 5])[0]
    return {
        "firstName": rng.choice(_FIRST),
        "lastName": rng.choice(_LAST),
        "street": "Hauptstraße",
        "houseNumber": str(rng.randint(1, 250)),
        "zipCode": f"{rng.randint(10000, 99999)}",
        "city": "Köln",
        "phone": f"+49 {rng.randint(150, 179)} {rng.randint(1000000, 9999999)}",
        "email": "",
        "additionalPersons": [
            {"firstName": rng.choice(_FIRST), "lastName": rng.choice(_LAST), "sameAddress": True}
            for _ in range(companions)
        ],
        "note": "",
    }


# --- the database part ---------------------------------------------------------------


def _seed(
    database: Database, visits: int, private_key: ec.EllipticCurvePrivateKey, distinct: int
) -> int:
    """One office, one location with two areas, `visits` sealed check-ins, a released request."""
    rng = random.Random(2026)
    with factories.committing(database) as session:
        venue = factories.venue(
            session,
            private_key=private_key,
            business_name="Bench-Betrieb",
            name="Stadion",
            areas=["Nord", "Süd"],
        )
        # A few hundred distinct records, cycled, each visit sealed on its own (format v2,
        # its arrival bound): the readers refuse a copied envelope as a duplicate.
        records = {area.id: [_record(rng) for _ in range(distinct // 2)] for area in venue.areas}
        start = NOW - dt.timedelta(hours=10)
        step = dt.timedelta(hours=8) / visits
        for first in range(0, visits, 5000):
            batch = []
            for i in range(first, min(visits, first + 5000)):
                area = venue.areas[i % 2]
                arrival = start + i * step
                batch.append(
                    factories.build_checkin(
                        area,
                        venue.key,
                        arrival=arrival,
                        record=records[area.id][i % len(records[area.id])],
                        departure=arrival + dt.timedelta(minutes=90) if i % 3 else None,
                        stay=dt.timedelta(hours=3),
                    )
                )
            session.add_all(batch)
            session.flush()
            for checkin in batch:  # 50,000 rows need not stay in the session
                session.expunge(checkin)
        request = factories.trace_request(
            session,
            venue.office,
            venue.location,
            now=NOW,
            window_start=start,
            window_end=NOW,
            case_reference="BENCH-1",
            reason="benchmark",
            state=TraceRequestState.RELEASED,
            release_deadline=NOW,
            released_at=NOW,
        )
        return request.id


def _time_build(database: Database, request_id: int) -> tuple[float, bytes, int]:
    settings = Settings.from_mapping({"database_url": database.engine.url.render_as_string(False)})
    clock = FrozenClock(NOW)
    timings = []
    content = b""
    count = 0
    for _ in range(3):
        with database.new_session() as session:
            trace_request = session.get(TraceRequest, request_id)
            if trace_request is None:
                raise SystemExit("request vanished")
            started = time.perf_counter()
            package = build_export_package(session, clock, settings, trace_request)
            timings.append(time.perf_counter() - started)
            content, count = package.content, package.record_count
            session.rollback()
    return min(timings), content, count


def _sqlite(
    visits: int, private_key: ec.EllipticCurvePrivateKey, distinct: int, workdir: Path
) -> tuple[float, bytes, int]:
    database = Database(f"sqlite:///{workdir / 'bench.db'}")
    with database.engine.begin() as connection:
        upgrade(connection)
    request_id = _seed(database, visits, private_key, distinct)
    try:
        return _time_build(database, request_id)
    finally:
        database.dispose()


def _postgres(
    visits: int, private_key: ec.EllipticCurvePrivateKey, distinct: int
) -> tuple[float, bytes, int, str]:
    admin = Database(PG_ADMIN_URL)
    with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{PG_DATABASE}"'))
        connection.execute(text(f'CREATE DATABASE "{PG_DATABASE}"'))
        version = str(connection.execute(text("SHOW server_version")).scalar())
    url = admin.engine.url.set(database=PG_DATABASE).render_as_string(hide_password=False)
    database = Database(url)
    try:
        with database.engine.begin() as connection:
            upgrade(connection)
        request_id = _seed(database, visits, private_key, distinct)
        with database.engine.begin() as connection:
            connection.execute(text("ANALYZE"))
        seconds, content, count = _time_build(database, request_id)
        return seconds, content, count, version
    finally:
        database.dispose()
        with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{PG_DATABASE}"'))
        admin.dispose()


# --- the CLI part ----------------------------------------------------------------------


def _time_cli(package: Path, key_file: Path, passphrase_file: Path, workdir: Path) -> float:
    gastregister = Path(sys.executable).with_name("gastregister")
    # The code of this checkout, not the one the virtualenv was installed from (a shared
    # venv of another worktree would otherwise be measured).
    checkout = str(Path(__file__).resolve().parents[1])
    environment = {**os.environ, "PYTHONPATH": checkout}
    started = time.perf_counter()
    subprocess.run(
        [
            str(gastregister),
            "decrypt",
            str(package),
            "--key",
            str(key_file),
            "--format",
            "csv",
            "--passphrase-file",
            str(passphrase_file),
            "-o",
            str(workdir / "out.csv"),
        ],
        check=True,
        capture_output=True,
        env=environment,
    )
    return time.perf_counter() - started


# What no CLI can beat on this machine: HPKE open alone (cryptography's Suite.decrypt,
# nothing parsed, checked or written) on as many processes as the CLI starts. Forked
# workers inherit these; only the spans travel.
_FLOOR_LOCATION, _FLOOR_AREA = "BENCH-FLOOR", "TISCH_1"
_floor_key: ec.EllipticCurvePrivateKey | None = None
_floor_ciphertexts: list[bytes] = []
_floor_info = b""


def _decrypt_span(span: tuple[int, int]) -> int:
    if _floor_key is None:
        raise RuntimeError("worker started without the floor's key")
    start, end = span
    ciphertexts = _floor_ciphertexts
    for index in range(start, end):
        HPKE_SUITE.decrypt(ciphertexts[index % len(ciphertexts)], _floor_key, _floor_info)
    return end - start


def _hpke_floor(private_key: ec.EllipticCurvePrivateKey, count: int, jobs: int) -> float:
    """Records per second of HPKE open alone on `jobs` forked processes, pool start
    included as the CLI's is, in tasks of the CLI's size (ParallelOptions.chunk)."""
    global _floor_key, _floor_ciphertexts, _floor_info
    spki = crypto.public_key_spki(private_key)
    rng = random.Random(7)
    sealed = [
        crypto.seal_contact_record(
            spki, _record(rng), location_code=_FLOOR_LOCATION, area_code=_FLOOR_AREA
        )
        for _ in range(400)
    ]
    _floor_key = private_key
    _floor_ciphertexts = [envelope[crypto.HEADER_SIZE :] for envelope in sealed]
    _floor_info = record_info(_FLOOR_LOCATION, _FLOOR_AREA, crypto.key_id(spki))
    chunk = ParallelOptions().chunk
    spans = [(start, min(count, start + chunk)) for start in range(0, count, chunk)]
    try:
        started = time.perf_counter()
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
            opened = sum(pool.map(_decrypt_span, spans))
        seconds = time.perf_counter() - started
    finally:
        _floor_key, _floor_ciphertexts, _floor_info = None, [], b""
    if opened != count:
        raise RuntimeError(f"floor opened {opened} of {count}")
    return count / seconds


# --- the browser part --------------------------------------------------------------------

_BROWSER_RUN = """
async ({ passphrase, layoutData }) => {
  const rows = await import("/static/js/decrypt-rows.js");
  const reader = await import("/static/js/export-package.js");
  const exporter = await import("/static/js/decrypt-export.js");
  const sr = await import("/static/js/sealed-record.js");
  const opener = await import("/static/js/record-opener.js");
  const layout = (await import("/static/js/export-layout.js")).readExportLayout(layoutData);
  const started = performance.now();
  // As the decryption page does (decrypt.js): the workers start with the click and load
  // their modules while the key file and the package are read.
  const pool = opener.startOpenerWorkers();
  const keyText = await (await fetch("/bench/key.json")).text();
  const key = await sr.readKeyFile(keyText, passphrase);
  const afterKey = performance.now();
  const pkg = await reader.parsePackage(await (await fetch("/bench/package")).arrayBuffer());
  // Is the page responsive while the records open? The longest gap between animation
  // frames and the longest main-thread task while openPackage runs.
  let longestGap = 0;
  let longestTask = 0;
  let opening = true;
  let lastFrame = performance.now();
  const frame = (now) => {
    longestGap = Math.max(longestGap, now - lastFrame);
    lastFrame = now;
    if (opening) requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
  const tasks = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) longestTask = Math.max(longestTask, entry.duration);
  });
  tasks.observe({ type: "longtask" });
  const beforeOpen = performance.now();
  const result = await rows.openPackage(pkg, [key], () => {}, { pool });
  const afterOpen = performance.now();
  opener.stopOpenerWorkers(pool);
  opening = false;
  longestGap = Math.max(longestGap, afterOpen - lastFrame);
  for (const entry of tasks.takeRecords()) longestTask = Math.max(longestTask, entry.duration);
  tasks.disconnect();
  const cells = rows.visitRows(result.visits, layout).map((row) => row.cells);
  const csv = exporter.rowsToCsv(cells, layout, ",");
  const finished = performance.now();
  return { total: finished - started, key: afterKey - started, opened: result.visits.length,
           failed: result.failures.length, bytes: csv.length, cores: navigator.hardwareConcurrency,
           workers: pool.length,
           open: afterOpen - beforeOpen, longestGap, longestTask };
}
"""


# What no page can beat in this browser on this machine: the one WebCrypto step of every
# HPKE open that nothing can share, P-256 ECDH (the envelope's enc imported, then
# deriveBits), over as many workers as the page starts, 32 at a time in each.
_ECDH_WORKER = """
self.onmessage = async ({ data: count }) => {
  const subtle = crypto.subtle;
  const curve = { name: "ECDH", namedCurve: "P-256" };
  const recipient = await subtle.generateKey(curve, false, ["deriveBits"]);
  const encs = [];
  for (let i = 0; i < 16; i++) {
    const ephemeral = await subtle.generateKey(curve, true, ["deriveBits"]);
    encs.push(new Uint8Array(await subtle.exportKey("raw", ephemeral.publicKey)));
  }
  const one = async (i) => {
    const enc = await subtle.importKey("raw", encs[i % 16], curve, false, []);
    return subtle.deriveBits({ name: "ECDH", public: enc }, recipient.privateKey, 256);
  };
  for (let i = 0; i < count; i += 32) {
    const batch = [];
    for (let j = i; j < Math.min(count, i + 32); j++) batch.push(one(j));
    await Promise.all(batch);
  }
  self.postMessage("done");
};
"""

_ECDH_FLOOR = """
async ({ source, count, workers }) => {
  const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
  const pool = Array.from({ length: workers }, () => new Worker(url));
  const share = Math.ceil(count / workers);
  const started = performance.now();
  await Promise.all(pool.map((worker, index) => new Promise((resolve, reject) => {
    worker.onmessage = resolve;
    worker.onerror = reject;
    worker.postMessage(Math.max(0, Math.min(share, count - index * share)));
  })));
  const elapsed = performance.now() - started;
  for (const worker of pool) worker.terminate();
  URL.revokeObjectURL(url);
  return elapsed;
}
"""


def _renderer_cpu_seconds() -> float | None:
    """CPU time (user + system) so far of the Chromium renderers this process started.

    Read from /proc: a renderer's figure there includes its threads that have ended
    (the page's opener workers are terminated when the opening is done). None where
    there is no /proc. Shows how much of the machine the page's export takes, beside
    its wall time: on 2 cores, the wall time cannot fall below half of it.
    """
    if not Path("/proc").is_dir():
        return None
    table = processes()

    def started_here(pid: int) -> bool:
        while pid > 1:
            fields = table.get(pid)
            pid = int(fields[1]) if fields is not None else 0
            if pid == os.getpid():
                return True
        return False

    total = 0.0
    for pid, fields in table.items():
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue  # ended while we looked
        if b"--type=renderer" in command and started_here(pid):
            total += cpu_seconds(fields)
    return total


def _time_browser(package: bytes, key_file: bytes) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    with (
        repository_server({"/bench/package": package, "/bench/key.json": key_file}) as base,
        sync_playwright() as pw,
    ):
        browser = launch_chromium(pw)
        try:
            page = browser.new_page()
            page.set_default_timeout(600_000)
            open_sealed_record_harness(page, base)
            # The export layout as the decryption page carries it (export_layout.client_layout).
            arguments = {"passphrase": PASSPHRASE, "layoutData": client_layout()}
            cpu_before = _renderer_cpu_seconds()
            result: dict[str, Any] = page.evaluate(_BROWSER_RUN, arguments)
            cpu_after = _renderer_cpu_seconds()
            if cpu_before is not None and cpu_after is not None:
                result["rendererCpu"] = cpu_after - cpu_before
            result["chromium"] = browser.version
            floor_arguments = {
                "source": _ECDH_WORKER,
                "count": result["opened"],
                "workers": result["workers"],
            }
            result["ecdhFloor"] = page.evaluate(_ECDH_FLOOR, floor_arguments)
            return result
        finally:
            browser.close()


# --- report ------------------------------------------------------------------------------


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def _goal(name: str, measured: float, target: float, ok: bool) -> None:
    """The line the `make bench` runner collects, and the load it was measured under."""
    print(f"GOAL {name} measured={measured:.2f} target={target:g} ok={'yes' if ok else 'no'}")
    print(f"  (load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--visits", type=int, default=50_000)
    parser.add_argument("--distinct", type=int, default=400, help="distinct records, cycled")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-browser", action="store_true")
    args = parser.parse_args(argv)

    print("Machine:")
    print(f"  {platform.platform()}; CPU: {_cpu()}; cores: {os.cpu_count()}")
    print(
        f"  Python {platform.python_version()}; SQLite {sqlite3.sqlite_version}; load {os.getloadavg()[0]:.2f}"
    )
    private_key = crypto.generate_private_key()
    failed = False
    with tempfile.TemporaryDirectory(prefix="gr-export-bench-") as tmp:
        workdir = Path(tmp)
        print(f"\nExport package for a request matching {args.visits:,} visits (best of 3):")
        seconds, content, count = _sqlite(args.visits, private_key, args.distinct, workdir)
        ok = seconds < AIMS["build"] and count == args.visits
        failed |= not ok
        print(
            f"  SQLite      build {seconds:.2f} s, {count:,} records, {len(content) / 1e6:.1f} MB  [{_verdict(ok)}: < {AIMS['build']} s]"
        )
        _goal("export_build_sqlite_seconds", seconds, AIMS["build"], ok)
        if not args.skip_postgres:
            pg_seconds, _, pg_count, version = _postgres(args.visits, private_key, args.distinct)
            ok = pg_seconds < AIMS["build"] and pg_count == args.visits
            failed |= not ok
            print(
                f"  PostgreSQL {version}: build {pg_seconds:.2f} s, {pg_count:,} records  [{_verdict(ok)}: < {AIMS['build']} s]"
            )
            _goal("export_build_postgresql_seconds", pg_seconds, AIMS["build"], ok)

        package = workdir / "bench.grexport"
        package.write_bytes(content)
        key_bytes = crypto.write_key_file(private_key, PASSPHRASE, created=NOW)
        key_file = workdir / "bench.key.json"
        key_file.write_bytes(key_bytes)
        passphrase_file = workdir / "passphrase.txt"
        passphrase_file.write_text(PASSPHRASE + "\n", encoding="utf-8")
        cli_seconds = _time_cli(package, key_file, passphrase_file, workdir)
        rate = count / cli_seconds
        ok = rate >= AIMS["cli_rate"]
        failed |= not ok
        print(
            "\nCLI (gastregister decrypt --format csv, whole process incl. key file and start-up):"
        )
        print(
            f"  {count:,} records in {cli_seconds:.2f} s = {rate:,.0f} records/s  [{_verdict(ok)}: >= {AIMS['cli_rate']:,.0f}/s]"
        )
        _goal("export_cli_records_per_second", rate, AIMS["cli_rate"], ok)
        jobs = default_jobs()
        floor = _hpke_floor(private_key, count, jobs)
        print(
            f"  floor: HPKE open alone (cryptography) on {jobs} processes {floor:,.0f} records/s;"
            f" the CLI reaches {rate / floor:.2f} of it, the aim is {AIMS['cli_rate'] / floor:.2f} of it"
        )

        if not args.skip_browser:
            result = _time_browser(content, key_bytes)
            seconds = result["total"] / 1000
            ok = seconds < AIMS["browser"] and result["opened"] == count and result["failed"] == 0
            failed |= not ok
            print(
                f"\nBrowser (Chromium {result['chromium']}, {result['cores']} cores; key file, parse, open, rows, CSV):"
            )
            print(
                f"  {result['opened']:,} records in {seconds:.2f} s (key file {result['key'] / 1000:.2f} s), "
                f"CSV {result['bytes'] / 1e6:.1f} MB  [{_verdict(ok)}: < {AIMS['browser']} s]"
            )
            gap_ok = result["longestGap"] <= AIMS["frame_gap_ms"]
            failed |= not gap_ok
            print(
                f"  opening took {result['open'] / 1000:.2f} s; longest gap between frames "
                f"{result['longestGap']:.0f} ms, longest main-thread task {result['longestTask']:.0f} ms"
            )
            if "rendererCpu" in result:
                cpu = result["rendererCpu"]
                print(
                    f"  the page's CPU: {cpu:.2f} s in its renderer for the whole export"
                    f" ({cpu * 1e6 / max(1, result['opened']):.0f} µs per record), that is"
                    f" {cpu / seconds:.2f} of its {result['cores']} cores busy on average"
                )
            floor = result["ecdhFloor"] / 1000
            print(
                f"  floor: P-256 ECDH alone (WebCrypto, {result['workers']} workers, the one step of"
                f" every open nothing can share) {floor:.2f} s for {result['opened']:,};"
                f" the opening took {result['open'] / 1000 / floor:.1f} times that"
            )
            _goal("export_browser_seconds", seconds, AIMS["browser"], ok)
            _goal("export_browser_frame_gap_ms", result["longestGap"], AIMS["frame_gap_ms"], gap_ok)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
