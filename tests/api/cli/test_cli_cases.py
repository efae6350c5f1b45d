"""``minyi case move/reply/escalate`` run the case flows as the ``--as`` account: the same audit
row as the console and the API; ``case show`` prints free text masked, as staff pages do."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from surveys.cases.workdays import WorkCalendar
from tests.api.cli.test_cli import Minyi, copy_of

SHANGHAI = ZoneInfo("Asia/Shanghai")
ADMIN = ("--as", "admin")
PHONE = "13812345678"


def _sql(db: Path, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(db)) as connection, connection:
        return list(connection.execute(statement, params).fetchall())


def _audit(minyi: Minyi) -> list[tuple[str, str, str, str | None, str | None, Any]]:
    rows = _sql(
        minyi.db,
        "SELECT actor, role, action, target, address, detail FROM audit_event "
        "WHERE action LIKE 'case.%' ORDER BY id",
    )
    return [(a, r, act, t, addr, json.loads(d)) for a, r, act, t, addr, d in rows]


def _events(minyi: Minyi) -> list[tuple[int, str, str, str | None]]:
    return [
        (int(i), str(a), str(k), s)
        for i, a, k, s in _sql(minyi.db, "SELECT id, actor, kind, to_state FROM case_event")
    ]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Minyi, int]:
    """Demo units; admin, wang (staff of spj) and liu (viewer of spj); one 差评 of spj,
    rated yesterday (on time), whose comment quotes a mobile number."""
    minyi = Minyi(tmp_path_factory.mktemp("cases"))
    for args in (
        ("db", "upgrade"),
        ("demo", "load"),
        ("user", "add", "admin", "--role", "admin"),
        (*ADMIN, "user", "add", "wang", "--role", "staff", "--unit", "spj"),
        (*ADMIN, "user", "add", "liu", "--role", "viewer", "--unit", "spj"),
    ):
        result = minyi(*args)
        assert result.returncode == 0, result.stderr
    rated = (datetime.now(SHANGHAI) - timedelta(days=1)).replace(hour=10, minute=0, microsecond=0)
    if not WorkCalendar().covers(rated.year):
        _sql(
            minyi.db,
            "INSERT INTO calendar_override (day, workday, source, created_at) "
            "VALUES (?, 0, '元旦 (test)', ?)",
            f"{rated.year}-01-01",
            rated.isoformat(),
        )
    (minyi.cwd / "ratings.csv").write_text(
        f"source_id,unit,level,channel,rated_at\nC-1,spj,不满意,4,{rated.isoformat()}\n", "utf-8"
    )
    imported = minyi(*ADMIN, "import", "ratings", "ratings.csv")
    assert imported.returncode == 0, imported.stderr
    _sql(minyi.db, "UPDATE rating SET comment = ?", f"请回电{PHONE}")
    ((case_id,),) = _sql(minyi.db, "SELECT id FROM follow_up_case")
    return minyi, int(case_id)


@pytest.fixture
def minyi(prepared: tuple[Minyi, int], tmp_path: Path) -> Minyi:
    return copy_of(prepared[0], tmp_path)


@pytest.fixture
def case_id(prepared: tuple[Minyi, int]) -> int:
    return prepared[1]


def test_move_and_reply_write_the_consoles_audit_rows(minyi: Minyi, case_id: int) -> None:
    moved = minyi("--as", "wang", "case", "move", str(case_id), "verifying", "--note", "已回访")
    replied = minyi("--as", "wang", "case", "reply", str(case_id), "您好，已安排整改。")

    assert moved.returncode == 0, moved.stderr
    assert moved.stdout.strip() == f"case #{case_id}: 待核实 → 核实中"
    assert replied.returncode == 0, replied.stderr
    ids = {kind: event_id for event_id, _, kind, _ in _events(minyi)}
    move, reply = ids["transition"], ids["reply"]
    assert _audit(minyi) == [
        (
            "wang",
            "staff",
            "case.transition",
            f"case:{case_id}",
            "cli",
            {"event": move, "frm": "待核实", "to": "核实中"},
        ),
        ("wang", "staff", "case.reply", f"case:{case_id}", "cli", {"event": reply}),
    ]


def test_a_viewer_cannot_move_or_reply(minyi: Minyi, case_id: int) -> None:
    moved = minyi("--as", "liu", "case", "move", str(case_id), "核实中")
    replied = minyi("--as", "liu", "case", "reply", str(case_id), "您好")

    for refused in (moved, replied):
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "Traceback" not in refused.stderr
    assert [kind for _, _, kind, _ in _events(minyi)] == ["opened"]
    assert _audit(minyi) == []


def test_show_and_list_mask_what_the_citizen_wrote(minyi: Minyi, case_id: int) -> None:
    _sql(
        minyi.db,
        "INSERT INTO case_event (case_id, actor, kind, note, at) VALUES (?, 'citizen', "
        "'citizen', ?, ?)",
        case_id,
        "身份证110105199001011234",
        datetime.now(SHANGHAI).isoformat(),
    )

    shown = minyi("--as", "liu", "case", "show", str(case_id))
    listed = minyi("--as", "liu", "case", "list", "--unit", "spj")
    unknown = minyi("--as", "liu", "case", "list", "--unit", "kundulun")

    assert shown.returncode == 0, shown.stderr
    assert "comment: 请回电138****5678" in shown.stdout
    assert "110105********1234" in shown.stdout
    assert PHONE not in shown.stdout
    assert "199001011234" not in shown.stdout
    assert "next: 核实中" in shown.stdout
    assert listed.stdout.startswith(f"#{case_id}\tspj\t待核实\t市民#")
    assert unknown.returncode == 2, unknown.stdout
    assert "kundulun" in unknown.stderr


def test_escalate_is_an_administrators_and_audited_once(minyi: Minyi, case_id: int) -> None:
    _sql(
        minyi.db,
        "UPDATE follow_up_case SET contact_due = '2025-01-02', rectify_due = '2025-01-09'",
    )

    refused = minyi("--as", "wang", "case", "escalate")
    escalated = minyi(*ADMIN, "case", "escalate")
    again = minyi(*ADMIN, "case", "escalate")

    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert escalated.returncode == 0, escalated.stderr
    lines = escalated.stdout.splitlines()
    assert lines[0].startswith("1 overdue case(s) escalated on ")
    assert lines[1].startswith(f"#{case_id}\tspj\t待核实\t市民#")
    assert lines[1].endswith("OVERDUE\tescalated")
    assert again.stdout.startswith("0 overdue case(s)")
    assert [(a, action, target, d["cases"]) for a, _, action, target, _, d in _audit(minyi)] == [
        ("admin", "case.escalate", None, [case_id]),
        ("admin", "case.escalate", None, []),
    ]
