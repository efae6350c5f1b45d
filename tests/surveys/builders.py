"""Small builders for survey definitions in tests, plus a hypothesis strategy for valid ones."""

from __future__ import annotations

from datetime import date
from typing import Any

from hypothesis import strategies as st

from surveys.questionnaire.definitions import Level, QuestionType, SurveyDefinition

CHOICE_TYPES = (QuestionType.single, QuestionType.multi)


def options(*codes: str) -> list[dict[str, str]]:
    """Option dicts with readable labels: ``options("a", "b")``."""
    return [{"code": code, "label": f"Option {code}"} for code in codes]


def make_question(key: str, type: str | QuestionType = "single", **fields: Any) -> dict[str, Any]:
    """A question dict; single/multi questions get options a, b, c unless given."""
    question: dict[str, Any] = {"key": key, "type": str(type), "text": f"Question {key}?"}
    if QuestionType(type) in CHOICE_TYPES and "options" not in fields:
        question["options"] = options("a", "b", "c")
    question.update(fields)
    return question


def make_definition(
    questions: list[dict[str, Any]] | None = None, **fields: Any
) -> SurveyDefinition:
    """A valid definition around the given question dicts (one single question by default)."""
    data: dict[str, Any] = {
        "code": "test-survey",
        "title": "Test survey",
        "period": "2026H1",
        "opens_on": date(2026, 1, 1),
        "closes_on": date(2026, 6, 30),
        "questions": questions if questions is not None else [make_question("q1")],
    }
    data.update(fields)
    return SurveyDefinition.model_validate(data)


# Hypothesis ---------------------------------------------------------------------------

_CODE_POOL = ["a", "b", "c", "d", "e", "yes", "no", "X-1", "opt_2"]


@st.composite
def _condition(draw: st.DrawFn, earlier: list[dict[str, Any]]) -> dict[str, Any] | None:
    """A condition on one earlier question, or None when no earlier question can be used."""
    usable = [q for q in earlier if q["type"] != QuestionType.text]
    if not usable:
        return None
    target = draw(st.sampled_from(usable))
    kind = QuestionType(target["type"])
    if kind in CHOICE_TYPES:
        codes = [o["code"] for o in target["options"]]
    elif kind is QuestionType.satisfaction:
        codes = [level.value for level in Level]
    else:
        codes = [str(n) for n in range(11)]
    operators = ["in", "not_in"] + (["lte", "gte"] if kind is QuestionType.scale else [])
    operator = draw(st.sampled_from(operators))
    if operator in ("lte", "gte"):
        value: Any = draw(st.integers(min_value=0, max_value=10))
    else:
        value = draw(st.lists(st.sampled_from(codes), min_size=1, max_size=3, unique=True))
    return {"question": target["key"], operator: value}


@st.composite
def _question(draw: st.DrawFn, key: str, earlier: list[dict[str, Any]]) -> dict[str, Any]:
    kind = draw(st.sampled_from(list(QuestionType)))
    fields: dict[str, Any] = {"required": draw(st.booleans())}
    if kind in CHOICE_TYPES:
        codes = draw(st.lists(st.sampled_from(_CODE_POOL), min_size=2, max_size=5, unique=True))
        fields["options"] = options(*codes)
        if kind is QuestionType.multi:
            low = draw(st.integers(min_value=1, max_value=len(codes)))
            high = draw(st.integers(min_value=low, max_value=len(codes)))
            if draw(st.booleans()):
                fields["min"] = low
            if draw(st.booleans()):
                fields["max"] = high
    if kind is QuestionType.text:
        fields["max_length"] = draw(st.sampled_from([1, 3, 10, 500]))
    if draw(st.integers(min_value=0, max_value=2)) == 0:
        conditions = draw(st.lists(_condition(earlier), min_size=1, max_size=2))
        fields["show_if"] = [c for c in conditions if c is not None]
    return make_question(key, kind, **fields)


@st.composite
def definitions(draw: st.DrawFn, max_questions: int = 6) -> SurveyDefinition:
    """Valid definitions mixing every question type, optional questions and skip logic."""
    count = draw(st.integers(min_value=1, max_value=max_questions))
    questions: list[dict[str, Any]] = []
    for index in range(count):
        questions.append(draw(_question(f"q{index}", questions)))
    return make_definition(questions)
