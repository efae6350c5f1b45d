"""``minyi privacy purge``: the real console script, acting as a named account, audited.

Like tests/api/cli/test_cli_accounts.py: each call is a subprocess on a SQLite file, copied
for every test from one built per module (migrated, the first account ``admin``, a viewer
``li``, and two citizens' chat ids: one unused since 2020, one seen today).
"""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from surveys.core.db import create_engine, create_sessionmaker, unit_of_work
from surveys.core.models import pk, utcnow
from surveys.questionnaire import respondents
from surveys.questionnaire.models import Identity
from tests.api.cli.test_cli import Minyi, copy_of

AS = ("--as", "admin")
AS_REQUIRED = "需要以一个账号执行：minyi --as 用户名 …（或设置环境变量 MINYI_USER）"
STALE, FRESH = 1001, 1002


async def _add_contacts(minyi: Minyi) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{minyi.db.as_posix()}")
    try:
        async with unit_of_work(create_sessionmaker(engine)) as session:
            for chat_id, seen in ((STALE, datetime(2020, 1, 1, tzinfo=UTC)), (FRESH, utcnow())):
                respondent = await respondents.get_or_create_respondent(
                    session=session, secret=b"x", channel="telegram", external_id=chat_id
                )
                session.add(
                    Identity(
                        respondent_id=pk(respondent),
                        channel="telegram",
                        chat_id=chat_id,
                        created_at=seen,
                        last_seen_at=seen,
                    )
                )
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Minyi:
    minyi = Minyi(tmp_path_factory.mktemp("privacy"))
    for args in (
        ("db", "upgrade"),
        ("user", "add", "admin", "--role", "admin"),
        (*AS, "user", "add", "li", "--role", "viewer"),
    ):
        result = minyi(*args)
        assert result.returncode == 0, result.stderr
    asyncio.run(_add_contacts(minyi))
    return minyi


@pytest.fixture
def minyi(loaded: Minyi, tmp_path: Path) -> Minyi:
    return copy_of(loaded, tmp_path)


def rows(minyi: Minyi, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(minyi.db)) as connection:
        return list(connection.execute(sql, params).fetchall())


def chat_ids(minyi: Minyi) -> list[int]:
    return [chat_id for (chat_id,) in rows(minyi, "SELECT chat_id FROM identity ORDER BY 1")]


def purges(minyi: Minyi) -> list[tuple[Any, ...]]:
    return rows(
        minyi,
        "SELECT actor, role, action, target, address, detail FROM audit_event "
        "WHERE action = 'privacy.purge'",
    )


class TestPrivacyPurge:
    def test_deletes_stale_chat_ids_as_the_account_with_one_audit_row(self, minyi: Minyi) -> None:
        result = minyi(*AS, "privacy", "purge")

        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "1 identity row(s) older than 730 days deleted"
        assert chat_ids(minyi) == [FRESH]
        assert minyi.count("respondent") == 2  # the answers stay in the statistics
        assert purges(minyi) == [
            ("admin", "admin", "privacy.purge", None, "cli", '{"deleted": 1, "days": 730}')
        ]

    def test_the_retention_comes_from_the_settings(self, minyi: Minyi) -> None:
        result = minyi(*AS, "privacy", "purge", IDENTITY_RETENTION_DAYS="100000")

        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "0 identity row(s) older than 100000 days deleted"
        assert chat_ids(minyi) == [STALE, FRESH]
        assert [detail for *_, detail in purges(minyi)] == ['{"deleted": 0, "days": 100000}']

    def test_without_an_account_nothing_is_deleted(self, minyi: Minyi) -> None:
        result = minyi("privacy", "purge")

        assert result.returncode == 2
        assert result.stderr.strip() == AS_REQUIRED
        assert chat_ids(minyi) == [STALE, FRESH]
        assert purges(minyi) == []

    def test_an_account_that_may_not_manage_is_refused(self, minyi: Minyi) -> None:
        result = minyi("--as", "li", "privacy", "purge")

        assert result.returncode == 2
        assert result.stderr.strip() == "您的角色无权执行此操作。"
        assert chat_ids(minyi) == [STALE, FRESH]
        assert purges(minyi) == []
