"""parse_definition reports every problem with its field path; digest() fingerprints content."""

from __future__ import annotations

import pytest

from surveys.core.exceptions import DefinitionInvalid
from surveys.questionnaire.definitions import SurveyDefinition, parse_definition

VALID = """\
code: test-2026h2
title: 测试问卷
period: 2026H2
opens_on: 2026-07-01
closes_on: 2026-12-31
questions:
  - key: overall
    type: satisfaction
    area: 一网通办
    text: 总体满意程度如何？
  - key: channel
    type: single
    text: 您通过哪个渠道办理？
    options:
      - {code: hall, label: 大厅窗口}
      - {code: app, label: 蒙速办APP}
  - key: recommend
    type: scale
    text: 推荐的可能性有多大？
"""


def _with_question(line: str) -> str:
    """VALID plus one more question (it becomes questions[3])."""
    return VALID + f"  - {line}\n"


def _problems(text: str) -> list[str]:
    with pytest.raises(DefinitionInvalid) as caught:
        parse_definition(text, source="test.yaml")
    assert caught.value.source == "test.yaml"
    return caught.value.problems


def _only_problem(text: str) -> str:
    problems = _problems(text)
    assert len(problems) == 1, problems
    return problems[0]


class TestParseDefinition:
    def test_valid_text_parses(self) -> None:
        definition = parse_definition(VALID, source="test.yaml")
        assert [q.key for q in definition.questions] == ["overall", "channel", "recommend"]

    def test_invalid_yaml_names_the_line(self) -> None:
        problem = _only_problem("code: t\n  title: x\n")
        assert problem.startswith("line 2, column ")
        assert "not valid YAML" in problem

    def test_error_message_names_the_source(self) -> None:
        with pytest.raises(DefinitionInvalid) as caught:
            parse_definition("- a\n", source="surveys/x.yaml")
        assert str(caught.value).startswith("surveys/x.yaml: 1 problem(s)")

    @pytest.mark.parametrize(
        "text", ["- a\n- b\n", "just words\n", ""], ids=["list", "str", "empty"]
    )
    def test_top_level_must_be_a_mapping(self, text: str) -> None:
        assert _only_problem(text) == "(top): expected a mapping of survey fields"

    def test_unknown_field(self) -> None:
        problem = _only_problem(VALID + "colour: red\n")
        assert problem.startswith("colour: ")
        assert "not permitted" in problem

    def test_unknown_question_field(self) -> None:
        problem = _only_problem(_with_question("{key: d, type: text, text: D, hint: x}"))
        assert problem.startswith("questions[3].hint: ")

    def test_missing_title(self) -> None:
        problem = _only_problem(VALID.replace("title: 测试问卷\n", ""))
        assert problem.startswith("title: ")
        assert "required" in problem

    def test_bad_period(self) -> None:
        problem = _only_problem(VALID.replace("period: 2026H2", "period: 2026H3"))
        assert problem == "period: period must look like 2026H1 or 2026H2, got '2026H3'"

    def test_closes_on_before_opens_on(self) -> None:
        problem = _only_problem(VALID.replace("closes_on: 2026-12-31", "closes_on: 2026-06-30"))
        assert "closes_on is before opens_on" in problem

    def test_duplicate_question_key(self) -> None:
        problem = _only_problem(_with_question("{key: overall, type: text, text: D}"))
        assert "questions[3].key" in problem
        assert "'overall' is used twice" in problem

    def test_show_if_on_a_later_question(self) -> None:
        text = (
            _with_question("{key: d, type: text, text: D, show_if: {question: e, in: [x]}}")
            + "  - {key: e, type: single, text: E,"
            " options: [{code: x, label: X}, {code: y, label: Y}]}\n"
        )
        problem = _only_problem(text)
        assert "questions[3].show_if" in problem
        assert "'e' is not an earlier question" in problem

    def test_show_if_on_an_unknown_question(self) -> None:
        problem = _only_problem(
            _with_question("{key: d, type: text, text: D, show_if: {question: nope, in: [x]}}")
        )
        assert "questions[3].show_if" in problem
        assert "'nope' is not an earlier question" in problem

    def test_show_if_on_itself(self) -> None:
        problem = _only_problem(
            _with_question("{key: d, type: scale, text: D, show_if: {question: d, gte: 5}}")
        )
        assert "'d' is not an earlier question" in problem

    def test_show_if_names_an_option_the_target_lacks(self) -> None:
        problem = _only_problem(
            _with_question(
                "{key: d, type: text, text: D, show_if: {question: channel, in: [web]}}"
            )
        )
        assert "questions[3].show_if" in problem
        assert "'channel' has no option 'web'" in problem

    def test_show_if_names_a_level_that_does_not_exist(self) -> None:
        problem = _only_problem(
            _with_question("{key: d, type: text, text: D, show_if: {question: overall, in: [ok]}}")
        )
        assert "'overall' has no option 'ok'" in problem

    def test_lte_on_a_non_scale_question(self) -> None:
        problem = _only_problem(
            _with_question("{key: d, type: text, text: D, show_if: {question: channel, lte: 3}}")
        )
        assert "questions[3].show_if" in problem
        assert "lte/gte need a scale question" in problem

    def test_lte_on_a_scale_question_is_fine(self) -> None:
        text = _with_question(
            "{key: d, type: text, text: D, show_if: {question: recommend, lte: 6}}"
        )
        assert parse_definition(text).question("d").show_if[0].lte == 6

    def test_show_if_with_two_operators(self) -> None:
        problem = _only_problem(
            _with_question(
                "{key: d, type: text, text: D, show_if: {question: recommend, lte: 6, gte: 2}}"
            )
        )
        assert problem == "questions[3].show_if[0]: give exactly one of: in, not_in, lte, gte"

    def test_multi_with_min_above_max(self) -> None:
        problem = _only_problem(
            _with_question(
                "{key: d, type: multi, text: D, min: 3, max: 2, options: "
                "[{code: x, label: X}, {code: y, label: Y}, {code: z, label: Z}]}"
            )
        )
        assert problem == "questions[3].max: need 1 <= min (3) <= max (2) <= options"

    def test_single_with_one_option(self) -> None:
        problem = _only_problem(
            _with_question("{key: d, type: single, text: D, options: [{code: x, label: X}]}")
        )
        assert problem == "questions[3].options: a single question needs at least 2 options"

    def test_bad_option_code(self) -> None:
        problem = _only_problem(
            _with_question(
                "{key: d, type: single, text: D, options: "
                "[{code: 'a b', label: X}, {code: y, label: Y}]}"
            )
        )
        assert problem.startswith("questions[3].options[0].code: ")

    def test_unknown_area(self) -> None:
        problem = _only_problem(
            _with_question("{key: d, type: satisfaction, text: D, area: 一网通管}")
        )
        assert problem.startswith("questions[3].area: unknown area '一网通管'")
        assert "一网统管" in problem

    def test_reports_each_bad_field(self) -> None:
        text = VALID.replace("period: 2026H2", "period: 2026H3").replace("title: 测试问卷\n", "")
        problems = _problems(text)
        assert [p.split(":")[0] for p in problems] == ["title", "period"]

    def test_reports_every_cross_field_problem(self) -> None:
        text = VALID.replace("closes_on: 2026-12-31", "closes_on: 2026-01-01") + (
            "  - {key: overall, type: scale, text: again}\n"
            "  - {key: z, type: scale, text: Z, show_if: {question: nope, in: [a]}}\n"
        )
        assert _problems(text) == [
            "closes_on: closes_on is before opens_on",
            "questions[3].key: 'overall' is used twice",
            "questions[4].show_if[0].question: 'nope' is not an earlier question",
        ]

    def test_a_numeric_option_code_is_read_as_text(self) -> None:
        text = _with_question(
            "{key: d, type: single, text: D, options: [{code: 30, label: A}, {code: b, label: B}]}"
        )
        assert parse_definition(text).questions[3].options[0].code == "30"

    def test_a_yes_no_option_code_asks_for_quotes(self) -> None:
        text = _with_question(
            "{key: d, type: single, text: D, "
            "options: [{code: yes, label: A}, {code: b, label: B}]}"
        )
        assert _only_problem(text) == (
            "questions[3].options[0].code: a code must be text: put yes/no/true/false in quotes"
        )

    def test_gte_beyond_the_scale(self) -> None:
        problem = _only_problem(
            _with_question(
                "{key: d, type: text, text: D, show_if: {question: recommend, gte: 11}}"
            )
        )
        assert problem.startswith("questions[3].show_if[0].gte: ")

    def test_bad_unit_code(self) -> None:
        problem = _only_problem(VALID + "units: ['bad code!']\n")
        assert problem.startswith("units[0]: String should match pattern")


