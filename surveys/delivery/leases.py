"""Leadership: one worker at a time runs each scheduled job (the sender, the jobs), whichever
process that is, and a worker that dies gives it up at once.

The lock lives as long as the process holding it: on PostgreSQL a session advisory lock on
a connection of its own (the server drops it when the connection goes), on SQLite an
``flock`` on a file beside the database (the kernel drops it when the process goes).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from surveys.core.exceptions import DatabaseUnavailable


def _key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for ``name``."""
    digest = hashlib.sha256(f"minyi:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class Leadership:
    """The named lock for this process: :meth:`hold` takes it, or checks it is still held."""

    def __init__(self, engine: AsyncEngine, name: str) -> None:
        self.engine = engine
        self.name = name
        self._connection: AsyncConnection | None = None
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._connection is not None or self._fd is not None

    async def hold(self) -> bool:
        """True while this process leads; takes the lock when it is free.

        Raises :class:`DatabaseUnavailable` while the database server cannot be reached.
        """
        if self.engine.dialect.name == "postgresql":
            try:
                return await self._hold_advisory()
            except OperationalError as exc:
                raise DatabaseUnavailable() from exc
        return self._hold_file()

    async def release(self) -> None:
        if self._connection is not None:
            # Closing alone would hand the connection back to the engine's pool, still
            # holding the session lock: let go of it, then discard the connection itself.
            with contextlib.suppress(Exception):
                await self._connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": _key(self.name)}
                )
            with contextlib.suppress(Exception):
                await self._connection.invalidate()
            with contextlib.suppress(Exception):
                await self._connection.close()
            self._connection = None
        if self._fd is not None:
            os.close(self._fd)  # closing the file drops the flock
            self._fd = None

    async def _hold_advisory(self) -> bool:
        if self._connection is not None:
            try:  # still connected, so still holding the lock
                await self._connection.execute(text("SELECT 1"))
                return True
            except Exception:
                await self.release()
        connection = await self.engine.connect()
        try:
            auto: Any = await connection.execution_options(isolation_level="AUTOCOMMIT")
            taken = await auto.scalar(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": _key(self.name)}
            )
        except Exception:
            await connection.close()
            raise
        if taken:
            self._connection = connection
            return True
        await connection.close()
        return False

    def _hold_file(self) -> bool:
        if self._fd is not None:
            return True
        database = make_url(str(self.engine.url)).database
        if not database or database == ":memory:":
            return True  # a database of this process alone: nobody else to lead
        path = Path(f"{database}.{self.name}.lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True
