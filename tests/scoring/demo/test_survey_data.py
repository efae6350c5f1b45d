"""The demo files in surveys/data parse with the real parsers and exercise the skip logic."""

from __future__ import annotations

from importlib.resources import files

import pytest

from surveys.accounts.models import Unit, UnitKind
from surveys.accounts.units import parse_units_csv
from surveys.questionnaire.definitions import (
    AREAS,
    QuestionType,
    SurveyDefinition,
    parse_definition,
)
from surveys.questionnaire.engine import (
    Accepted,
    AnswerValue,
    Done,
    Input,
    Pick,
    Rejected,
    Skip,
    State,
    Text,
    Toggled,
    current,
    position_of,
    prompt,
    step,
)

DISTRICTS = [
    "昆都仑区",
    "青山区",
    "东河区",
    "九原区",
    "石拐区",
    "白云鄂博矿区",
    "土默特右旗",
    "固阳县",
    "达尔罕茂明安联合旗",
]
HIGH_TECH_ZONES = ["稀土高新区"]
DEPARTMENTS = [
    "市审批服务局",
    "市政府办公室",
    "市公安局",
    "市住建局",
    "市医保局",
    "市文旅广电局",
    "市体育局",
    "市教育局",
    "市人社局",
    "市民政局",
    "市市场监管局",
    "市公共资源交易中心",
    "市政府金融办",
    "市工信局",
    "市税务局",
    "市自然资源局",
    "市财政局",
    "市城管执法局",
    "市生态环境局",
    "市审计局",
    "市发改委",
    "市委网信办",
    "市委组织部",
    "市科技局",
    "市委宣传部",
]

SATISFIED_ONLINE_USER: dict[str, AnswerValue] = {
    "channels": ["app", "web"],
    "overall": "satisfied",
    "online_experience": "very_satisfied",
    "trips": "zero",
    "recommend": 9,
    "city_governance": "satisfied",
    "data_protection": "neutral",
    "age_band": "under_30",
    "suggestion": None,
}
DISSATISFIED_OLDER_WALK_IN_USER: dict[str, AnswerValue] = {
    "channels": ["hall"],
    "overall": "dissatisfied",
    "dissatisfied_reasons": ["trips", "slow"],
    "trips": "three_plus",
    "recommend": 3,
    "city_governance": "neutral",
    "data_protection": "satisfied",
    "age_band": "age_60_plus",
    "elderly_services": "dissatisfied",
    "suggestion": "希望大厅多安排帮办代办人员。",
}
NON_USER: dict[str, AnswerValue] = {
    "channels": ["none"],
    "city_governance": "satisfied",
    "data_protection": "satisfied",
    "age_band": "age_45_59",
    "suggestion": None,
}


def _read(name: str) -> str:
    return files("scoring.demo.data").joinpath(name).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def units() -> list[Unit]:
    return parse_units_csv(_read("units.csv"), source="units.csv")


@pytest.fixture(scope="module")
def survey() -> SurveyDefinition:
    return parse_definition(_read("demo_survey.yaml"), source="demo_survey.yaml")


def _inputs(definition: SurveyDefinition, state: State, value: AnswerValue) -> list[Input]:
    """The button presses or typed text a respondent gives to answer the current question."""
    question = current(definition, state)
    assert question is not None
    position = position_of(definition, question)
    if value is None:
        return [Skip(position)]
    if question.type is QuestionType.text:
        return [Text(str(value))]
    codes = question.codes()
    if isinstance(value, list):
        return [*(Pick(position, codes.index(code)) for code in value), Done(position)]
    return [Pick(position, codes.index(str(value)))]


def _walk(
    definition: SurveyDefinition, answers: dict[str, AnswerValue]
) -> tuple[list[str], State]:
    """Answer every prompt from ``answers`` until the survey ends; return the keys asked."""
    state = State(answers={})
    asked: list[str] = []
    while (shown := prompt(definition, state)) is not None:
        asked.append(shown.question_key)
        for given in _inputs(definition, state, answers[shown.question_key]):
            result = step(definition, state, given)
            assert isinstance(result, Accepted | Toggled), (shown.question_key, result)
            state = result.state
    return asked, state


class TestParseUnitsCsv:
    def test_header_names_every_column(self) -> None:
        assert _read("units.csv").splitlines()[0] == "code,name,kind,active"

    def test_lists_the_demo_units_in_order(self, units: list[Unit]) -> None:
        expected = (
            [(name, UnitKind.district) for name in DISTRICTS]
            + [(name, UnitKind.hightech) for name in HIGH_TECH_ZONES]
            + [(name, UnitKind.department) for name in DEPARTMENTS]
        )
        assert [(u.name, u.kind) for u in units] == expected

    def test_counts_per_kind(self, units: list[Unit]) -> None:
        counts = {kind: sum(u.kind is kind for u in units) for kind in UnitKind}
        assert counts == {UnitKind.district: 9, UnitKind.hightech: 1, UnitKind.department: 25}

    def test_codes_are_unique_lowercase_and_short(self, units: list[Unit]) -> None:
        codes = [u.code for u in units]
        assert len(set(codes)) == len(codes)
        assert all(code.isascii() and code.isalpha() and code.islower() for code in codes)
        assert all(len(code) <= 32 for code in codes)

    def test_readable_codes_for_well_known_units(self, units: list[Unit]) -> None:
        by_name = {u.name: u.code for u in units}
        assert by_name["昆都仑区"] == "kundulun"
        assert by_name["达尔罕茂明安联合旗"] == "damao"
        assert by_name["稀土高新区"] == "gaoxin"
        assert by_name["市审批服务局"] == "spj"
        assert by_name["市政府办公室"] == "zfb"
        assert by_name["市公安局"] == "gaj"

    def test_every_unit_is_active(self, units: list[Unit]) -> None:
        assert all(u.active for u in units)


