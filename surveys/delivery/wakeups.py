"""Waking the sender of another worker process when messages are queued.

The sender runs in one worker (:mod:`surveys.delivery.leases`). A worker that queues messages
wakes its own sender at once, but the others' queued messages used to wait for the sender's
next look (``OUTBOX_POLL_SECONDS``). On PostgreSQL a transaction that queues messages also
sends a ``NOTIFY``, which PostgreSQL delivers when (and only if) it commits, and every worker's
sender ``LISTEN``s on a connection of its own. SQLite has no such thing; there the sender of
the other process looks at its next poll, as before.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

log = logging.getLogger(__name__)
CHANNEL = "minyi_outbox"
_NOTIFY = sa.text(f"SELECT pg_notify('{CHANNEL}', '')")
RECONNECT_SECONDS = (0.5, 1.0, 2.0, 5.0)


async def announce(session: AsyncSession) -> None:
    """Tell the senders of all workers, once this transaction commits, that messages wait.

    PostgreSQL folds the same notification sent several times in one transaction into one.
    """
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        await connection.execute(_NOTIFY)


class Listener:
    """Calls ``wake`` for each announcement, until cancelled (PostgreSQL only)."""

    def __init__(self, engine: AsyncEngine, wake: Callable[[], None]) -> None:
        self.engine = engine
        self.wake = wake
        self.listening = asyncio.Event()  # set while a LISTEN connection is open

    @property
    def applies(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    async def run(self) -> None:
        if not self.applies:
            return
        import psycopg  # only a PostgreSQL deployment has it loaded

        # libpq's URL: SQLAlchemy's without its driver name.
        dsn = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        failures = 0
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    failures = 0
                    self.wake()  # what was announced while nobody listened
                    async for _ in conn.notifies():
                        self.wake()
            except (psycopg.Error, OSError) as exc:
                self.listening.clear()
                delay = RECONNECT_SECONDS[min(failures, len(RECONNECT_SECONDS) - 1)]
                failures += 1
                log.warning(
                    "outbox wake-ups: no LISTEN connection (%s); again in %.1f s",
                    type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)
            finally:
                self.listening.clear()
