"""Throwaway PostgreSQL and Redis servers for the tests, and the backend the tests run on.

``MINYI_TEST_BACKEND`` chooses the backend of the root fixtures (``tests/conftest.py``):

* ``sqlite`` (the default): a SQLite file per test under pytest's ``tmp_path``, aiogram's
  memory storage;
* ``postgres``: PostgreSQL from ``scripts/postgres.sh`` and Redis from ``scripts/redis.sh``,
  both started once per test session. Every test gets a new database copied from a template
  migrated once (``CREATE DATABASE … TEMPLATE``), and an empty Redis (``FLUSHALL``). The
  ``minyi`` processes of ``tests/e2e`` get ``DATABASE_URL`` and ``REDIS_URL`` too.

A server that cannot start fails the session with the script's output: nothing is skipped.
"""

from __future__ import annotations

import os
import socket
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis
from psycopg import sql

REPO = Path(__file__).resolve().parent.parent
POSTGRES_SCRIPT = REPO / "scripts" / "postgres.sh"
REDIS_SCRIPT = REPO / "scripts" / "redis.sh"
HOST = "127.0.0.1"
BACKEND_VARIABLE = "MINYI_TEST_BACKEND"
BACKENDS = ("sqlite", "postgres")
START_ATTEMPTS = 3
REDIS_DATABASES = 16  # redis-server's default; database 0 serves the root fixtures
# Long enough for `apt-get install postgresql` on a machine that lacks the server.
SCRIPT_TIMEOUT = 900


class ServerError(RuntimeError):
    """A server could not be started or stopped; the message holds the script's output."""


def backend() -> str:
    """``sqlite`` or ``postgres``, from ``MINYI_TEST_BACKEND`` (an unknown value is an error)."""
    value = os.environ.get(BACKEND_VARIABLE, "").strip().lower() or "sqlite"
    if value not in BACKENDS:
        raise ServerError(f"{BACKEND_VARIABLE}={value!r}: expected one of {', '.join(BACKENDS)}")
    return value


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def run_script(script: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(script), *args],
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT,
        check=False,
    )


def script_output(result: subprocess.CompletedProcess[str]) -> str:
    command = " ".join(str(a) for a in result.args)
    return f"$ {command}\nexit status {result.returncode}\n{result.stdout}{result.stderr}"


def start_with_script(script: Path, folder: str) -> int:
    """``script start FOLDER PORT`` on a free port; the port, or :class:`ServerError`."""
    outputs: list[str] = []
    for _attempt in range(START_ATTEMPTS):
        # The port is free now but could be taken before the server binds it: retry.
        port = free_port()
        result = run_script(script, "start", folder, str(port))
        outputs.append(script_output(result))
        if result.returncode == 0:
            return port
        if "Address already in use" not in result.stderr:
            break
    name = script.relative_to(REPO)
    raise ServerError(f"{name} could not start its server:\n\n" + "\n".join(outputs))


def stop_with_script(script: Path, folder: str) -> None:
    result = run_script(script, "stop", folder)
    if result.returncode != 0:
        raise ServerError(script_output(result))


@dataclass(frozen=True)
class Cluster:
    """A running PostgreSQL server: superuser ``postgres`` without a password on HOST:port."""

    port: int

    def url(self, database: str) -> str:
        """A SQLAlchemy URL; the psycopg dialect serves both sync and async engines."""
        return f"postgresql+psycopg://postgres@{HOST}:{self.port}/{database}"

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        """An autocommit connection to the ``postgres`` database, for CREATE/DROP DATABASE."""
        return psycopg.connect(
            host=HOST, port=self.port, user="postgres", dbname="postgres", autocommit=True
        )

    def create_database(self, name: str, template: str = "template0") -> None:
        with self.admin() as connection:
            connection.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {} ENCODING 'UTF8'").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )

    def drop_database(self, name: str) -> None:
        with self.admin() as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def start_postgres(folder: str) -> Cluster:
    return Cluster(port=start_with_script(POSTGRES_SCRIPT, folder))


def stop_postgres(folder: str) -> None:
    stop_with_script(POSTGRES_SCRIPT, folder)


@dataclass(frozen=True)
class RedisServer:
    """A running Redis server on HOST:port, without a password."""

    port: int

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def flush(self) -> None:
        """Empty every database of the server (FLUSHALL)."""
        with redis.Redis(host=HOST, port=self.port) as client:
            client.flushall()

    def flush_db(self, db: int) -> None:
        with redis.Redis(host=HOST, port=self.port, db=db) as client:
            client.flushdb()


def start_redis(folder: str) -> RedisServer:
    return RedisServer(port=start_with_script(REDIS_SCRIPT, folder))


def stop_redis(folder: str) -> None:
    stop_with_script(REDIS_SCRIPT, folder)


@dataclass
class ServerBackend:
    """The PostgreSQL + Redis of a ``MINYI_TEST_BACKEND=postgres`` session.

    ``template`` is a database holding the migrated schema and nothing else; every database
    handed out is a copy of it.
    """

    cluster: Cluster
    redis: RedisServer
    template: str
    databases: set[str] = field(default_factory=set)
    _last_db: int = 0

    def new_database(self, *, migrated: bool = True) -> tuple[str, str]:
        """A new database, its name and SQLAlchemy URL: a copy of the template (the schema,
        no rows), or with ``migrated=False`` without any table, for ``minyi db upgrade``."""
        name = f"minyi_{uuid.uuid4().hex[:16]}"
        self.cluster.create_database(name, template=self.template if migrated else "template0")
        self.databases.add(name)
        return name, self.cluster.url(name)

    def drop_database(self, name: str) -> None:
        self.cluster.drop_database(name)
        self.databases.discard(name)

    def process_redis_url(self) -> str:
        """An empty Redis database of its own (1-15, in turn) for one ``minyi`` process, so
        that FSM state of an earlier process (same fake users) is never seen."""
        self._last_db = self._last_db % (REDIS_DATABASES - 1) + 1
        self.redis.flush_db(self._last_db)
        return f"redis://{HOST}:{self.redis.port}/{self._last_db}"

    def drop_all(self) -> None:
        for name in list(self.databases):
            self.drop_database(name)


_current: ServerBackend | None = None


def current() -> ServerBackend | None:
    """The running servers of a postgres session (set by ``tests/conftest.py``), else None."""
    return _current


def set_current(servers: ServerBackend | None) -> None:
    global _current
    _current = servers


def psycopg_url(url: str) -> str:
    """A libpq URL from a SQLAlchemy ``postgresql+psycopg://`` one."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)
