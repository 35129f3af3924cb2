"""Engine, sessions and the declarative base shared by every package's models.

One module a job: the model base and timestamp type (`base`), time bounds and the
guest budget (`timeouts`), each database's set-up (`sqlite`, `postgres`, `engine`),
telling outages apart (`faults`), the breaker that fails fast after one (`breaker`),
a hot statement compiled once into its driver's SQL (`driver_sql`), and the
per-application owner of all of them (`sessions`). The names other packages
use are importable from here.
"""

from __future__ import annotations

from registration.database.base import NAMING_CONVENTION, Base, UTCDateTime
from registration.database.breaker import DatabaseRestingError, OutageBreaker
from registration.database.driver_sql import DriverStatement
from registration.database.engine import make_engine
from registration.database.faults import DatabaseFault, database_fault
from registration.database.postgres import (
    BINARY_RESULTS,
    DatabaseDeadlineError,
    DeadlineConnection,
)
from registration.database.sessions import Database
from registration.database.sqlite import SQLITE_PROGRESS_STEPS
from registration.database.timeouts import (
    CLIENT_DEADLINE_GRACE_SECONDS,
    DatabaseTimeouts,
    limit_database_budget,
    reset_database_budget,
)

__all__ = [
    "BINARY_RESULTS",
    "CLIENT_DEADLINE_GRACE_SECONDS",
    "NAMING_CONVENTION",
    "SQLITE_PROGRESS_STEPS",
    "Base",
    "Database",
    "DatabaseDeadlineError",
    "DatabaseFault",
    "DatabaseRestingError",
    "DatabaseTimeouts",
    "DeadlineConnection",
    "DriverStatement",
    "OutageBreaker",
    "UTCDateTime",
    "database_fault",
    "limit_database_budget",
    "make_engine",
    "reset_database_budget",
]
