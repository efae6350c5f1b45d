"""``minyi broadcast start|pause|resume|status``: the real console script on a SQLite file.

Like tests/api/cli/test_cli_privacy.py: each call is a subprocess on a SQLite file, copied
for every test from one built per module (migrated, the demo units and survey, the first
account ``admin``, a viewer ``li``, and four citizens' chat ids: three agreed to
invitations, one of whom rated 市审批服务局 (spj); the fourth did not agree). The sender's
step runs in-process on the same file, with the bot's renderer.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.invitations import render_invitation
from scoring.demo import survey as demo
from surveys.core.clock import today
from surveys.core.db import create_engine, create_sessionmaker, unit_of_work
from surveys.core.i18n import Translator
from surveys.core.models import pk, utcnow
from surveys.delivery import broadcasts
from surveys.haochaping.models import Rating, RatingSource
from surveys.questionnaire import respondents
from tests.api.cli.test_cli import Minyi, copy_of

AS = ("--as", "admin")
AS_REQUIRED = "需要以一个账号执行：minyi --as 用户名 …（或设置环境变量 MINYI_USER）"
CONSENTING = (7001, 7002, 7003)
RATED_SPJ = 7003
NO_CONSENT = 7004
DEMO = demo.demo_survey(today(ZoneInfo("Asia/Shanghai")))  # the CLI runs without TIMEZONE
CODE, PERIOD = DEMO.code, DEMO.period


def _engine(minyi: Minyi) -> Any:
    return create_engine(f"sqlite+aiosqlite:///{minyi.db.as_posix()}")


async def _add_citizens(minyi: Minyi) -> None:
    ((spj,),) = _rows(minyi, "SELECT id FROM unit WHERE code = 'spj'")
    engine = _engine(minyi)
    try:
        async with unit_of_work(create_sessionmaker(engine)) as session:
            for chat_id in (*CONSENTING, NO_CONSENT):
                respondent = await respondents.get_or_create_respondent(
                    session=session, secret=b"x", channel="telegram", external_id=chat_id
                )
                await respondents.remember_contact(
                    session=session,
                    respondent=respondent,
                    channel="telegram",
                    chat_id=chat_id,
                    language_code=None,
                )
                await respondents.set_invite_consent(
                    session=session,
                    respondent=respondent,
                    consent=chat_id != NO_CONSENT,
                    now=utcnow(),
                )
                if chat_id == RATED_SPJ:
                    session.add(
                        Rating(
                            source=RatingSource.bot,
                            source_id="B-1",
                            unit_id=spj,
                            channel=1,
                            respondent_id=pk(respondent),
                            level="satisfied",
                            period=PERIOD,
                            rated_at=datetime.now(UTC),
                        )
                    )
    finally:
        await engine.dispose()


async def _step(minyi: Minyi, limit: int) -> int:
    """What the running server's sender does: queue the next invitations."""
    engine = _engine(minyi)
    t = Translator()
    try:
        async with unit_of_work(create_sessionmaker(engine)) as session:
            return await broadcasts.step(
                session=session,
                now=utcnow(),
                limit=limit,
                render=lambda invitation: render_invitation(invitation, t),
            )
    finally:
        await engine.dispose()


def _rows(minyi: Minyi, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(minyi.db)) as connection:
        return list(connection.execute(sql, params).fetchall())


def _audit(minyi: Minyi) -> list[tuple[Any, ...]]:
    rows = _rows(
        minyi,
        "SELECT actor, role, action, target, address, detail FROM audit_event "
        "WHERE action LIKE 'broadcast.%' ORDER BY id",
    )
    return [(*row[:-1], json.loads(row[-1])) for row in rows]


def _no_chat_ids(*outputs: str) -> None:
    for output in outputs:
        for chat_id in (*CONSENTING, NO_CONSENT):
            assert str(chat_id) not in output


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Minyi:
    minyi = Minyi(tmp_path_factory.mktemp("broadcast"))
    for args in (
        ("db", "upgrade"),
        ("demo", "load"),
        ("user", "add", "admin", "--role", "admin"),
        (*AS, "user", "add", "li", "--role", "viewer"),
    ):
        result = minyi(*args)
        assert result.returncode == 0, result.stderr
    asyncio.run(_add_citizens(minyi))
    return minyi


@pytest.fixture
def minyi(loaded: Minyi, tmp_path: Path) -> Minyi:
    return copy_of(loaded, tmp_path)


def _status_fields(line: str) -> list[str]:
    return line.split("\t")[:7]


