"""A per-chat lock in Redis that a dead process does not hold for long.

aiogram's ``RedisEventIsolation`` takes redis-py's lock for 60 s: a process killed while it
handled an update of a chat leaves that chat locked for up to a minute, and after a restart
the chat's next update (and, when polling, every update behind it) waits that long.
:class:`ChatLockIsolation` takes the same lock (redis-py's :class:`~redis.asyncio.lock.Lock`,
the same key) for ``CHAT_LOCK_SECONDS`` only and renews it every third of that while the
update is being handled: a live holder keeps it as long as it needs, a dead one loses it
within ``CHAT_LOCK_SECONDS``.

Should the lock be lost all the same (the event loop stalled longer than the timeout, Redis
restarted), the update goes on and a warning is logged (without the chat); the update's id
is claimed in its own transaction (:mod:`bot.middlewares`), so nothing is stored twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator

from aiogram.fsm.storage.base import BaseEventIsolation, DefaultKeyBuilder, KeyBuilder, StorageKey
from redis.asyncio import Redis
from redis.asyncio.lock import Lock
from redis.exceptions import LockError, RedisError

log = logging.getLogger(__name__)
# How often a held lock is renewed, as a share of its timeout.
RENEW_SHARE = 1 / 3
# How often a waiting update looks whether the lock is free.
POLL_SECONDS = 0.05


class ChatLockIsolation(BaseEventIsolation):
    """One update of a chat at a time across processes; a dead holder frees it in ``timeout``."""

    def __init__(
        self, redis: Redis, timeout: float = 10.0, key_builder: KeyBuilder | None = None
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.redis = redis
        self.timeout = timeout
        self.key_builder = key_builder or DefaultKeyBuilder()

    def _lock(self, key: StorageKey) -> Lock:
        # thread_local=False: the token is read by the renewing task as well (same thread
        # today, but nothing here depends on it).
        return Lock(
            self.redis,
            self.key_builder.build(key, "lock"),
            timeout=self.timeout,
            sleep=POLL_SECONDS,
            thread_local=False,
        )

    @contextlib.asynccontextmanager
    async def lock(self, key: StorageKey) -> AsyncGenerator[None, None]:
        lock = self._lock(key)
        await lock.acquire()
        keeper = asyncio.create_task(self._keep(lock))
        try:
            yield None
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            await self._release(lock)

    async def _keep(self, lock: Lock) -> None:
        """Renew the lock to its full timeout every third of it, until cancelled or lost."""
        while True:
            await asyncio.sleep(self.timeout * RENEW_SHARE)
            try:
                await lock.reacquire()
            except LockError:
                log.warning(
                    "a chat lock expired while its update was being handled; "
                    "another update of the chat may run meanwhile"
                )
                return
            except RedisError as exc:  # tried again at the next turn, while time is left
                log.warning("a chat lock could not be renewed: %s", type(exc).__name__)

    async def _release(self, lock: Lock) -> None:
        try:
            await lock.release()
        except LockError:
            log.warning("a chat lock expired before its update was handled to the end")
        except RedisError as exc:  # it expires by itself within the timeout
            log.warning("a chat lock could not be released: %s", type(exc).__name__)

    async def close(self) -> None:
        pass
