"""The Alembic migrations build exactly the schema of surveys.models, and can be undone."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

from surveys.core import migrate
from surveys.core.db import create_engine, create_sessionmaker
from surveys.questionnaire.models import Answer


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    return tmp_path / "var" / "minyi.db"


def async_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path.as_posix()}"


def schema_diff(path: Path) -> list[Any]:
    """What autogenerate would still write: empty when the models match the migrations."""
    engine = sa.create_engine(f"sqlite:///{path.as_posix()}")
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, SQLModel.metadata))
    finally:
        engine.dispose()


def table_names(path: Path) -> set[str]:
    engine = sa.create_engine(f"sqlite:///{path.as_posix()}")
    try:
        with engine.connect() as connection:
            return set(sa.inspect(connection).get_table_names())
    finally:
        engine.dispose()


class TestUpgrade:
    def test_from_empty_matches_the_models(self, db_file: Path) -> None:
        migrate.upgrade(async_url(db_file))

        assert schema_diff(db_file) == []
        assert table_names(db_file) == {"alembic_version", *SQLModel.metadata.tables}

    def test_wal_mode_is_kept_in_the_file(self, db_file: Path) -> None:
        migrate.upgrade(async_url(db_file))

        engine = sa.create_engine(f"sqlite:///{db_file.as_posix()}")
        try:
            with engine.connect() as connection:
                journal = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
        finally:
            engine.dispose()

        assert journal == "wal"


class TestDowngrade:
    def test_to_base_then_upgrade_again(self, db_file: Path) -> None:
        migrate.upgrade(async_url(db_file))

        migrate.downgrade(async_url(db_file), "base")
        assert table_names(db_file) == {"alembic_version"}
        migrate.upgrade(async_url(db_file))

        assert schema_diff(db_file) == []


class TestCreateEngineOnUpgradedFile:
    async def test_opened_with_wal_and_enforced_foreign_keys(self, db_file: Path) -> None:
        await asyncio.to_thread(migrate.upgrade, async_url(db_file))
        engine = create_engine(async_url(db_file))
        try:
            async with engine.connect() as connection:
                journal = (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar()
                keys = (await connection.exec_driver_sql("PRAGMA foreign_keys")).scalar()
            async with create_sessionmaker(engine)() as session:
                session.add(Answer(response_id=999, question_key="q1"))
                with pytest.raises(IntegrityError, match="FOREIGN KEY"):
                    await session.flush()
                await session.rollback()
        finally:
            await engine.dispose()

        assert journal == "wal"
        assert keys == 1
