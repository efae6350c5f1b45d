"""Waking another worker's sender on a real PostgreSQL server: an announcement reaches the
listeners of other engines when its transaction commits, never when it rolls back, and a
listener whose connection is cut listens again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.core.db import create_engine
from surveys.delivery.wakeups import CHANNEL, Listener, announce


class Woken:
    def __init__(self) -> None:
        self.count = 0
        self.event = asyncio.Event()

    def __call__(self) -> None:
        self.count += 1
        self.event.set()

    async def next(self, timeout: float = 10.0) -> None:
        await asyncio.wait_for(self.event.wait(), timeout)
        self.event.clear()


@pytest.fixture
async def engines(fresh_db_url: str) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    """Two workers' engines on one database."""
    first, second = create_engine(fresh_db_url), create_engine(fresh_db_url)
    yield first, second
    await first.dispose()
    await second.dispose()


@pytest.fixture
async def listening(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> AsyncIterator[tuple[Listener, Woken]]:
    """A listener on the second engine, connected, its first wake-up (on connecting) taken."""
    woken = Woken()
    listener = Listener(engines[1], woken)
    task = asyncio.create_task(listener.run())
    await asyncio.wait_for(listener.listening.wait(), 10)
    await woken.next()
    woken.count = 0
    yield listener, woken
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def queue_and(engine: AsyncEngine, *, commit: bool) -> None:
    async with AsyncSession(engine) as session:
        await announce(session)
        await session.commit() if commit else await session.rollback()


async def test_a_committed_announcement_wakes_the_listener_of_another_engine(
    engines: tuple[AsyncEngine, AsyncEngine], listening: tuple[Listener, Woken]
) -> None:
    _, woken = listening
    await queue_and(engines[0], commit=True)
    await woken.next()
    assert woken.count == 1


async def test_a_rolled_back_announcement_wakes_nobody(
    engines: tuple[AsyncEngine, AsyncEngine], listening: tuple[Listener, Woken]
) -> None:
    _, woken = listening
    await queue_and(engines[0], commit=False)
    # Notifications arrive in commit order: one from the rollback would come before this.
    await queue_and(engines[0], commit=True)
    await woken.next()
    await asyncio.sleep(0.2)
    assert woken.count == 1


async def test_a_listener_whose_connection_is_cut_listens_again(
    engines: tuple[AsyncEngine, AsyncEngine], listening: tuple[Listener, Woken]
) -> None:
    listener, woken = listening
    async with engines[0].connect() as connection:
        cut = await connection.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE query = :listen AND datname = current_database()"
            ),
            {"listen": f"LISTEN {CHANNEL}"},
        )
    assert cut == 1
    await woken.next()  # on listening again, a wake-up for what came meanwhile
    assert listener.listening.is_set()
    woken.count = 0
    await queue_and(engines[0], commit=True)
    await woken.next()
    assert woken.count == 1
