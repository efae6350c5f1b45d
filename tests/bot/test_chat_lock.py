"""The per-chat lock in Redis (bot/chat_lock.py), against the real Redis of the postgres
backend (tests/servers.py): a holder killed with -9 leaves the chat locked for the lock's
timeout at most, a live holder keeps it as long as its update runs, and a lock lost meanwhile
never breaks the update."""

from __future__ import annotations

import asyncio
import logging
import random
import signal
import sys
from collections.abc import AsyncIterator

import pytest
from aiogram.fsm.storage.base import DefaultKeyBuilder, StorageKey
from redis.asyncio import Redis

from bot.chat_lock import ChatLockIsolation
from tests import servers

pytestmark = pytest.mark.skipif(
    servers.backend() != "postgres", reason="the chat lock lives in Redis (the postgres run)"
)
TIMEOUT = 1.0  # the lock's timeout here (CHAT_LOCK_SECONDS is 10 s by default)
# A process that takes the chat lock, says so, and waits to be killed.
HOLDER = """
import asyncio, sys
from aiogram.fsm.storage.base import StorageKey
from redis.asyncio import Redis
from bot.chat_lock import ChatLockIsolation

async def main(url, chat, timeout):
    isolation = ChatLockIsolation(Redis.from_url(url), timeout=timeout)
    async with isolation.lock(StorageKey(bot_id=1, chat_id=chat, user_id=chat)):
        print("held", flush=True)
        await asyncio.sleep(3600)

asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
"""


@pytest.fixture
async def redis(server_backend: servers.ServerBackend) -> AsyncIterator[Redis]:
    client = Redis.from_url(server_backend.redis.url)
    yield client
    await client.aclose()


@pytest.fixture
def key() -> StorageKey:
    chat = random.randrange(10**9, 2 * 10**9)  # a chat of this test's own
    return StorageKey(bot_id=1, chat_id=chat, user_id=chat)


def lock_name(key: StorageKey) -> str:
    return DefaultKeyBuilder().build(key, "lock")


async def test_a_holder_killed_with_9_leaves_the_chat_locked_for_the_timeout_at_most(
    server_backend: servers.ServerBackend, redis: Redis, key: StorageKey
) -> None:
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HOLDER,
        server_backend.redis.url,
        str(key.chat_id),
        str(TIMEOUT),
        cwd=servers.REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    assert holder.stdout is not None
    try:
        assert await asyncio.wait_for(holder.stdout.readline(), 60) == b"held\n"
        await asyncio.sleep(2 * TIMEOUT)  # renewed meanwhile: still held, as it should be
        assert await redis.exists(lock_name(key))
    finally:
        holder.send_signal(signal.SIGKILL)
        await holder.wait()
    # Left behind by the dead process, it expires by itself within the timeout ...
    left = await redis.pttl(lock_name(key))
    assert 0 < left <= TIMEOUT * 1000
    # ... and the chat's next update takes it then.
    waiting = ChatLockIsolation(redis, timeout=TIMEOUT)
    async with asyncio.timeout(10 * TIMEOUT):
        async with waiting.lock(key):
            pass


async def test_a_live_holder_keeps_the_chat_past_the_timeout_and_updates_never_interleave(
    server_backend: servers.ServerBackend, redis: Redis, key: StorageKey
) -> None:
    # Two processes' worth of isolation: each with a Redis client of its own.
    other_client = Redis.from_url(server_backend.redis.url)
    first = ChatLockIsolation(redis, timeout=TIMEOUT)
    second = ChatLockIsolation(other_client, timeout=TIMEOUT)
    events: list[str] = []
    inside = asyncio.Event()

    async def long_update() -> None:
        async with first.lock(key):
            events.append("first in")
            inside.set()
            await asyncio.sleep(3.5 * TIMEOUT)
            events.append("first out")

    async def next_update() -> None:
        await inside.wait()
        async with second.lock(key):
            events.append("second in")

    try:
        await asyncio.gather(long_update(), next_update())
    finally:
        await other_client.aclose()
    assert events == ["first in", "first out", "second in"]
    assert not await redis.exists(lock_name(key))  # released at the end


async def test_a_lock_lost_meanwhile_is_logged_without_the_chat_and_the_update_goes_on(
    redis: Redis, key: StorageKey, caplog: pytest.LogCaptureFixture
) -> None:
    isolation = ChatLockIsolation(redis, timeout=TIMEOUT)
    handled = False
    with caplog.at_level(logging.WARNING, logger="bot.chat_lock"):
        async with isolation.lock(key):
            await redis.delete(lock_name(key))  # as if it had expired (a stalled loop)
            await asyncio.sleep(TIMEOUT)  # a renewal falls in here
            handled = True
    assert handled
    messages = [record.getMessage() for record in caplog.records]
    assert any("expired while its update" in m for m in messages), messages
    assert any("expired before its update" in m for m in messages), messages
    assert not any(str(key.chat_id) in m for m in messages), messages
