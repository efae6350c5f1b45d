"""Leadership on a real PostgreSQL server: a session advisory lock on a connection of its own.

One holder per name across engines (workers); the lock goes when the holder lets go, when its
connection is cut, and when its process is killed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from surveys.core.db import create_engine
from surveys.delivery import leases
from surveys.delivery.leases import Leadership

REPO = Path(__file__).resolve().parents[2]
HOLDER = textwrap.dedent(
    """
    import asyncio, sys, time
    from surveys.core.db import create_engine
    from surveys.delivery.leases import Leadership

    async def main():
        leadership = Leadership(create_engine(sys.argv[1]), sys.argv[2])
        print("held" if await leadership.hold() else "refused", flush=True)
        time.sleep(120)

    asyncio.run(main())
    """
)


@pytest.fixture
async def engines(fresh_db_url: str) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    """Two workers' engines on one database."""
    first, second = create_engine(fresh_db_url), create_engine(fresh_db_url)
    yield first, second
    await first.dispose()
    await second.dispose()


async def advisory_locks(engine: AsyncEngine) -> int:
    """Advisory locks granted in this database, seen from a connection of its own."""
    async with engine.connect() as connection:
        found = await connection.scalar(
            text(
                "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
                " WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database()"
            )
        )
    return int(found or 0)


async def try_lock(engine: AsyncEngine, name: str) -> bool:
    """Whether another connection could take the lock of ``name`` (let go again at once)."""
    async with engine.connect() as connection:
        taken = bool(
            await connection.scalar(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": leases._key(name)}
            )
        )
        if taken:
            await connection.scalar(
                text("SELECT pg_advisory_unlock(:key)"), {"key": leases._key(name)}
            )
        await connection.rollback()
    return taken


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not await check():
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def test_one_holder_per_name_until_it_lets_go(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    one, two = engines
    first, second = Leadership(one, "sender"), Leadership(two, "sender")

    assert await first.hold() is True
    assert await second.hold() is False
    assert await first.hold() is True
    assert await try_lock(two, "sender") is False  # a second connection cannot take it
    assert await advisory_locks(two) == 1

    await first.release()  # closes the holder's connection

    assert await advisory_locks(two) == 0
    assert await second.hold() is True
    assert await first.hold() is False
    await second.release()
    assert await advisory_locks(one) == 0


async def test_names_are_independent(engines: tuple[AsyncEngine, AsyncEngine]) -> None:
    one, two = engines
    sender, scheduler = Leadership(one, "sender"), Leadership(one, "scheduler")

    assert await sender.hold() is True
    assert await scheduler.hold() is True
    assert await Leadership(two, "sender").hold() is False
    assert await Leadership(two, "scheduler").hold() is False
    assert await try_lock(two, "something-else") is True

    await sender.release()
    await scheduler.release()


async def test_a_cut_connection_gives_the_lock_up(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    one, two = engines
    first, second = Leadership(one, "sender"), Leadership(two, "sender")
    assert await first.hold() is True
    async with two.connect() as admin:
        cut = await admin.scalar(
            text(
                "SELECT pg_terminate_backend(l.pid) FROM pg_locks l"
                " JOIN pg_database d ON d.oid = l.database"
                " WHERE l.locktype = 'advisory' AND d.datname = current_database()"
            )
        )
        await admin.rollback()
    assert cut is True

    assert await eventually(second.hold)
    # The old holder finds its connection gone and does not think it still leads.
    assert await first.hold() is False
    assert first.held is False
    await second.release()
    assert await eventually(first.hold)
    await first.release()


async def test_a_lock_held_by_a_killed_process_is_free_again(
    engines: tuple[AsyncEngine, AsyncEngine], fresh_db_url: str
) -> None:
    one, _ = engines
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, fresh_db_url, "sender"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        said = (await asyncio.to_thread(process.stdout.readline)).strip()
        assert said == "held", process.stderr.read() if process.stderr else said
        here = Leadership(one, "sender")
        assert await here.hold() is False

        os.kill(process.pid, signal.SIGKILL)
        await asyncio.to_thread(process.wait, 10)

        assert await eventually(here.hold)
        await here.release()
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)
