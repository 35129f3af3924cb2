"""Fixtures for the retention tests.

Maintenance opens its own connections and commits in batches, as it does in
production, so these tests work on committed data (`committed`) and wipe every table
afterwards instead of rolling back one outer transaction.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from retention_helpers import Place, make_place, wipe

from registration.database import Database


@pytest.fixture
def committed(database: Database) -> Iterator[Database]:
    """The shared test database, written for real; emptied after the test."""
    # tests/conftest.py's bound_database leaves join_transaction_mode="conservative_savepoint",
    # which SQLAlchemy 2.1 refuses; restore the default until that is fixed there.
    database.sessionmaker.configure(
        bind=database.engine, join_transaction_mode="conditional_savepoint"
    )
    wipe(database)
    yield database
    wipe(database)


@pytest.fixture
def place(committed: Database) -> Place:
    return make_place(committed.engine)
