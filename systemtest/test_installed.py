"""A normal `pip install` of the wheel works on its own, outside the checkout.

Templates, static files, translations and migrations must all be inside the wheel:
the installed `gastregister` migrates a fresh SQLite database, seeds the demo, and
the installed gunicorn app serves the German guest page, its versioned scripts, and
stores a sealed check-in.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import signal
import urllib.request
from pathlib import Path

import crypto
from systemtest.stack import Service, free_port, port_open, run, wait_until


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read().decode("utf-8")


def test_the_installed_wheel_migrates_serves_and_stores_a_checkin(
    installed_venv: Path, root: Path
) -> None:
    site = root / "installed-demo"
    site.mkdir()
    port = free_port()
    env = {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "GASTREGISTER_ENV": "demo",
        "GASTREGISTER_INSTANCE_PATH": str(site / "instance"),
        "GASTREGISTER_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "GASTREGISTER_BIND": f"127.0.0.1:{port}",
        "GASTREGISTER_WORKERS": "1",
    }
    gastregister = str(installed_venv / "bin" / "gastregister")
    upgraded = run([gastregister, "db", "upgrade"], env=env, cwd=site)
    assert "Database at head (sqlite)" in upgraded.stdout
    seeded = run([gastregister, "demo", "seed"], env=env, cwd=site)
    [page_url] = re.findall(r"Guest check-in:\s+(\S+)", seeded.stdout)[:1]
    area_code = page_url.rsplit("/", 1)[1]

    server = Service(
        "installed-gunicorn",
        [
            str(installed_venv / "bin" / "gunicorn"),
            "-c",
            "python:gastregister.gunicorn_conf",
            "gastregister.wsgi:app",
        ],
        root / "logs" / "installed-gunicorn.log",
        env=env,
        cwd=site,
    )
    server.start()
    try:
        wait_until(lambda: port_open(port), 60, "installed gunicorn")
        status, page = _get(f"http://127.0.0.1:{port}/c/{area_code}")
        assert status == 200
        assert "Datenschutz" in page  # German catalog compiled into the wheel
        scripts = re.findall(r'src="(/static/[0-9a-f]{12}/js/[^"]+)"', page)
        assert scripts
        for script in scripts:
            assert _get(f"http://127.0.0.1:{port}{script}")[0] == 200

        _, area_json = _get(f"http://127.0.0.1:{port}/api/v1/areas/{area_code}")
        area = json.loads(area_json)
        envelope = crypto.seal_contact_record(
            crypto.b64url_decode(area["key"]["publicKey"]),
            {
                "v": 1,
                "firstName": "Ida",
                "lastName": "Installiert",
                "street": "Paketweg",
                "houseNumber": "1",
                "zipCode": "99999",
                "city": "Demostadt",
                "phone": "0123 456",
                "email": "",
                "additionalPersons": [],
                "note": "",
            },
            location_code=area["location"]["code"],
            area_code=area_code,
        )
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/checkins",
            data=json.dumps(
                {
                    "areaCode": area_code,
                    "idempotencyKey": secrets.token_hex(16),
                    "envelope": crypto.encode_envelope(envelope),
                    "persons": 1,
                    "arrival": dt.datetime.now(dt.UTC).isoformat(),
                }
            ).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 201
            assert json.loads(response.read())["checkoutToken"]
    finally:
        server.stop(signal.SIGTERM)
    log = server.log_text()
    assert "Ida" not in log and "Installiert" not in log
