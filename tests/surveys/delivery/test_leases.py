"""Leadership: one holder per name across processes, freed when the holder lets go or its
process dies, even by SIGKILL.

On SQLite (the default test backend) the lock is an ``flock`` on a file beside the database;
PostgreSQL's advisory locks have their own tests in ``tests/postgres/test_leases.py``.
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
from sqlalchemy.ext.asyncio import AsyncEngine

from surveys.delivery.leases import Leadership

REPO = Path(__file__).resolve().parents[3]
# Takes the lock the way a worker does, says whether it got it, then sleeps until killed.
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
Holder = Callable[[str], Awaitable[tuple[subprocess.Popen[str], str]]]


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> bool:
    """Whether ``check`` comes true within ``seconds`` (a dead process's lock goes at once
    with a file; a server may take a moment to notice a dropped connection)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not await check():
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def test_one_holder_per_name_until_it_lets_go(engine: AsyncEngine) -> None:
    first, second = Leadership(engine, "sender"), Leadership(engine, "sender")

    assert await first.hold() is True
    assert await second.hold() is False
    assert await first.hold() is True  # asking again: still the leader
    assert (first.held, second.held) == (True, False)

    await first.release()

    assert first.held is False
    assert await second.hold() is True
    assert await first.hold() is False
    await second.release()


async def test_names_are_independent(engine: AsyncEngine) -> None:
    sender, scheduler = Leadership(engine, "sender"), Leadership(engine, "scheduler")
    other_sender, other_scheduler = Leadership(engine, "sender"), Leadership(engine, "scheduler")

    assert await sender.hold() is True
    assert await scheduler.hold() is True
    assert await other_sender.hold() is False
    assert await other_scheduler.hold() is False

    await sender.release()
    assert await other_sender.hold() is True
    assert await other_scheduler.hold() is False  # "scheduler" is still held
    for leadership in (other_sender, scheduler):
        await leadership.release()


async def test_release_without_holding_is_harmless(engine: AsyncEngine) -> None:
    leadership = Leadership(engine, "sender")

    await leadership.release()
    assert await leadership.hold() is True
    await leadership.release()
    await leadership.release()

    assert leadership.held is False
    other = Leadership(engine, "sender")
    assert await other.hold() is True
    await other.release()


@pytest.fixture
async def holder(engine: AsyncEngine) -> AsyncIterator[Holder]:
    """Starts processes that take a lock on this database and keep it; kills them after."""
    url = engine.url.render_as_string(hide_password=False)
    started: list[subprocess.Popen[str]] = []

    async def start(name: str) -> tuple[subprocess.Popen[str], str]:
        process = subprocess.Popen(
            [sys.executable, "-c", HOLDER, url, name],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        assert process.stdout is not None
        line = await asyncio.to_thread(process.stdout.readline)
        if line.strip() not in ("held", "refused"):
            process.kill()
            _, err = process.communicate(timeout=10)
            pytest.fail(f"the holder process failed: {line!r}\n{err}")
        return process, line.strip()

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


async def test_a_lock_held_by_another_process_is_free_once_it_is_killed(
    engine: AsyncEngine, holder: Holder
) -> None:
    process, said = await holder("sender")
    assert said == "held"
    here, scheduler = Leadership(engine, "sender"), Leadership(engine, "scheduler")

    assert await here.hold() is False
    assert await scheduler.hold() is True  # another name is free
    await scheduler.release()

    os.kill(process.pid, signal.SIGKILL)  # no chance to let go
    await asyncio.to_thread(process.wait, 10)

    assert await eventually(here.hold)
    await here.release()


async def test_another_process_cannot_take_a_lock_held_here(
    engine: AsyncEngine, holder: Holder
) -> None:
    here = Leadership(engine, "sender")
    assert await here.hold() is True

    _, refused = await holder("sender")
    await here.release()
    _, held = await holder("sender")

    assert (refused, held) == ("refused", "held")
