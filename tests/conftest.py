"""Shared fixtures: real settings, a real SQLite file, sessions; no import-time state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

import scoring.models  # noqa: F401  (registers the tables)
import surveys.schema  # noqa: F401  (registers every table)
from surveys.core.db import SessionMaker, create_engine, create_sessionmaker
from surveys.core.settings import Settings

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "scoring" / "demo" / "data"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "var",
        secret_key="test-secret-key",  # type: ignore[arg-type]
        bot_token="123456:TEST",  # type: ignore[arg-type]
    )


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings.db_url)
    async with engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.create_all)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessionmaker(engine: AsyncEngine) -> SessionMaker:
    return create_sessionmaker(engine)


@pytest.fixture
async def session(sessionmaker: SessionMaker) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as session:
        yield session
        await session.rollback()