class TestEndToEnd:
    def test_start_step_pause_resume_and_status(self, minyi: Minyi) -> None:
        started = minyi(*AS, "broadcast", "start", "--survey", CODE)
        assert started.returncode == 0, started.stderr
        assert started.stdout.strip() == (
            f"broadcast #1 started: {CODE} {PERIOD}, 3 citizen(s) to invite; "
            "the running server queues the invitations"
        )

        assert asyncio.run(_step(minyi, limit=2)) == 2
        paused = minyi(*AS, "broadcast", "pause", "1")
        assert paused.returncode == 0, paused.stderr
        assert paused.stdout.strip() == "broadcast #1 paused after 2 invitation(s)"
        assert asyncio.run(_step(minyi, limit=10)) == 0  # paused: nothing more
        status = minyi(*AS, "broadcast", "status", "1")
        assert status.returncode == 0, status.stderr
        assert _status_fields(status.stdout.strip()) == [
            "#1", CODE, PERIOD, "paused", "eligible 3", "queued 2", "remaining 1"
        ]  # fmt: skip

        resumed = minyi(*AS, "broadcast", "resume", "1")
        assert resumed.returncode == 0, resumed.stderr
        assert resumed.stdout.strip() == "broadcast #1 running again (2 invitation(s) so far)"
        assert asyncio.run(_step(minyi, limit=10)) == 1
        assert asyncio.run(_step(minyi, limit=10)) == 0

        listing = minyi("broadcast", "status")  # reading: no account needed
        assert listing.returncode == 0, listing.stderr
        (line,) = listing.stdout.strip().splitlines()
        assert _status_fields(line) == [
            "#1", CODE, PERIOD, "done (no_one_left)", "eligible 3", "queued 3", "remaining 0"
        ]  # fmt: skip
        assert "all units\tby admin" in line
        invited = _rows(
            minyi,
            "SELECT chat_id, purpose, method FROM outbox_message ORDER BY id",
        )
        assert invited == [(chat_id, "invite", "sendMessage") for chat_id in CONSENTING]
        assert _audit(minyi) == [
            ("admin", "admin", "broadcast.start", "broadcast:1", "cli",
             {"survey": CODE, "period": PERIOD, "units": []}),
            ("admin", "admin", "broadcast.pause", "broadcast:1", "cli",
             {"survey": CODE, "queued": 2}),
            ("admin", "admin", "broadcast.resume", "broadcast:1", "cli",
             {"survey": CODE, "queued": 2}),
        ]  # fmt: skip
        done = minyi(*AS, "broadcast", "pause", "1")
        assert done.returncode == 2
        assert done.stderr.strip() == "邀请任务 #1 已结束，不能暂停或恢复。"
        _no_chat_ids(
            *(r.stdout + r.stderr for r in (started, paused, status, resumed, listing, done))
        )

    def test_units_narrow_the_citizens(self, minyi: Minyi) -> None:
        started = minyi(*AS, "broadcast", "start", "--survey", CODE, "--units", "spj, spj")

        assert started.returncode == 0, started.stderr
        assert "1 citizen(s) to invite" in started.stdout
        assert asyncio.run(_step(minyi, limit=10)) == 1
        assert _rows(minyi, "SELECT chat_id FROM outbox_message") == [(RATED_SPJ,)]
        status = minyi("broadcast", "status")
        assert "\tspj\tby admin" in status.stdout
        assert _audit(minyi)[0][-1] == {"survey": CODE, "period": PERIOD, "units": ["spj"]}

    def test_no_broadcasts_yet(self, minyi: Minyi) -> None:
        result = minyi("broadcast", "status")

        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == (
            "no broadcasts yet; start one with `minyi broadcast start --survey CODE`"
        )


class TestRefusals:
    @pytest.mark.parametrize(
        ("args", "said"),
        [
            (("start", "--survey", "nope"), "未找到调查（nope），未发起邀请。"),
            (("start", "--survey", CODE, "--units", "spj,zzz"), "未找到该地区或部门（zzz）。"),
            (("pause", "9"), "未找到邀请任务 #9。"),
            (("resume", "9"), "未找到邀请任务 #9。"),
            (("status", "9"), "未找到邀请任务 #9。"),
        ],
    )
    def test_unknown_things_in_chinese(
        self, minyi: Minyi, args: tuple[str, ...], said: str
    ) -> None:
        result = minyi(*AS, "broadcast", *args)

        assert result.returncode == 2
        assert result.stderr.strip() == said
        assert minyi.count("broadcast") == 0
        assert _audit(minyi) == []

    def test_a_closed_survey_is_refused(self, minyi: Minyi) -> None:
        closed = minyi(*AS, "survey", "close", CODE)
        assert closed.returncode == 0, closed.stderr

        result = minyi(*AS, "broadcast", "start", "--survey", CODE)

        assert result.returncode == 2
        assert "不在开放时间内" in result.stderr
        assert "不能发送邀请" in result.stderr
        assert minyi.count("broadcast") == 0

    def test_a_second_one_for_the_same_survey_is_refused(self, minyi: Minyi) -> None:
        assert minyi(*AS, "broadcast", "start", "--survey", CODE).returncode == 0

        again = minyi(*AS, "broadcast", "start", "--survey", CODE)

        assert again.returncode == 2
        assert again.stderr.strip().startswith(f"调查 {CODE} 本期已有邀请任务 #1")
        assert minyi.count("broadcast") == 1

    def test_without_an_account_or_as_a_viewer(self, minyi: Minyi) -> None:
        anonymous = minyi("broadcast", "start", "--survey", CODE)
        viewer = minyi("--as", "li", "broadcast", "start", "--survey", CODE)

        assert anonymous.returncode == 2
        assert anonymous.stderr.strip() == AS_REQUIRED
        assert viewer.returncode == 2
        assert viewer.stderr.strip() == "您的角色无权执行此操作。"
        assert minyi.count("broadcast") == 0
