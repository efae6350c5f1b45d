"""Survey texts per language and exclusive options in the survey file."""

from __future__ import annotations

from datetime import date

import pytest

from scoring.demo.survey import demo_survey
from surveys.core.exceptions import DefinitionInvalid
from surveys.core.i18n import Localized, Translator
from surveys.questionnaire.definitions import SurveyDefinition, label, parse_definition

HEAD = "code: x\nperiod: 2026H2\nopens_on: 2026-07-01\ncloses_on: 2026-12-31\n"
OPTIONS = "[{code: y, label: 是}, {code: n, label: 否}]"


def survey(title: str, options: str = OPTIONS, kind: str = "multi") -> SurveyDefinition:
    return parse_definition(
        f"{HEAD}title: {title}\nquestions:\n"
        f"  - {{key: a, type: {kind}, text: 问题, options: {options}}}\n"
    )


class TestPerLanguage:
    def test_keys_are_normalised_and_staff_read_chinese(self) -> None:
        definition = survey("{zh-Hans: 调查, en-GB: Survey}")

        assert definition.title == "调查"
        assert label(definition.title) == Localized({"zh_Hans": "调查", "en": "Survey"})
        assert Translator("en").label(label(definition.title)) == "Survey"

    def test_the_stored_json_reads_back_the_same(self) -> None:
        definition = survey("{zh: 调查, en: Survey}")

        stored = definition.model_dump(mode="json", by_alias=True)
        again = SurveyDefinition.model_validate(stored)

        assert stored["title"] == {"zh_Hans": "调查", "en": "Survey"}
        assert label(again.title) == label(definition.title)
        assert again.digest() == definition.digest()

    def test_a_plain_survey_dumps_plain_strings_and_no_exclusive(self) -> None:
        stored = survey("调查").model_dump(mode="json", by_alias=True)

        assert stored["title"] == "调查"
        assert stored["questions"][0]["options"][0] == {"code": "y", "label": "是"}

    @pytest.mark.parametrize(
        ("title", "problem"),
        [
            ("{en: Survey}", "title: give the zh-Hans text too"),
            ("{zh: ''}", "title: String should have at least 1 character"),
            ("{'1x': a, zh: b}", "title: '1x' is not a language"),
        ],
    )
    def test_bad_mappings_are_named(self, title: str, problem: str) -> None:
        with pytest.raises(DefinitionInvalid) as caught:
            survey(title)

        assert caught.value.problems[0].startswith(problem)


class TestExclusive:
    def test_is_kept_and_dumped(self) -> None:
        definition = survey(
            "调查", "[{code: y, label: 是}, {code: n, label: 无, exclusive: true}]"
        )

        assert definition.questions[0].exclusive_codes() == {"n"}
        dumped = definition.model_dump(mode="json", by_alias=True)
        assert dumped["questions"][0]["options"][1]["exclusive"] is True

    def test_is_refused_outside_multi_questions(self) -> None:
        with pytest.raises(DefinitionInvalid) as caught:
            survey(
                "调查", "[{code: y, label: 是, exclusive: true}, {code: n, label: 否}]", "single"
            )

        assert caught.value.problems == [
            "questions[0].options: exclusive applies to multi questions only"
        ]


@pytest.fixture(scope="module")
def demo() -> SurveyDefinition:
    return demo_survey(date(2026, 9, 1))


class TestDemoSurvey:
    """The demo survey speaks English to citizens who chose it; staff still read Chinese."""

    def test_every_text_is_given_in_chinese_and_english(self, demo: SurveyDefinition) -> None:
        texts = {"title": demo.title, "intro": demo.intro}
        if demo.unit_question:
            texts["unit_question"] = demo.unit_question
        for question in demo.questions:
            texts[question.key] = question.text
            for option in question.options:
                texts[f"{question.key}.{option.code}"] = option.label

        languages = {
            where: sorted(found.texts) if isinstance(found := label(text), Localized) else []
            for where, text in texts.items()
        }

        assert len(texts) == 2 + 12 + 21
        assert {where: ["en", "zh_Hans"] for where in texts} == languages

    def test_english_readers_see_english_and_staff_chinese(self, demo: SurveyDefinition) -> None:
        first = demo.questions[0]

        assert (
            Translator("en")
            .label(label(first.text))
            .startswith("In the past six months, which channels")
        )
        assert Translator("en").label(label(first.options[1].label)) == "Mengsuban app"
        assert str(first.text) == (
            "近六个月内，您通过哪些渠道办理过政务服务事项（含咨询、查询）？（可多选）"
        )
        assert Translator("zh_Hans").label(label(first.text)) == str(first.text)
