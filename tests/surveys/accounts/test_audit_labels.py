"""The audit log in staff words: every action written to the log has a label in the catalogue,
and a row reads 案件 #12：核实中 → 整改中 rather than ``case:12 frm=核实中 to=整改中``.

The actions are collected, not listed: every registered flow (each module that declares one
is imported), every action a source file passes to ``audit.record`` as a literal, and the
sign-in actions written before there is an actor. A new action without a label fails here.
"""

from __future__ import annotations

import importlib
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from surveys.accounts import audit_log as audit
from surveys.accounts.models import AuditEvent
from surveys.core.i18n import Translator
from surveys.flows.registry import FLOWS

REPO = Path(__file__).resolve().parents[3]
PACKAGES = ("surveys", "scoring", "api", "bot")
RECORDED = re.compile(r"""audit\.record\w*\((?:[^()]|\([^()]*\))*?\baction=["']([\w.]+)["']""")
# An action kept in a constant (REFUSED_ACTION = "import.monitoring.refused").
CONSTANT = re.compile(
    r"""^(?:[A-Z_]*_)?ACTION\s*(?::\s*\w+\s*)?=\s*["']([\w.]+)["']""", re.MULTILINE
)
CJK = re.compile(r"[\u4e00-\u9fff]")
translate = Translator()


def _sources() -> list[Path]:
    return [path for package in PACKAGES for path in sorted((REPO / package).rglob("*.py"))]


def _flow_actions() -> set[str]:
    """Every registered flow: each module declaring one is imported, so none is missed."""
    for path in _sources():
        if "@flow(" in path.read_text("utf-8"):
            importlib.import_module(".".join(path.relative_to(REPO).with_suffix("").parts))
    return set(FLOWS)


def _recorded_actions() -> set[str]:
    """Actions passed as literals to ``audit.record`` / ``audit.record_anonymous``, or kept
    in an ``…ACTION`` constant."""
    texts = [path.read_text("utf-8") for path in _sources()]
    return {
        action
        for text in texts
        for found in (RECORDED, CONSTANT)
        for action in found.findall(text)
    }


def _event(
    action: str, target: str | None = None, *, actor_role: str = "staff", **detail: object
) -> AuditEvent:
    return AuditEvent(
        actor="li",
        role=actor_role,
        action=action,
        target=target,
        address="203.0.113.7",
        detail=detail,
        at=datetime(2026, 11, 30, 2, tzinfo=UTC),
    )


class TestActionLabels:
    def test_the_collection_finds_flows_recorded_and_sign_in_actions(self) -> None:
        assert {"case.transition", "user.create", "export.scores"} <= _flow_actions()
        assert {"login", "login.failed", "case.escalate"} <= _recorded_actions()

    @pytest.mark.parametrize(
        "action", sorted(_flow_actions() | _recorded_actions() | audit.SIGN_IN_ACTIONS)
    )
    def test_every_action_has_a_chinese_label(self, action: str) -> None:
        assert action in audit.ACTION_LABELS, f"no catalogue label for audit action {action!r}"
        label = audit.action_label(action, translate)
        assert label != audit.ACTION_LABELS[action]
        assert CJK.search(label), label

    def test_labels_are_distinct(self) -> None:
        labels = [audit.action_label(action, translate) for action in audit.ACTION_LABELS]
        assert len(labels) == len(set(labels))

    def test_an_unknown_action_reads_as_its_code(self) -> None:
        assert audit.action_label("made.up", translate) == "made.up"


class TestDescribe:
    def test_a_move_reads_as_the_case_and_its_two_states(self) -> None:
        line = audit.describe(
            _event("case.transition", "case:12", event=301, frm="核实中", to="整改中"),
            translate,
        )
        assert line.action == "工单状态变更"
        assert line.target == "案件 #12：核实中 → 整改中"
        assert line.role == "单位工作人员"
        assert line.details == []

    def test_a_failed_sign_in_reads_its_reason(self) -> None:
        line = audit.describe(
            _event("login.failed", actor_role="-", reason="login.error.invalid"), translate
        )
        assert (line.action, line.role) == ("登录失败", "—")
        assert line.details == ["原因：用户名或密码不正确"]

    def test_facts_are_named_in_chinese_and_values_made_readable(self) -> None:
        line = audit.describe(
            _event(
                "user.create",
                "wang",
                role="admin",
                units=["spj", "kundulun"],
                unused=None,
            ),
            translate,
        )
        assert line.target == "wang"
        assert line.details == ["角色：管理员", "单位：spj、kundulun"]
        token = audit.describe(_event("token.create", "erp", role="viewer", unit=None), translate)
        assert token.details == ["角色：只读"]

    def test_long_lists_and_digests_are_shortened(self) -> None:
        line = audit.describe(
            _event("case.escalate", on="2026-11-30", cases=list(range(1, 16))), translate
        )
        assert line.details == [
            "工单：#1、#2、#3、#4、#5、#6、#7、#8、#9、#10 等 15 件",
            "日期：2026-11-30",
        ]
        monitoring = audit.describe(
            _event("import.monitoring", "2026H2 file", rows=25, sha256="ab" * 32), translate
        )
        assert "文件摘要：abababababab" in monitoring.details
        assert "行数：25" in monitoring.details

    def test_a_close_reads_its_reason_and_a_view_its_name(self) -> None:
        closed = audit.describe(
            _event("case.close", "case:7", event=9, frm="已反馈", reason="supervisor"), translate
        )
        assert closed.target == "案件 #7"
        assert closed.details[0] == "原状态：已反馈"
        assert not closed.details[1].endswith("supervisor"), closed.details
        view = audit.describe(_event("case.view_save", "case_view:本周逾期"), translate)
        assert view.target == "筛选视图 本周逾期"

    def test_an_unknown_fact_keeps_its_name(self) -> None:
        line = audit.describe(_event("made.up", "x", weight=3), translate)
        assert (line.action, line.details) == ("made.up", ["weight：3"])
