"""How the guest page loads on a slow phone: bytes transferred and time to interactive.

    .venv/bin/python -m bench.guest_page_bench [--runs 3] [--before main]

Slow 3G as the issue defines it: 2 s round trip, 50 kB/s down and up, and a CPU
slowed down four times (CDP `Network.emulateNetworkConditions`,
`Emulation.setCPUThrottlingRate`), each run in a fresh browser context (nothing
cached, no service worker yet).

- *Interactive*: the end of DOMContentLoaded. The page's scripts are modules, which
  run before it, so by then every module has loaded and run and the form checks,
  seals and sends.
- *Transferred*: what the phone receives for every request of the first load,
  headers and (compressed) bodies, as DevTools counts it (`encodedDataLength`).

It measures this tree ("after") and, for comparison, `--before` (a git ref; by default
the guest page before the issue "The guest's phone"), checked out with `git worktree add --detach` into a temporary folder and
removed afterwards; each tree is served by its own code in its own process, on a
fresh SQLite database with one venue. Not a test: it prints figures and the machine
they were measured on.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, sync_playwright

from tests.browser.chromium import launch_chromium
from tests.local_servers import REPOSITORY_ROOT

SLOW_3G = {
    "offline": False,
    "latency": 2000,  # ms, added to every round trip
    "downloadThroughput": 50 * 1000,  # bytes per second
    "uploadThroughput": 50 * 1000,
}
CPU_SLOWDOWN = 4
AIM_SECONDS = 5.0
# The guest page before the issue "The guest's phone" (main at 1a2aff4).
BEFORE_THE_PHONE = "1a2aff4"
AIM_BYTES = 45 * 1000

# Run by `python -c` in the measured tree (which may not have this file): a fresh
# database with one venue, the app on a free port; prints the guest page's URL.
_SERVE = """
import sys, tempfile
sys.path.insert(0, sys.argv[1])
from werkzeug.serving import make_server
from gastregister.app import create_app
from registration.database import Database
from registration.migrate import upgrade
from tests import factories
folder = tempfile.mkdtemp(prefix="gastregister-bench-")
url = f"sqlite:///{folder}/bench.db"
database = Database(url)
with database.engine.begin() as connection:
    upgrade(connection, "heads")
venue = factories.add_venue(database, business_name="Brauhaus Bench", name="Brauhaus am Ring",
    zip_code="50672", city="Köln", areas=["Terrasse"])
app = create_app({"environment": "test", "database_url": url, "instance_path": folder,
    "ratelimit_enabled": False, "scheduler": "off", "mail_to_console": False}, database=database)
server = make_server("127.0.0.1", 0, app, threaded=True)
print(f"http://127.0.0.1:{server.server_port}/c/{venue.area.code}", flush=True)
server.serve_forever()
"""


@dataclass(frozen=True)
class Load:
    seconds: float
    transferred: int
    requests: int


@contextmanager
def served(tree: Path) -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", _SERVE, str(tree)],
        cwd=tree,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(tree)},
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://"), f"the app in {tree} did not start"
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def checked_out(ref: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="gastregister-before-") as folder:
        tree = Path(folder) / "tree"
        subprocess.run(
            ["git", "worktree", "add", "--detach", "--quiet", str(tree), ref],
            cwd=REPOSITORY_ROOT,
            check=True,
        )
        try:
            yield tree
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(tree)],
                cwd=REPOSITORY_ROOT,
                check=True,
            )


def first_load(browser: Browser, url: str) -> Load:
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, locale="de-DE"
    )
    try:
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        cdp.send("Network.emulateNetworkConditions", SLOW_3G)
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": CPU_SLOWDOWN})
        received: dict[str, float] = {}

        def finished(event: dict[str, Any]) -> None:
            received[event["requestId"]] = event["encodedDataLength"]

        cdp.on("Network.loadingFinished", finished)
        page.goto(url, wait_until="load", timeout=120_000)
        page.wait_for_load_state("networkidle", timeout=120_000)
        seconds = page.evaluate(
            "performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd / 1000"
        )
        return Load(float(seconds), int(sum(received.values())), len(received))
    finally:
        context.close()


def measure(browser: Browser, tree: Path, runs: int) -> list[Load]:
    with served(tree) as url:
        first_load(browser, url)  # warm-up: the server's first request compiles templates
        return [first_load(browser, url) for _ in range(runs)]


def report(name: str, loads: list[Load]) -> None:
    seconds = statistics.median(load.seconds for load in loads)
    transferred = statistics.median(load.transferred for load in loads)
    print(
        f"{name:7} interactive {seconds:5.2f} s (median of {len(loads)}; runs"
        f" {', '.join(f'{load.seconds:.2f}' for load in loads)})"
        f"  transferred {transferred / 1000:5.1f} kB in {loads[0].requests} requests"
        f"  [aim: <= {AIM_SECONDS:.0f} s, <= {AIM_BYTES / 1000:.0f} kB]"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--before", default=BEFORE_THE_PHONE, help="git ref to compare with (%(default)s)"
    )
    args = parser.parse_args(argv)
    print(
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC · {platform.platform()} ·"
        f" {platform.processor() or platform.machine()} · {os.cpu_count()} CPUs ·"
        f" Python {platform.python_version()}"
    )
    print(
        f"slow 3G: {SLOW_3G['latency']} ms round trip, {SLOW_3G['downloadThroughput'] // 1000}"
        f" kB/s, CPU slowed down {CPU_SLOWDOWN}x; 390x844 phone, nothing cached"
    )
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        print(f"Chromium {browser.version}")
        try:
            with checked_out(args.before) as before:
                report(f"before ({args.before})", measure(browser, before, args.runs))
            report("after", measure(browser, REPOSITORY_ROOT, args.runs))
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