class TestParseDefinition:
    def test_file_starts_with_a_comment(self) -> None:
        assert _read("demo_survey.yaml").startswith("# ")

    def test_header_fields(self, survey: SurveyDefinition) -> None:
        assert survey.code == "szzf-2026h2"
        assert survey.title == "数字政府建设满意度调查"
        assert survey.period == "2026H2"
        assert (survey.opens_on.isoformat(), survey.closes_on.isoformat()) == (
            "2026-07-01",
            "2026-12-31",
        )
        assert survey.anonymous is True
        assert survey.units == []  # `units: all`
        assert "匿名" in survey.intro
        assert "3分钟" in survey.intro

    def test_has_eight_to_twelve_questions(self, survey: SurveyDefinition) -> None:
        assert 8 <= len(survey.questions) <= 12

    def test_every_area_is_one_of_the_seven(self, survey: SurveyDefinition) -> None:
        areas = {q.area for q in survey.questions if q.area is not None}
        assert areas <= set(AREAS)
        assert {"一网通办", "一网统管", "安全防护"} <= areas

    def test_every_satisfaction_question_names_its_area(self, survey: SurveyDefinition) -> None:
        unnamed = [
            q.key for q in survey.questions if q.type is QuestionType.satisfaction and not q.area
        ]
        assert unnamed == []

    def test_at_least_three_questions_have_show_if(self, survey: SurveyDefinition) -> None:
        assert sum(bool(q.show_if) for q in survey.questions) >= 3

    def test_show_if_uses_several_kinds_of_condition(self, survey: SurveyDefinition) -> None:
        conditions = [
            (c, survey.question(c.question)) for q in survey.questions for c in q.show_if
        ]
        assert any(c.in_ and t.type is QuestionType.satisfaction for c, t in conditions)
        assert any(t.type is QuestionType.multi for c, t in conditions)
        assert any(
            c.not_in is not None or c.lte is not None or c.gte is not None for c, _ in conditions
        )

    def test_reasons_follow_only_a_negative_overall_rating(self, survey: SurveyDefinition) -> None:
        (condition,) = survey.question("dissatisfied_reasons").show_if
        assert condition.question == "overall"
        assert condition.in_ == ["dissatisfied", "very_dissatisfied"]

    def test_suggestion_is_optional_free_text(self, survey: SurveyDefinition) -> None:
        last = survey.questions[-1]
        assert (last.key, last.type, last.required, last.max_length) == (
            "suggestion",
            QuestionType.text,
            False,
            500,
        )


class TestStep:
    def test_satisfied_online_user(self, survey: SurveyDefinition) -> None:
        asked, state = _walk(survey, SATISFIED_ONLINE_USER)
        assert asked == [
            "channels",
            "overall",
            "online_experience",
            "trips",
            "recommend",
            "city_governance",
            "data_protection",
            "age_band",
            "suggestion",
        ]
        assert state.answers == SATISFIED_ONLINE_USER

    def test_dissatisfied_older_walk_in_user(self, survey: SurveyDefinition) -> None:
        asked, state = _walk(survey, DISSATISFIED_OLDER_WALK_IN_USER)
        assert asked == [
            "channels",
            "overall",
            "dissatisfied_reasons",
            "trips",
            "recommend",
            "city_governance",
            "data_protection",
            "age_band",
            "elderly_services",
            "suggestion",
        ]
        assert state.answers == DISSATISFIED_OLDER_WALK_IN_USER

    def test_the_two_paths_differ(self, survey: SurveyDefinition) -> None:
        online, _ = _walk(survey, SATISFIED_ONLINE_USER)
        walk_in, _ = _walk(survey, DISSATISFIED_OLDER_WALK_IN_USER)
        assert set(online) - set(walk_in) == {"online_experience"}
        assert set(walk_in) - set(online) == {"dissatisfied_reasons", "elderly_services"}

    def test_hotline_user_is_asked_about_12345(self, survey: SurveyDefinition) -> None:
        answers = {**SATISFIED_ONLINE_USER, "channels": ["app", "hotline"], "hotline": "neutral"}
        asked, _ = _walk(survey, answers)
        assert asked.index("hotline") == asked.index("online_experience") + 1

    def test_non_user_skips_the_service_questions(self, survey: SurveyDefinition) -> None:
        asked, _ = _walk(survey, NON_USER)
        assert asked == [
            "channels",
            "city_governance",
            "data_protection",
            "age_band",
            "suggestion",
        ]

    def test_nothing_is_accepted_after_the_end(self, survey: SurveyDefinition) -> None:
        _, state = _walk(survey, SATISFIED_ONLINE_USER)
        assert current(survey, state) is None
        assert isinstance(step(survey, state, Text("再说一句")), Rejected)
