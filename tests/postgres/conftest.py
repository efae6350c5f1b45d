"""A real PostgreSQL server for these tests, started by ``scripts/postgres.sh``.

One throwaway cluster per test session (installed with apt when the machine has none), one
``minyi_test`` database for the session, and a fresh empty database for each test that asks.
If the server cannot be started the tests fail with the script's output: they never skip.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "postgres.sh"
HOST = "127.0.0.1"
SESSION_DATABASE = "minyi_test"
START_ATTEMPTS = 3
# Long enough for `apt-get install postgresql` on a machine that lacks the server.
SCRIPT_TIMEOUT = 900


@dataclass(frozen=True)
class Cluster:
    """A running server: superuser ``postgres`` without a password on HOST:port."""

    port: int

    def url(self, database: str) -> str:
        """A SQLAlchemy URL; the psycopg dialect serves both sync and async engines."""
        return f"postgresql+psycopg://postgres@{HOST}:{self.port}/{database}"

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        """An autocommit connection to the ``postgres`` database, for CREATE/DROP DATABASE."""
        return psycopg.connect(
            host=HOST, port=self.port, user="postgres", dbname="postgres", autocommit=True
        )

    def create_database(self, name: str) -> None:
        with self.admin() as connection:
            connection.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(
                    sql.Identifier(name)
                )
            )

    def drop_database(self, name: str) -> None:
        with self.admin() as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT,
        check=False,
    )


def script_output(result: subprocess.CompletedProcess[str]) -> str:
    command = " ".join(str(a) for a in result.args)
    return f"$ {command}\nexit status {result.returncode}\n{result.stdout}{result.stderr}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Cluster]:
    """A throwaway cluster in a temporary folder, stopped and removed after the session."""
    # Under /tmp rather than pytest's tmp_path: the server runs as the `postgres` user, who
    # cannot enter root's private pytest folders, and the socket path must stay short.
    folder = tempfile.mkdtemp(prefix="minyi-pg-", dir="/tmp")
    outputs: list[str] = []
    cluster: Cluster | None = None
    try:
        for _attempt in range(START_ATTEMPTS):
            # The port is free now but could be taken before the server binds it: retry.
            port = free_port()
            result = run_script("start", folder, str(port))
            outputs.append(script_output(result))
            if result.returncode == 0:
                cluster = Cluster(port=port)
                break
            if "Address already in use" not in result.stderr:
                break
        if cluster is None:
            pytest.fail(
                "scripts/postgres.sh could not start PostgreSQL:\n\n" + "\n".join(outputs),
                pytrace=False,
            )
        yield cluster
    finally:
        stopped = run_script("stop", folder)
        shutil.rmtree(folder, ignore_errors=True)
    if stopped.returncode != 0:
        pytest.fail(script_output(stopped), pytrace=False)


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
