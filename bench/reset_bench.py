"""Password-reset requests: how long the answer takes for a known and an unknown address.

    .venv/bin/python -m bench.reset_bench [--requests 200] [--smtp-delay-ms 50]

A stranger who can tell the two answers apart by their time learns which addresses
have an account. The script migrates a throwaway SQLite database, adds one account,
starts a mail server on 127.0.0.1 (with an optional delay per message, standing in
for the town's mail server across the network) and posts the reset form alternately
for the account's address and for unknown ones. It measures the time until the
response is complete — the part a client can observe — and closes each response
afterwards, as a WSGI server does after sending it, which is when queued account
mails leave (registration/accounts/deferred_mail.py).

Not a test: it prints median and 90th percentile for both cases, their ratio, the
number of mails the server received (one per known request), and the machine.
Measured on 2 shared AMD EPYC cores (load 6): 3.8 ms known, 3.8 ms unknown (ratio
1.00); the code before the fix, with this script, 66 ms known (the SMTP round trip)
against 340 ms unknown (a dummy Argon2 hash), ratio 0.19.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import re
import statistics
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from gastregister import create_app
from registration.clock import SystemClock
from registration.config import Settings
from registration.database import Database
from registration.migrate import upgrade
from registration.models import Role
from tests import factories
from tests.local_servers import SmtpInbox, free_port


class SlowInbox(SmtpInbox):
    """The test mail server, answering each message after `delay` seconds."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        time.sleep(self.delay)
        result: str = await super().handle_DATA(server, session, envelope)
        return result


def machine_context() -> list[str]:
    cpu = platform.processor() or "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return [
        f"CPU: {cpu}, {os.cpu_count()} cores; load average before: {os.getloadavg()[0]:.2f}",
        f"Python {platform.python_version()}, Flask {version('flask')}, "
        f"argon2-cffi {version('argon2-cffi')}; {platform.platform()}",
    ]


def _ms(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[int(len(ordered) * 0.9) - 1]
    return f"median {statistics.median(ordered) * 1000:7.2f} ms, p90 {p90 * 1000:7.2f} ms"


def run(requests: int, smtp_delay: float, pause: float = 0.02) -> None:
    context = machine_context()
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's chatter
    inbox = SlowInbox(smtp_delay)
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.db"
        database = Database(url)
        with database.engine.begin() as connection:
            upgrade(connection)
        settings = Settings.from_mapping(
            {
                "environment": "test",
                "database_url": url,
                "instance_path": folder,
                "public_base_url": "http://127.0.0.1:5000",
                "ratelimit_enabled": False,
                "scheduler": "off",
                "mail_to_console": False,
                "mail_server": "127.0.0.1",
                "mail_port": port,
            }
        )
        app = create_app(settings, clock=SystemClock(), database=database)
        with database.session() as session:
            business = factories.business(session)
            user = factories.user(session, role=Role.BUSINESS_OWNER, business=business)
            email = user.email
            session.commit()
        client = app.test_client()
        page = client.get("/konto/reset")
        match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text)
        assert match is not None
        token = match.group(1)
        timings: dict[str, list[float]] = {"known": [], "unknown": []}
        for number in range(requests * 2):
            case = "known" if number % 2 == 0 else "unknown"
            address = email if case == "known" else f"nobody-{number}@example.org"
            started = time.perf_counter()
            response = client.post("/konto/reset", data={"csrf_token": token, "email": address})
            response.get_data()
            timings[case].append(time.perf_counter() - started)
            response.close()  # the server closes the response after sending it: mails leave
            # The mail server runs in this process: let it finish the connection before
            # the next request, so its thread does not compete for the GIL in the timing.
            time.sleep(pause)
            if response.status_code != 200:
                raise SystemExit(f"unexpected answer {response.status_code}")
        database.dispose()
    controller.stop()
    known, unknown = timings["known"], timings["unknown"]
    print(f"password-reset requests, {requests} each, SMTP delay {smtp_delay * 1000:.0f} ms")
    for line in context:
        print("  " + line)
    print(f"  known address:   {_ms(known)}")
    print(f"  unknown address: {_ms(unknown)}")
    ratio = statistics.median(known) / statistics.median(unknown)
    print(f"  ratio of medians known/unknown: {ratio:.2f}")
    print(f"  mails received by the mail server: {len(inbox.messages)} (expected {requests})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--smtp-delay-ms", type=float, default=50.0)
    arguments = parser.parse_args()
    run(arguments.requests, arguments.smtp_delay_ms / 1000)


if __name__ == "__main__":
    main()
