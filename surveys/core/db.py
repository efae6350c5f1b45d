"""Engine and session factories; SQLite gets WAL, foreign keys and secure delete on every
connection."""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession as AsyncSession  # adapters' session type

from surveys.core.exceptions import DatabaseBusy, DatabaseUnavailable
from surveys.core.settings import Settings

SessionMaker = async_sessionmaker[AsyncSession]


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy issue BEGIN itself (see _begin) instead of the driver.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=5000")
    # Deleted rows are overwritten with zeros, so an erased chat id is not left in free pages.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


READ_ONLY = "minyi_read_only"  # execution option of a read transaction (see read_only)
NO_TRANSACTION = "minyi_no_transaction"  # a statement SQLite refuses inside one (checkpoint)


class WriteInReadTransaction(RuntimeError):
    """A read-only request tried to store something: it must take a write transaction."""


def _begin(connection: Any) -> None:
    if connection.get_execution_options().get(NO_TRANSACTION):
        return
    if connection.get_execution_options().get(READ_ONLY):
        # WAL readers see a snapshot and never wait for (or block) the one writer.
        connection.exec_driver_sql("BEGIN")
        return
    # A deferred transaction that reads, then writes, fails at once with SQLITE_BUSY when
    # another writer got in between; taking the write lock up front makes it wait instead.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(url: str, *, bookkeeping: bool = False, **kwargs: Any) -> AsyncEngine:
    """An async engine; for SQLite the file's folder is created and PRAGMAs set.

    ``bookkeeping``: commits that may be lost to a power cut (not to a crash of the
    process), for records that are safe to redo, such as which outbox messages were sent:
    SQLite's ``synchronous=NORMAL`` in WAL mode, PostgreSQL's ``synchronous_commit=off``.
    They skip the disk flush that every other commit waits for.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        if bookkeeping:
            event.listen(engine.sync_engine, "connect", _sqlite_bookkeeping)
        event.listen(engine.sync_engine, "begin", _begin)
        return engine
    engine = create_async_engine(url, pool_pre_ping=True, **kwargs)
    if bookkeeping:
        event.listen(engine.sync_engine, "connect", _postgres_bookkeeping)
    return engine


def _sqlite_bookkeeping(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _postgres_bookkeeping(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("SET synchronous_commit = off")
    cursor.close()
    dbapi_connection.commit()


def engine_from_settings(settings: Settings) -> AsyncEngine:
    return create_engine(settings.db_url)


def create_sessionmaker(engine: AsyncEngine) -> SessionMaker:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


# SQLite lets one writer in at a time. Left to its busy timeout, writers of one process race
# for the file lock by polling it, and under load some wait past the timeout and fail;
# queued on an asyncio lock they take turns in arrival order instead. Per database file and
# event loop, so the sender's bookkeeping engine takes its turn with the rest.
WRITER_WAIT_SECONDS = 60.0
_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Writer]] = (
    weakref.WeakKeyDictionary()
)


class _Writer:
    """A FIFO lock that the task holding it may take again (a nested transaction block of
    the same task is SQLite's own problem, as before, not a wait on itself)."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.owner: asyncio.Task[Any] | None = None


@asynccontextmanager
async def _one_writer(sessionmaker: SessionMaker) -> AsyncIterator[None]:
    bind = sessionmaker.kw.get("bind")
    if not isinstance(bind, AsyncEngine) or bind.dialect.name != "sqlite":
        yield
        return
    loop, task = asyncio.get_running_loop(), asyncio.current_task()
    database = str(bind.url.database)
    writer = _writers.setdefault(loop, {}).setdefault(database, _Writer())
    if task is not None and writer.owner is task:
        yield
        return
    # Waiting costs a timer, not a task of its own, and no connection: the session that
    # writes is opened only once the turn has come (see unit_of_work).
    try:
        async with asyncio.timeout(WRITER_WAIT_SECONDS):
            await writer.lock.acquire()
    except TimeoutError:
        raise DatabaseBusy() from None
    writer.owner = task
    try:
        yield
    finally:
        writer.owner = None
        writer.lock.release()


@asynccontextmanager
async def unit_of_work(sessionmaker: SessionMaker) -> AsyncIterator[AsyncSession]:
    """One transaction: commit when the block ends, roll back if it raises.

    On SQLite the writers of this process take turns in arrival order (one at a time); a
    write that still waited past SQLite's busy timeout (another process's writer) becomes
    :class:`DatabaseBusy` (503, "try again"), never an unexplained failure.
    """
    async with _one_writer(sessionmaker):
        session = sessionmaker()
        try:
            yield session
            await session.commit()
        except OperationalError as exc:
            with contextlib.suppress(Exception):  # the connection may be gone with the server
                await session.rollback()
            if _locked(exc):
                raise DatabaseBusy() from exc
            if _unreachable(exc):
                raise DatabaseUnavailable() from exc
            raise
        except BaseException:
            await session.rollback()
            raise
        finally:
            await _close(session)


async def _close(session: AsyncSession) -> None:
    """Close ``session`` (what it has not committed is rolled back) even when the task is
    being cancelled: a request whose client went away, or a server stopping, still returns
    its connection to the pool, rather than leave it to the garbage collector (which logs a
    CancelledError traceback from the pool's reset)."""

    async def close() -> None:
        with contextlib.suppress(Exception):  # the connection may be gone with the server
            await session.close()

    await asyncio.shield(close())


def _locked(exc: OperationalError) -> bool:
    """SQLite's writer waited past the busy timeout, or PostgreSQL ended the transaction
    as a deadlock's or a serialisation conflict's loser (class 40): try again."""
    return "database is locked" in str(exc.orig) or _sqlstate(exc).startswith("40")


def _unreachable(exc: OperationalError) -> bool:
    """The server is gone or refuses connections (PostgreSQL stopped, restarting, network),
    as opposed to a wrong statement, which stays an error."""
    if exc.connection_invalidated:
        return True
    if not type(exc.orig).__module__.startswith("psycopg"):
        return False
    # No SQLSTATE: the connection failed before the server said anything. Class 08 is a
    # connection exception, 57P01-57P03 the server shutting down or starting.
    state = _sqlstate(exc)
    return not state or state.startswith("08") or state in {"57P01", "57P02", "57P03"}


def _sqlstate(exc: OperationalError) -> str:
    return str(getattr(exc.orig, "sqlstate", None) or "")


def _refuse_writes(session: Any, _context: Any, _instances: Any) -> None:
    if session.new or session.dirty or session.deleted:
        raise WriteInReadTransaction("a read transaction has changes to store")


@asynccontextmanager
async def read_only(sessionmaker: SessionMaker) -> AsyncIterator[AsyncSession]:
    """One read transaction: never takes SQLite's write lock, stores nothing."""
    session = sessionmaker()
    event.listen(session.sync_session, "before_flush", _refuse_writes)
    try:
        await session.connection(execution_options={READ_ONLY: True})
        yield session
    except OperationalError as exc:
        if _unreachable(exc):
            raise DatabaseUnavailable() from exc
        raise
    finally:
        await _close(session)  # rolls back: nothing is ever stored here


async def checkpoint(session: AsyncSession) -> bool:
    """Copy SQLite's write-ahead log into the database file and truncate it.

    Call it after a transaction that erased personal data has committed: with
    ``secure_delete`` the file then holds zeros where the rows were, and the ``-wal`` file,
    which still held the rows' earlier copies, is empty. True when the log was emptied;
    False when a reader kept part of it (the next checkpoint finishes the job). Other
    databases keep no such file: nothing to do, True.
    """
    bind = session.bind
    if bind is None or bind.dialect.name != "sqlite":
        return True
    engine = bind if isinstance(bind, AsyncEngine) else bind.engine
    async with engine.connect() as connection:
        outside = await connection.execution_options(**{NO_TRANSACTION: True})
        result = await outside.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        row = result.one()
    return not row[0]


async def ping(session: AsyncSession) -> None:
    """One round trip to the database (the health check)."""
    await session.exec(text("SELECT 1"))  # type: ignore[call-overload]