def _digest(text: str) -> str:
    definition: SurveyDefinition = parse_definition(text)
    return definition.digest()


class TestDigest:
    def test_stable_across_parses(self) -> None:
        assert _digest(VALID) == _digest(VALID)

    def test_is_a_sha256_hex_string(self) -> None:
        digest = _digest(VALID)
        assert len(digest) == 64
        assert set(digest) <= set("0123456789abcdef")

    def test_ignores_comments_and_layout(self) -> None:
        reordered = "# a comment\n" + VALID.replace("title: 测试问卷\n", "") + "title: 测试问卷\n"
        assert _digest(reordered) == _digest(VALID)

    def test_ignores_spelled_out_defaults(self) -> None:
        explicit = VALID.replace(
            "period: 2026H2\n", "period: 2026H2\nanonymous: true\nunits: all\n"
        )
        assert _digest(explicit) == _digest(VALID)

    def test_changes_when_a_question_text_changes(self) -> None:
        changed = VALID.replace("总体满意程度如何？", "总体而言，满意程度如何？")
        assert _digest(changed) != _digest(VALID)

    def test_changes_when_a_show_if_changes(self) -> None:
        base = _with_question(
            "{key: d, type: text, text: D, show_if: {question: recommend, lte: 6}}"
        )
        assert _digest(base) != _digest(base.replace("lte: 6", "lte: 5"))
