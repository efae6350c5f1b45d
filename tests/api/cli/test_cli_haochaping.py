"""``minyi qr``, ``minyi case`` and ``minyi calendar`` as real subprocesses on SQLite.

Each call starts Python afresh (about 1.5 s), so the demo units and one imported 差评 with its
follow-up case are prepared once per module and copied for every test that changes them.
"""

from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ElementTree
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from surveys.cases.workdays import WorkCalendar
from tests.api.cli.test_cli import Minyi, copy_of

SHANGHAI = ZoneInfo("Asia/Shanghai")
CHAT_ID = "987654321012"  # the citizen's Telegram chat id: must never reach a staff view
BOT = "minyi_test_bot"
AS = ("--as", "admin")


@dataclass(frozen=True)
class Prepared:
    minyi: Minyi
    case_id: int


def _rated_at() -> datetime:
    """Yesterday 10:00 in Shanghai: inside the current half-year, its case still on time."""
    yesterday = datetime.now(SHANGHAI) - timedelta(days=1)
    return yesterday.replace(hour=10, minute=0, second=0, microsecond=0)


def _link_a_chat_id(db: Path) -> None:
    """Give the rating a respondent with a Telegram identity, as a bot rating would have."""
    now = datetime.now(SHANGHAI).isoformat()
    with closing(sqlite3.connect(db)) as connection, connection:
        connection.execute(
            "INSERT INTO respondent (id, pseudonym, created_at) VALUES (9001, 'p-cli', ?)", (now,)
        )
        connection.execute(
            "INSERT INTO identity (respondent_id, channel, chat_id, created_at, last_seen_at) "
            "VALUES (9001, 'telegram', ?, ?, ?)",
            (int(CHAT_ID), now, now),
        )
        connection.execute("UPDATE rating SET respondent_id = 9001")


def _cover_year(db: Path, year: int) -> None:
    """A year chinesecalendar lacks needs an override before deadlines can be counted."""
    if WorkCalendar().covers(year):
        return
    with closing(sqlite3.connect(db)) as connection, connection:
        connection.execute(
            "INSERT INTO calendar_override (day, workday, source, created_at) "
            "VALUES (?, 0, '元旦 (test)', ?)",
            (f"{year}-01-01", datetime.now(SHANGHAI).isoformat()),
        )


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    """Demo units, the accounts admin, wang (staff of spj) and zhao (staff of kundulun), then
    one 非常不满意 for spj imported from a CSV: case #1, 待核实."""
    minyi = Minyi(tmp_path_factory.mktemp("haochaping"))
    for args in (
        ("db", "upgrade"),
        ("demo", "load"),
        ("user", "add", "admin", "--role", "admin"),
        (*AS, "user", "add", "wang", "--role", "staff", "--unit", "spj"),
        (*AS, "user", "add", "zhao", "--role", "staff", "--unit", "kundulun"),
    ):
        result = minyi(*args)
        assert result.returncode == 0, result.stderr
    rated_at = _rated_at()
    _cover_year(minyi.db, rated_at.year)
    (minyi.cwd / "ratings.csv").write_text(
        f"source_id,unit,level,channel,rated_at\nF-1,spj,非常不满意,4,{rated_at.isoformat()}\n",
        "utf-8",
    )
    imported = minyi(*AS, "import", "ratings", "ratings.csv")
    assert imported.returncode == 0, imported.stderr
    assert "1 差评 follow-up case(s) opened" in imported.stdout
    _link_a_chat_id(minyi.db)
    with closing(sqlite3.connect(minyi.db)) as connection:
        (case_id,) = connection.execute("SELECT id FROM follow_up_case").fetchone()
    return Prepared(minyi, int(case_id))


@pytest.fixture
def minyi(prepared: Prepared, tmp_path: Path) -> Minyi:
    return copy_of(prepared.minyi, tmp_path)


