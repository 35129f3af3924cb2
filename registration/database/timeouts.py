"""How long any database operation may take, and the shorter budget of a guest's request.

Nothing may wait for the database without a bound: a guest's phone keeps its
check-in and sends it again after a 503, but a request that hangs holds a gunicorn
thread, and enough of them stop the whole service.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from registration.config import Settings


@dataclass(frozen=True)
class DatabaseTimeouts:
    """How long one database operation may take before it is given up.

    `statement_seconds` bounds a statement (PostgreSQL's `statement_timeout`, and a
    client-side deadline for a server that no longer answers at all; a progress handler
    on SQLite); `lock_seconds` bounds waiting for a lock (PostgreSQL's `lock_timeout`,
    SQLite's busy timeout); `pool_seconds` bounds waiting for a free pooled connection.
    Web requests use short values, maintenance a long statement budget (partition
    rebuilds) but the same short lock wait: DDL queued behind a lock would hold every
    guest's insert back behind it.
    """

    statement_seconds: float = 5.0
    lock_seconds: float = 5.0
    pool_seconds: float = 2.0

    @classmethod
    def for_requests(cls, settings: Settings) -> DatabaseTimeouts:
        seconds = float(settings.db_timeout_seconds)
        return cls(statement_seconds=seconds, lock_seconds=seconds)

    @classmethod
    def for_maintenance(cls, settings: Settings) -> DatabaseTimeouts:
        return cls(
            statement_seconds=float(settings.maintenance_db_timeout_seconds),
            lock_seconds=float(settings.db_timeout_seconds),
        )

    @property
    def client_deadline_seconds(self) -> float:
        """A little longer than the server's own timeout, so that a server that is merely
        slow cancels the statement itself and the connection stays usable."""
        return self.statement_seconds + CLIENT_DEADLINE_GRACE_SECONDS


CLIENT_DEADLINE_GRACE_SECONDS = 0.5


# A shorter budget for the requests of guests' phones (the check-in API and the guest
# pages): their statements take milliseconds, and a phone that gets a quick 503 keeps
# the check-in and sends it again, while a request that waits holds a gunicorn thread.
_budget: ContextVar[float | None] = ContextVar("gastregister_database_budget", default=None)


def limit_database_budget(seconds: float) -> Token[float | None]:
    """Make every database operation of the current request wait at most `seconds`."""
    return _budget.set(seconds)


def reset_database_budget(token: Token[float | None]) -> None:
    _budget.reset(token)


def within_budget(seconds: float) -> float:
    """`seconds`, cut to the current request's budget if it has one (both engines ask)."""
    budget = _budget.get()
    return seconds if budget is None else min(seconds, budget)
