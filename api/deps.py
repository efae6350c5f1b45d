"""Request dependencies: settings and one database transaction per request.

The transaction ends before the response is sent (``scope="function"``): a 2xx means the
data is committed. GET and HEAD requests read in a read transaction, which on SQLite never
waits for a writer; a GET that stores something (an audited export) asks for
:data:`WriteSessionDep`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request

from surveys.core.db import AsyncSession, SessionMaker, read_only, unit_of_work
from surveys.core.settings import Settings

READ_METHODS = frozenset({"GET", "HEAD"})


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """Read for GET/HEAD; otherwise commit at the end of the route, roll back if it raised."""
    sessionmaker: SessionMaker = request.app.state.sessionmaker
    if request.method in READ_METHODS:
        async with read_only(sessionmaker) as session:
            yield session
        return
    async with unit_of_work(sessionmaker) as session:
        yield session


async def get_write_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A write transaction whatever the method, committed before the response is sent."""
    sessionmaker: SessionMaker = request.app.state.sessionmaker
    async with unit_of_work(sessionmaker) as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
WriteSessionDep = Annotated[AsyncSession, Depends(get_write_session, scope="function")]