def _events(minyi: Minyi, case_id: int) -> list[tuple[str, str, str | None, str | None]]:
    with closing(sqlite3.connect(minyi.db)) as connection:
        rows = connection.execute(
            "SELECT actor, kind, to_state, note FROM case_event WHERE case_id = ? ORDER BY id",
            (case_id,),
        ).fetchall()
    return [(str(a), str(k), t, n) for a, k, t, n in rows]


class TestQr:
    def test_writes_an_svg_poster_with_the_link_and_caption(
        self, prepared: Prepared, tmp_path: Path
    ) -> None:
        out = tmp_path / "poster.svg"

        result = prepared.minyi(
            "qr", "--unit", "spj", "--window", "A03", "--item", "zwfw-001",
            "--out", str(out), "--bot-username", BOT, "--link", "telegram",
        )  # fmt: skip

        assert result.returncode == 0, result.stderr
        url = f"https://t.me/{BOT}?start=w_spj_A03_zwfw-001"
        assert result.stdout.splitlines()[0] == f"{out}: {url}"
        assert "/c/w/spj/A03/zwfw-001" in result.stdout  # the web twin, printed under it
        svg = out.read_text("utf-8")
        ElementTree.fromstring(svg)  # well-formed, printable as is
        assert url in svg
        assert "扫码评价本窗口服务（好差评）" in svg
        assert "市审批服务局" in svg
        assert "A03" in svg

    def test_by_default_the_code_opens_the_web_chat_at_the_public_address(
        self, prepared: Prepared, tmp_path: Path
    ) -> None:
        out = tmp_path / "poster.svg"

        result = prepared.minyi(
            "qr", "--unit", "spj", "--window", "A03", "--out", str(out),
            PUBLIC_BASE_URL="https://minyi.example.gov.cn/",
        )  # fmt: skip

        assert result.returncode == 0, result.stderr
        web = "https://minyi.example.gov.cn/c/w/spj/A03"
        assert result.stdout.splitlines()[0] == f"{out}: {web}"
        svg = out.read_text("utf-8")
        ElementTree.fromstring(svg)
        assert web in svg
        assert "t.me" not in svg  # no bot named: one link only

    def test_the_telegram_code_needs_the_bot_username_and_says_so(
        self, prepared: Prepared, tmp_path: Path
    ) -> None:
        out = tmp_path / "poster.svg"

        refused = prepared.minyi("qr", "--unit", "spj", "--window", "A03", "--out", str(out),
                                 "--link", "telegram")  # fmt: skip

        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "--bot-username" in refused.stderr
        assert "Traceback" not in refused.stderr
        assert not out.exists()

    def test_refuses_an_unknown_unit(self, prepared: Prepared, tmp_path: Path) -> None:
        out = tmp_path / "poster.svg"

        result = prepared.minyi(
            "qr", "--unit", "nowhere", "--window", "A03", "--out", str(out), "--bot-username", BOT
        )

        assert result.returncode == 2, result.stdout + result.stderr
        assert "nowhere" in result.stderr
        assert "Traceback" not in result.stderr
        assert not out.exists()

    def test_refuses_a_payload_over_64_characters(
        self, prepared: Prepared, tmp_path: Path
    ) -> None:
        out = tmp_path / "poster.svg"
        window, item = "w" * 30, "i" * 30  # each valid alone; w_spj_<window>_<item> is 67

        result = prepared.minyi(
            "qr", "--unit", "spj", "--window", window, "--item", item,
            "--out", str(out), "--bot-username", BOT,
        )  # fmt: skip

        assert result.returncode == 2, result.stdout + result.stderr
        assert "67 characters; Telegram allows 64" in result.stderr
        assert "Traceback" not in result.stderr
        assert not out.exists()


