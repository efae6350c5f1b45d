"""Findings of the 反馈单 that are true against the data (ties, sample sizes) and its 文号."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from scoring import feedback_sheet
from scoring.compute import HalfResult, UnitRef
from scoring.feedback_sheet import FeedbackSheet, ItemLine, QuestionLine
from surveys.accounts.models import Unit, UnitKind
from surveys.core.i18n import Translator

t = Translator()


def bare_sheet(**changes: object) -> FeedbackSheet:
    unit = Unit(id=6, code="jiuyuan", name="九原区", kind=UnitKind("旗县区"))
    result = HalfResult(
        unit=UnitRef("jiuyuan", "九原区", "旗县区"), sources={}, opinion_raw=None, opinion=None,
        small_sample=False, components={}, total=None, missing=(),
    )  # fmt: skip
    sheet = FeedbackSheet(
        unit=unit, period="2026H2", result=result, kind_size=10, ranked=10, components=[],
        total_average=None, lowest_questions=[], top_reasons=[], top_items=[], ratings=0,
        bad=0, bad_rate=None, rectify_rate=None, overdue=[], overdue_total=0, place=6,
        units=35, computed_at=datetime(2026, 12, 1, 1, 30, tzinfo=UTC),
    )  # fmt: skip
    return replace(sheet, **changes)  # type: ignore[arg-type]


def _reasons(*pairs: tuple[str, int]) -> str:
    items = [ItemLine("不动产登记", 9, 4)]
    sheet = bare_sheet(top_reasons=list(pairs), top_items=items, bad=12)
    found = feedback_sheet.reason_finding(sheet)
    assert found is not None
    return t.label(found)


class TestReasonFinding:
    def test_one_reason_on_top_is_named_alone_with_its_count(self) -> None:
        text = _reasons(("服务态度", 5), ("办事效率", 3), ("其他", 1))
        assert "“服务态度”（5 条，共 12 条差评）" in text
        assert "办事效率" not in text
        assert "不动产登记（4 条）" in text

    def test_two_tied_reasons_are_both_named(self) -> None:
        text = _reasons(("办事效率", 4), ("服务态度", 4), ("其他", 1))
        assert "并列最多：“办事效率”、“服务态度”（各 4 条" in text
        assert "其他" not in text
        assert "至少" not in text

    def test_three_tied_reasons_say_more_may_tie(self) -> None:
        text = _reasons(("办事效率", 2), ("服务态度", 2), ("材料要求", 2))
        assert "并列最多的至少有 “办事效率”、“服务态度”、“材料要求”（各 2 条" in text

    def test_two_reasons_only_both_tied_is_no_more(self) -> None:
        text = _reasons(("办事效率", 2), ("服务态度", 2))
        assert "并列最多：" in text
        assert "至少" not in text

    def test_no_reasons_no_finding(self) -> None:
        assert feedback_sheet.reason_finding(bare_sheet()) is None


class TestQuestionFinding:
    @staticmethod
    def _text(answered: int) -> str:
        question = QuestionLine("满意度调查", "窗口服务是否耐心", None, 52.1, answered)
        found = feedback_sheet.question_finding(bare_sheet(lowest_questions=[question]))
        assert found is not None
        return t.label(found)

    def test_states_how_many_answered(self) -> None:
        text = self._text(feedback_sheet.MIN_QUESTION_ANSWERS)
        assert f"52.10 分，{feedback_sheet.MIN_QUESTION_ANSWERS} 人作答" in text
        assert "仅供参考" not in text

    def test_few_answers_carry_a_caveat(self) -> None:
        text = self._text(18)
        assert "仅 18 人作答" in text
        assert f"少于 {feedback_sheet.MIN_QUESTION_ANSWERS} 人，仅供参考" in text


class TestDocumentNumber:
    @pytest.mark.parametrize(
        ("period", "place", "units", "seq"),
        [("2026H2", 6, 35, 206), ("2026H1", 6, 35, 106), ("2026H1", 7, 120, 1007)],
    )
    def test_seq_is_half_then_the_units_place(
        self, period: str, place: int, units: int, seq: int
    ) -> None:
        sheet = bare_sheet(period=period, place=place, units=units)
        assert feedback_sheet.seq(sheet) == seq

    def test_pattern_fields(self) -> None:
        paper = feedback_sheet.paper(
            bare_sheet(), issuer="办公室", number="包数政考〔{year}〕{seq}号（{unit}）", seal="章"
        )
        assert paper.number == "包数政考〔2026〕206号（jiuyuan）"


class TestLabels:
    def test_period_and_dates_in_chinese(self) -> None:
        sheet = bare_sheet()
        assert sheet.period_text == "2026年下半年"
        assert sheet.issued_text == "2026年12月1日"
        assert sheet.as_of_text == "2026年12月1日 09:30"
