"""Shared fixtures: real settings, a real database, sessions; no import-time state.

The database is a SQLite file per test by default. With ``MINYI_TEST_BACKEND=postgres``
(``make test`` runs the bot and API suites so too) it is a new PostgreSQL database per test,
copied from a template migrated once per session, and the settings carry ``REDIS_URL`` of an
emptied Redis: the bot then keeps its FSM state and per-chat locks in Redis. Both servers are
started once per session by ``scripts/postgres.sh`` and ``scripts/redis.sh``; see
``tests/servers.py``.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

import scoring.models  # noqa: F401  (registers the tables)
import surveys.schema  # noqa: F401  (registers every table)
from surveys.core import migrate
from surveys.core.db import SessionMaker, create_engine, create_sessionmaker
from surveys.core.settings import Settings
from tests import servers

# big_db_file and big_session: a generated 200,000-rating database (tests/bigdb.py).
pytest_plugins = ["tests.bigdb"]

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "scoring" / "demo" / "data"
BACKEND = servers.backend()
TEMPLATE_DATABASE = "minyi_template"


def pytest_report_header() -> str:
    return f"minyi test backend: {BACKEND} ({servers.BACKEND_VARIABLE})"


# Servers -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[servers.Cluster]:
    """A throwaway cluster in a temporary folder, stopped and removed after the session."""
    # Under /tmp rather than pytest's tmp_path: the server runs as the `postgres` user, who
    # cannot enter root's private pytest folders, and the socket path must stay short.
    folder = tempfile.mkdtemp(prefix="minyi-pg-", dir="/tmp")
    try:
        try:
            cluster = servers.start_postgres(folder)
        except servers.ServerError as exc:
            pytest.fail(str(exc), pytrace=False)
        yield cluster
    finally:
        stopped = _stop(servers.stop_postgres, folder)
    if stopped:
        pytest.fail(stopped, pytrace=False)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[servers.RedisServer]:
    """A throwaway Redis in a temporary folder, stopped and removed after the session."""
    folder = tempfile.mkdtemp(prefix="minyi-redis-", dir="/tmp")
    try:
        try:
            server = servers.start_redis(folder)
        except servers.ServerError as exc:
            pytest.fail(str(exc), pytrace=False)
        yield server
    finally:
        stopped = _stop(servers.stop_redis, folder)
    if stopped:
        pytest.fail(stopped, pytrace=False)


def _stop(stop: Callable[[str], None], folder: str) -> str:
    """Stop the server of ``folder`` and remove it; the script's output if stopping failed."""
    try:
        stop(folder)
    except servers.ServerError as exc:
        return str(exc)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return ""


@pytest.fixture(scope="session")
def server_backend(
    postgres_cluster: servers.Cluster, redis_server: servers.RedisServer
) -> Iterator[servers.ServerBackend]:
    """PostgreSQL with a migrated template database, and Redis (the postgres backend)."""
    postgres_cluster.create_database(TEMPLATE_DATABASE)
    # Alembic runs its own event loop: keep it off any loop pytest-asyncio may be running.
    url = postgres_cluster.url(TEMPLATE_DATABASE)
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(migrate.upgrade, url).result()
    backend = servers.ServerBackend(postgres_cluster, redis_server, TEMPLATE_DATABASE)
    servers.set_current(backend)
    try:
        yield backend
    finally:
        servers.set_current(None)
        backend.drop_all()
        postgres_cluster.drop_database(TEMPLATE_DATABASE)


@pytest.fixture(scope="session", autouse=True)
def _backend_servers(request: pytest.FixtureRequest) -> None:
    """With the postgres backend, start both servers before the first test; if either cannot
    start, end the whole session at once with the script's output (never skip)."""
    if BACKEND != "postgres":
        return
    try:
        request.getfixturevalue("server_backend")
    except pytest.fail.Exception as exc:
        pytest.exit(f"the postgres test backend has no servers:\n{exc}", returncode=1)


# Settings and the database -----------------------------------------------------------------


@pytest.fixture
def settings(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Settings]:
    backend_settings: dict[str, object] = {}
    database: str | None = None
    running: servers.ServerBackend | None = None
    if BACKEND == "postgres":
        running = request.getfixturevalue("server_backend")
        database, url = running.new_database()
        running.redis.flush()
        backend_settings = {"database_url": url, "redis_url": running.redis.url}
    yield Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "var",
        secret_key="test-secret-key",  # type: ignore[arg-type]
        bot_token="123456:TEST",  # type: ignore[arg-type]
        **backend_settings,  # type: ignore[arg-type]
    )
    if running is not None and database is not None:
        running.drop_database(database)


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings.db_url)
    if BACKEND != "postgres":  # a PostgreSQL database is a copy of the migrated template
        async with engine.begin() as connection:
            await connection.run_sync(SQLModel.metadata.create_all)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessionmaker(engine: AsyncEngine) -> SessionMaker:
    return create_sessionmaker(engine)


@pytest.fixture
async def session(sessionmaker: SessionMaker) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as session:
        yield session
        await session.rollback()
