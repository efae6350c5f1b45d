"""A real PostgreSQL server for these tests, started by ``scripts/postgres.sh``.

One throwaway cluster per test session (``postgres_cluster`` in ``tests/conftest.py``, shared
with the postgres test backend; installed with apt when the machine has none), one
``minyi_test`` database for the session, and a fresh empty database for each test that asks.
If the server cannot be started the tests fail with the script's output: they never skip.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.servers import Cluster

SESSION_DATABASE = "minyi_test"


@pytest.fixture(scope="session")
def postgres_url(postgres_cluster: Cluster) -> Iterator[str]:
    """``postgresql+psycopg://postgres@127.0.0.1:PORT/minyi_test``, empty at the start."""
    postgres_cluster.create_database(SESSION_DATABASE)
    yield postgres_cluster.url(SESSION_DATABASE)
    postgres_cluster.drop_database(SESSION_DATABASE)


@pytest.fixture
def fresh_db_url(postgres_cluster: Cluster) -> Iterator[str]:
    """A new empty database for one test, dropped afterwards (engines must be disposed)."""
    name = f"minyi_{uuid.uuid4().hex[:16]}"
    postgres_cluster.create_database(name)
    yield postgres_cluster.url(name)
    postgres_cluster.drop_database(name)
