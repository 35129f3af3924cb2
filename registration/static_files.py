"""Static files under versioned URLs, so browsers and nginx may cache them for a year.

Every URL is `/static/<version>/<path>`, where the version is a hash of the contents
of the whole static folder: a changed file changes the version of every URL, and
module imports between scripts (`./sealed-record.js`) stay inside one version. In
production nginx serves these URLs from a folder written by `gastregister
static-export` (docs/OPERATIONS.md); the app serves the same URLs itself for the demo
and for tests, with the same cache headers.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

STATIC_FOLDER = Path(__file__).resolve().parent / "static"
# One year: the URL changes whenever a file does, so nothing stale is ever served.
MAX_AGE_SECONDS = 365 * 24 * 3600


def static_version(folder: Path = STATIC_FOLDER) -> str:
    """A 12-hex-digit hash of every file's relative path and bytes."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        if "__pycache__" in relative:
            continue
        digest.update(relative.encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:12]


def static_url_path(version: str) -> str:
    return f"/static/{version}"


def export_static(target: Path, folder: Path = STATIC_FOLDER) -> Path:
    """Copy the static files to `target/<version>/` for nginx; earlier versions stay,
    so pages still open in a browser keep their scripts during an upgrade."""
    version = static_version(folder)
    destination = target / version
    if destination.exists():
        return destination
    staging = target / f".{version}.tmp"
    if staging.exists():
        shutil.rmtree(staging)
    shutil.copytree(folder, staging, ignore=shutil.ignore_patterns("__pycache__"))
    staging.rename(destination)
    return destination
