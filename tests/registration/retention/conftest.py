"""Fixtures for the retention tests.

Maintenance opens its own connections and commits in batches, as it does in
production, so these tests work on committed data (`committed`, tests/conftest.py),
which is wiped before and after each test instead of rolled back.
"""

from __future__ import annotations

import pytest

from registration.clock import FrozenClock
from registration.database import Database
from tests import factories
from tests.factories import Venue


@pytest.fixture
def place(committed: Database, clock: FrozenClock) -> Venue:
    return factories.add_venue(committed.engine, now=clock.now())
