"""``minyi case close-unrerated --today DAY`` closes 已反馈 cases once their 复评 window is
over (the clock moved by the option), not a day before, once; ``minyi case close`` is a
supervisor's 结案 with a note. Both as the acting account, audited.

The 反馈 is dated 2026-12-01 (a Tuesday, Beijing): its 5 working days are 12-02, 12-03,
12-04, 12-07 and 12-08, so the case closes on 12-09.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tests.api.cli.test_cli import Minyi, copy_of

ADMIN = ("--as", "admin")
STAFF = ("--as", "wang")


def _sql(db: Path, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(db)) as connection, connection:
        return list(connection.execute(statement, params).fetchall())


def _ok(minyi: Minyi, *args: str) -> str:
    done = minyi(*args)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Minyi, int]:
    """Demo units, admin and wang (staff of spj), one 差评 of spj moved to 已反馈 on
    2026-12-01 with its 反馈."""
    minyi = Minyi(tmp_path_factory.mktemp("closing"))
    for args in (
        ("db", "upgrade"),
        ("demo", "load"),
        ("user", "add", "admin", "--role", "admin"),
        (*ADMIN, "user", "add", "wang", "--role", "staff", "--unit", "spj"),
    ):
        _ok(minyi, *args)
    (minyi.cwd / "ratings.csv").write_text(
        "source_id,unit,level,channel,rated_at\nK-1,spj,不满意,4,2026-11-20T10:00:00+08:00\n",
        "utf-8",
    )
    _ok(minyi, *ADMIN, "import", "ratings", "ratings.csv")
    ((case_id,),) = _sql(
        minyi.db,
        "SELECT c.id FROM follow_up_case c JOIN rating r ON r.id = c.rating_id "
        "WHERE r.source_id = 'K-1'",
    )
    for state in ("核实中", "整改中"):
        _ok(minyi, *STAFF, "case", "move", str(case_id), state)
    refused = minyi(*STAFF, "case", "move", str(case_id), "已反馈")
    assert refused.returncode != 0  # the 反馈 is the note of 已反馈
    _ok(minyi, *STAFF, "case", "move", str(case_id), "已反馈", "--note", "已更新办事指南。")
    _sql(
        minyi.db,
        "UPDATE case_event SET at = '2026-12-01 02:00:00.000000' "
        "WHERE case_id = ? AND to_state = '已反馈'",
        case_id,
    )
    return minyi, int(case_id)


@pytest.fixture
def minyi(prepared: tuple[Minyi, int], tmp_path: Path) -> Minyi:
    return copy_of(prepared[0], tmp_path)


@pytest.fixture
def case_id(prepared: tuple[Minyi, int]) -> int:
    return prepared[1]


def _state(minyi: Minyi, case_id: int) -> tuple[str, str | None]:
    ((state, reason),) = _sql(
        minyi.db, "SELECT state, close_reason FROM follow_up_case WHERE id = ?", case_id
    )
    return state, reason


def _audit(minyi: Minyi, action: str) -> list[tuple[str, dict[str, Any]]]:
    rows = _sql(minyi.db, "SELECT actor, detail FROM audit_event WHERE action = ?", action)
    return [(actor, json.loads(detail)) for actor, detail in rows]


def test_closes_the_day_after_the_rerating_window_and_once(minyi: Minyi, case_id: int) -> None:
    early = _ok(minyi, *ADMIN, "case", "close-unrerated", "--today", "2026-12-08")
    assert early.splitlines()[0] == "0 case(s) closed without 复评 on 2026-12-08"
    assert _state(minyi, case_id) == ("已反馈", None)

    done = _ok(minyi, *ADMIN, "case", "close-unrerated", "--today", "2026-12-09")
    again = _ok(minyi, *ADMIN, "case", "close-unrerated", "--today", "2026-12-10")

    first, line = done.splitlines()
    assert first == "1 case(s) closed without 复评 on 2026-12-09"
    assert line.startswith(f"#{case_id}\tspj\t已关闭（未复评）\t市民#")
    assert again.splitlines() == ["0 case(s) closed without 复评 on 2026-12-10"]
    assert _state(minyi, case_id) == ("已关闭", "no_rerating")
    shown = _ok(minyi, "case", "show", str(case_id))
    assert f"case #{case_id}\t已关闭（未复评）" in shown
    assert "system\ttransition\t已反馈→已关闭" in shown
    assert [detail["cases"] for _, detail in _audit(minyi, "case.close_unrerated")] == [
        [],
        [case_id],
        [],
    ]


def test_staff_may_not_run_it(minyi: Minyi, case_id: int) -> None:
    refused = minyi(*STAFF, "case", "close-unrerated", "--today", "2026-12-09")

    assert refused.returncode != 0
    assert _state(minyi, case_id) == ("已反馈", None)


def test_a_bad_day_is_refused(minyi: Minyi) -> None:
    refused = minyi(*ADMIN, "case", "close-unrerated", "--today", "2026-13-01")

    assert refused.returncode != 0
    assert "2026-13-01" in refused.stderr


def test_a_supervisor_closes_with_a_note(minyi: Minyi, case_id: int) -> None:
    _ok(minyi, *ADMIN, "user", "add", "zhao", "--role", "supervisor")
    no_note = minyi("--as", "zhao", "case", "close", str(case_id))
    by_staff = minyi(*STAFF, "case", "close", str(case_id), "--note", "结案")
    assert no_note.returncode != 0
    assert "结案须填写结案说明" in no_note.stderr
    assert by_staff.returncode != 0
    assert _state(minyi, case_id) == ("已反馈", None)

    done = _ok(minyi, "--as", "zhao", "case", "close", str(case_id), "--note", "群众来电表示满意")

    assert done.strip() == f"case #{case_id}: 已反馈 → 已关闭（主管结案）"
    assert _state(minyi, case_id) == ("已关闭", "supervisor")
    ((actor, detail),) = _audit(minyi, "case.close")
    assert (actor, detail["frm"], detail["reason"]) == ("zhao", "已反馈", "supervisor")
