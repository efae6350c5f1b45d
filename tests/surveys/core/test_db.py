"""Transactions on the SQLite file: reads never wait for the writer, a write that cannot get
the lock in time is refused as DatabaseBusy and stores nothing."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager, closing
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import QueuePool
from sqlmodel import func, select

from surveys.accounts.models import Unit, UnitKind
from surveys.core.db import (
    AsyncSession,
    SessionMaker,
    WriteInReadTransaction,
    checkpoint,
    create_sessionmaker,
    read_only,
    unit_of_work,
)
from surveys.core.exceptions import DatabaseBusy
from surveys.core.settings import Settings


def _db(settings: Settings) -> Path:
    return Path(settings.db_url.split("///", 1)[1])


@pytest.fixture
def writer_holds_the_lock(settings: Settings, engine: AsyncEngine) -> Iterator[None]:
    """Another process's write transaction, open for the whole test."""
    with closing(sqlite3.connect(_db(settings), isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO unit (code, name, kind, active, created_at)"
                      " VALUES ('held', '占用', '市直部门', 1, '2026-01-01')")  # fmt: skip
        yield
        other.execute("ROLLBACK")


@pytest.fixture
async def impatient(engine: AsyncEngine) -> SessionMaker:
    """Sessions that wait 0.2 s for the write lock instead of 5 s."""

    def short_wait(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.cursor().execute("PRAGMA busy_timeout=200")

    event.listen(engine.sync_engine, "connect", short_wait)
    await engine.dispose()  # pooled connections were opened with the usual wait
    return create_sessionmaker(engine)


async def _store_unit(
    transaction: Callable[[SessionMaker], AbstractAsyncContextManager[AsyncSession]],
    sessionmaker: SessionMaker,
    code: str,
) -> None:
    async with transaction(sessionmaker) as session:
        session.add(Unit(code=code, name="某局", kind=UnitKind.department))
        await session.flush()


class TestReadOnly:
    @pytest.mark.usefixtures("writer_holds_the_lock")
    async def test_a_read_runs_while_another_writer_holds_the_lock(
        self, impatient: SessionMaker
    ) -> None:
        async with read_only(impatient) as session:
            count = (await session.exec(select(func.count()).select_from(Unit))).one()
        assert count == 0  # the writer's uncommitted row is not seen

    async def test_changes_in_a_read_transaction_are_refused(
        self, sessionmaker: SessionMaker
    ) -> None:
        with pytest.raises(WriteInReadTransaction):
            await _store_unit(read_only, sessionmaker, "x")
        async with read_only(sessionmaker) as session:
            assert (await session.exec(select(func.count()).select_from(Unit))).one() == 0


class TestUnitOfWork:
    @pytest.mark.usefixtures("writer_holds_the_lock")
    async def test_a_write_that_cannot_get_the_lock_is_busy_and_stores_nothing(
        self, impatient: SessionMaker, settings: Settings
    ) -> None:
        with pytest.raises(DatabaseBusy):
            await _store_unit(unit_of_work, impatient, "mine")
        with closing(sqlite3.connect(_db(settings))) as reader:
            assert reader.execute("SELECT count(*) FROM unit WHERE code='mine'").fetchone() == (0,)

    async def test_a_write_commits_when_the_block_ends(
        self, sessionmaker: SessionMaker, settings: Settings
    ) -> None:
        await _store_unit(unit_of_work, sessionmaker, "mine")
        with closing(sqlite3.connect(_db(settings))) as reader:
            assert reader.execute("SELECT count(*) FROM unit WHERE code='mine'").fetchone() == (1,)


class TestWritersTakeTurns:
    async def test_many_slow_writers_at_once_all_store_in_arrival_order(
        self, impatient: SessionMaker
    ) -> None:
        """Twenty writers each holding the write transaction for 50 ms, with SQLite's busy
        timeout at 200 ms: left to SQLite most would fail; in turn all of them store."""
        entered: list[int] = []

        async def write(n: int) -> None:
            async with unit_of_work(impatient) as session:
                entered.append(n)
                session.add(Unit(code=f"u{n}", name="某局", kind=UnitKind.department))
                await session.flush()
                await asyncio.sleep(0.05)

        tasks = []
        for n in range(20):
            tasks.append(asyncio.create_task(write(n)))
            await asyncio.sleep(0)  # each one queues before the next starts

        await asyncio.gather(*tasks)

        assert entered == list(range(20))
        async with read_only(impatient) as session:
            assert (await session.exec(select(func.count()).select_from(Unit))).one() == 20

    async def test_writers_waiting_for_their_turn_hold_no_connection_and_no_task(
        self, engine: AsyncEngine, sessionmaker: SessionMaker
    ) -> None:
        """While one writer has the turn, the others wait on the queue alone: none has taken a
        pooled connection (a crowd of waiters would empty the pool and open new ones), and
        waiting makes no task of its own beside the writer's."""
        release = asyncio.Event()

        async def first() -> None:
            async with unit_of_work(sessionmaker) as session:
                session.add(Unit(code="first", name="某局", kind=UnitKind.department))
                await session.flush()
                await release.wait()

        async def later(n: int) -> None:
            await _store_unit(unit_of_work, sessionmaker, f"w{n}")

        pool = engine.pool
        assert isinstance(pool, QueuePool)
        holder = asyncio.create_task(first())
        while pool.checkedout() == 0:  # the first writer is in its transaction
            await asyncio.sleep(0.01)
        tasks_before = len(asyncio.all_tasks())
        waiters = [asyncio.create_task(later(n)) for n in range(12)]
        for _ in range(5):  # let each of them reach the queue
            await asyncio.sleep(0)

        assert pool.checkedout() == 1
        assert len(asyncio.all_tasks()) == tasks_before + len(waiters)
        assert not any(task.done() for task in waiters)

        release.set()
        await asyncio.gather(holder, *waiters)
        async with read_only(sessionmaker) as session:
            assert (await session.exec(select(func.count()).select_from(Unit))).one() == 13


def _wal(settings: Settings) -> Path:
    db = _db(settings)
    return db.with_name(db.name + "-wal")


class TestErasing:
    async def test_every_connection_overwrites_deleted_content(
        self, sessionmaker: SessionMaker
    ) -> None:
        async with read_only(sessionmaker) as session:
            result = await session.connection()
            value = (await result.exec_driver_sql("PRAGMA secure_delete")).scalar()
        assert value == 1

    async def test_checkpoint_empties_the_wal_file_and_keeps_the_data(
        self, sessionmaker: SessionMaker, settings: Settings
    ) -> None:
        await _store_unit(unit_of_work, sessionmaker, "mine")
        assert _wal(settings).stat().st_size > 0

        async with sessionmaker() as session:
            emptied = await checkpoint(session)

        assert emptied is True
        assert _wal(settings).stat().st_size == 0
        with closing(sqlite3.connect(_db(settings))) as reader:
            assert reader.execute("SELECT count(*) FROM unit WHERE code='mine'").fetchone() == (1,)

    async def test_a_reader_on_an_old_snapshot_keeps_the_log_and_it_says_so(
        self, impatient: SessionMaker, settings: Settings
    ) -> None:
        await _store_unit(unit_of_work, impatient, "first")
        with closing(sqlite3.connect(_db(settings), isolation_level=None)) as other:
            other.execute("BEGIN")
            other.execute("SELECT count(*) FROM unit").fetchone()
            await _store_unit(unit_of_work, impatient, "second")
            async with impatient() as session:
                emptied = await checkpoint(session)
            other.execute("ROLLBACK")

        assert emptied is False
        assert _wal(settings).stat().st_size > 0

    async def test_other_databases_have_no_log_to_empty(self) -> None:
        engine = create_async_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
        try:
            async with create_sessionmaker(engine)() as session:
                assert await checkpoint(session) is True  # and no connection was tried
        finally:
            await engine.dispose()