class TestCase:
    def test_list_shows_the_case_masked(self, prepared: Prepared) -> None:
        result = prepared.minyi("case", "list", "--unit", "spj")

        assert result.returncode == 0, result.stderr
        (line,) = result.stdout.splitlines()
        fields = line.split("\t")
        assert fields[:3] == [f"#{prepared.case_id}", "spj", "待核实"]
        assert fields[3].startswith("市民#")
        assert fields[-1] == "on time"
        assert CHAT_ID not in result.stdout + result.stderr
        assert "p-cli" not in result.stdout

    def test_show_gives_details_and_the_timeline_without_a_chat_id(
        self, prepared: Prepared
    ) -> None:
        result = prepared.minyi("case", "show", str(prepared.case_id))

        assert result.returncode == 0, result.stderr
        assert "unit: spj 市审批服务局" in result.stdout
        assert "timeline:" in result.stdout
        assert "system\topened" in result.stdout
        assert "next: 核实中" in result.stdout
        assert CHAT_ID not in result.stdout + result.stderr
        assert "9001" not in result.stdout
        assert "p-cli" not in result.stdout

    def test_move_and_reply_are_recorded_on_the_timeline(
        self, minyi: Minyi, prepared: Prepared
    ) -> None:
        case = str(prepared.case_id)

        moved = minyi("--as", "wang", "case", "move", case, "核实中", "--note", "已电话回访")
        replied = minyi("--as", "wang", "case", "reply", case, "您好，已安排整改。")
        shown = minyi("--as", "wang", "case", "show", case)

        assert moved.returncode == 0, moved.stderr
        assert moved.stdout.strip() == f"case #{case}: 待核实 → 核实中"
        assert replied.returncode == 0, replied.stderr
        assert shown.returncode == 0, shown.stderr
        assert "wang\ttransition" in shown.stdout
        assert "您好，已安排整改。" in shown.stdout
        assert CHAT_ID not in shown.stdout
        assert _events(minyi, prepared.case_id)[1:] == [
            ("wang", "transition", "核实中", "已电话回访"),
            ("wang", "reply", None, "您好，已安排整改。"),
        ]

    def test_an_invalid_move_fails_clearly_and_stores_nothing(
        self, minyi: Minyi, prepared: Prepared
    ) -> None:
        result = minyi(*AS, "case", "move", str(prepared.case_id), "closed")

        assert result.returncode == 2, result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        assert "不能转为“已关闭”" in result.stderr
        assert len(_events(minyi, prepared.case_id)) == 1

    def test_a_move_without_an_account_is_refused_and_stores_nothing(
        self, minyi: Minyi, prepared: Prepared
    ) -> None:
        result = minyi("case", "move", str(prepared.case_id), "核实中")

        assert result.returncode == 2, result.stdout + result.stderr
        assert "minyi --as 用户名" in result.stderr
        assert len(_events(minyi, prepared.case_id)) == 1

    def test_another_units_staff_cannot_see_or_move_the_case(
        self, minyi: Minyi, prepared: Prepared
    ) -> None:
        case = str(prepared.case_id)

        moved = minyi("--as", "zhao", "case", "move", case, "核实中")
        replied = minyi("--as", "zhao", "case", "reply", case, "您好")
        shown = minyi("--as", "zhao", "case", "show", case)
        listed = minyi("--as", "zhao", "case", "list")
        missing = minyi("--as", "zhao", "case", "show", "999")

        for refused in (moved, replied, shown):
            assert refused.returncode == 2, refused.stdout + refused.stderr
            # The same answer as for a case that does not exist: nothing is revealed.
            assert refused.stderr == missing.stderr
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.strip() == "no cases"
        assert len(_events(minyi, prepared.case_id)) == 1


class TestCalendar:
    def test_a_2027_day_set_then_listed(self, minyi: Minyi) -> None:
        source = "国务院办公厅关于2027年部分节假日安排的通知"

        stored = minyi(*AS, "calendar", "set", "2027-02-06", "--holiday", "--source", source)
        listed = minyi("calendar", "list", "--year", "2027")

        assert stored.returncode == 0, stored.stderr
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.splitlines() == [f"2027-02-06\t周六\t休息\t{source}"]
