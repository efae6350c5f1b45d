"""The engine's progress, going back, retiring answers and exclusive options; random input
sequences over the demo survey with going back allowed."""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.demo.survey import demo_survey
from surveys.core.i18n import Localized, Msg
from surveys.questionnaire import engine
from surveys.questionnaire.definitions import parse_definition
from surveys.questionnaire.engine import (
    Accepted,
    Back,
    Done,
    Input,
    Pick,
    Rejected,
    Reverted,
    Skip,
    State,
    Text,
    Toggled,
)
from tests.surveys.questionnaire.test_engine import SURVEY, at

DEMO = demo_survey(date(2026, 9, 1))
CHANNELS = DEMO.question("channels")


class TestProgress:
    def test_counts_the_path_so_far_and_what_may_still_show(self) -> None:
        prompt = engine.prompt(SURVEY, at("mood"))  # kind=b hides why_a; tools x,y hide about_w

        assert prompt is not None
        assert (prompt.number, prompt.total, prompt.can_go_back) == (3, 7, True)

    def test_a_question_behind_a_hidden_one_is_not_counted(self) -> None:
        state = State(answers={"channels": ["none"]})

        prompt = engine.prompt(DEMO, state)

        assert prompt is not None
        assert prompt.question_key == "city_governance"
        # city_governance, data_protection, age_band, elderly_services?, suggestion
        assert (prompt.number, prompt.total) == (2, 6)


class TestBack:
    def test_withdraws_the_last_answer_on_the_path(self) -> None:
        result = engine.step(SURVEY, at("mood"), Back(5))

        assert isinstance(result, Reverted)
        assert (result.question.key, result.value) == ("tools", ["x", "y"])
        assert result.state.draft == ("x", "y")
        assert engine.current(SURVEY, result.state) == SURVEY.question("tools")

    def test_is_refused_on_the_first_question(self) -> None:
        assert engine.step(SURVEY, State(answers={}), Back(1)) == Rejected(
            Msg("engine.no_previous")
        )

    def test_is_refused_from_another_question(self) -> None:
        assert engine.step(SURVEY, at("mood"), Back(3)) == Rejected(engine.STALE)


class TestRetired:
    def test_an_answer_whose_question_no_longer_shows_is_retired(self) -> None:
        state = State(answers={"channels": ["app"], "hotline": "neutral"})

        result = engine.step(DEMO, state, Pick(2, 0))

        assert isinstance(result, Accepted)
        assert result.retired == ("hotline",)
        assert set(result.state.answers) == {"channels", "overall"}


class TestExclusive:
    NONE = CHANNELS.codes().index("none")

    def test_ticking_the_exclusive_option_clears_the_others(self) -> None:
        state = State(answers={}, draft=("hall", "app"))

        result = engine.step(DEMO, state, Pick(1, self.NONE))

        assert isinstance(result, Toggled)
        assert result.state.draft == ("none",)

    def test_ticking_another_option_clears_the_exclusive_one(self) -> None:
        result = engine.step(DEMO, State(answers={}, draft=("none",)), Pick(1, 0))

        assert isinstance(result, Toggled)
        assert result.state.draft == ("hall",)

    def test_a_stored_combination_with_the_exclusive_option_is_invalid(self) -> None:
        assert engine.is_valid(CHANNELS, ["none"])
        assert engine.is_valid(CHANNELS, ["hall", "app"])
        assert not engine.is_valid(CHANNELS, ["hall", "none"])


class TestPerLanguage:
    def test_the_prompt_carries_every_language_given(self) -> None:
        definition = parse_definition(
            "code: x\ntitle: {zh-Hans: 标题, en: Title}\nperiod: 2026H2\n"
            "opens_on: 2026-07-01\ncloses_on: 2026-12-31\nquestions:\n"
            "  - {key: a, type: single, text: {zh: 问题, en: Question}, options: "
            "[{code: y, label: {zh_Hans: 是, en: 'Yes'}}, {code: n, label: 否}]}\n"
        )

        prompt = engine.prompt(definition, State(answers={}))

        assert prompt is not None
        assert prompt.text == Localized({"zh_Hans": "问题", "en": "Question"})
        assert [c.label for c in prompt.options] == [
            Localized({"zh_Hans": "是", "en": "Yes"}),
            "否",
        ]


# Random inputs with going back allowed -------------------------------------------------

POSITIONS = st.integers(min_value=0, max_value=len(DEMO.questions) + 1)
INPUTS: st.SearchStrategy[Input] = st.one_of(
    st.builds(Pick, POSITIONS, st.integers(min_value=-1, max_value=11)),
    st.builds(Done, POSITIONS),
    st.builds(Skip, POSITIONS),
    st.builds(Back, POSITIONS),
    st.builds(Text, st.sampled_from(["", "5", "10", "11", "意见", " x "])),
)


def _current_position(state: State) -> int | None:
    question = engine.current(DEMO, state)
    return None if question is None else engine.position_of(DEMO, question)


@st.composite
def likely_inputs(draw: st.DrawFn, state: State) -> Input:
    """Mostly inputs aimed at the question on screen, so runs get deep into the survey."""
    if draw(st.booleans()):
        return draw(INPUTS)
    position = _current_position(state) or 1
    kind = draw(st.sampled_from(["pick", "pick", "pick", "done", "skip", "back"]))
    if kind == "pick":
        return Pick(position, draw(st.integers(min_value=0, max_value=10)))
    if kind == "done":
        return Done(position)
    return Skip(position) if kind == "skip" else Back(position)


class TestRandomRuns:
    @settings(max_examples=200, deadline=None)
    @given(st.data())
    def test_answers_stay_on_the_path_valid_and_numbered_forward(
        self, data: st.DataObject
    ) -> None:
        state = State(answers={})
        shown = engine.prompt(DEMO, state)
        for _ in range(data.draw(st.integers(min_value=1, max_value=60))):
            given_input = data.draw(likely_inputs(state))
            result = engine.step(DEMO, state, given_input)
            if isinstance(result, Rejected):
                continue
            state = result.state
            after = engine.prompt(DEMO, state)
            if shown is not None and after is not None and not isinstance(result, Reverted):
                assert after.number >= shown.number, (given_input, shown, after)
            shown = after
        on_path = {q.key for q in engine.path(DEMO, state.answers)}
        assert set(state.answers) == on_path
        for key, value in state.answers.items():
            assert engine.is_valid(DEMO.question(key), value), (key, value)
