"""One entry point that picks the engine set-up the URL's database needs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from registration.database.postgres import make_postgres_engine
from registration.database.sqlite import make_sqlite_engine
from registration.database.timeouts import DatabaseTimeouts


def make_engine(url: str, timeouts: DatabaseTimeouts | None = None, **kwargs: Any) -> Engine:
    """Create an engine with the pragmas, pool settings and timeouts each database needs."""
    timeouts = timeouts or DatabaseTimeouts()
    if url.startswith("sqlite"):
        return make_sqlite_engine(url, timeouts, **kwargs)
    return make_postgres_engine(url, timeouts, **kwargs)
