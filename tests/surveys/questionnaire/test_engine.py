"""The conversation engine: unit tests per function, then random input sequences."""

from __future__ import annotations

import copy
import functools
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from surveys.core.i18n import Msg
from surveys.questionnaire import engine
from surveys.questionnaire.definitions import Level, Question, QuestionType, SurveyDefinition
from surveys.questionnaire.engine import (
    Accepted,
    AnswerValue,
    Choice,
    Done,
    Input,
    Pick,
    Rejected,
    Skip,
    State,
    Text,
    Toggled,
)
from tests.surveys.builders import definitions, make_definition, make_question, options

STALE = Msg("engine.stale")
LEVELS = [level.value for level in Level]


def start() -> State:
    return State(answers={})


def answered(**answers: AnswerValue) -> State:
    return State(answers=answers)


def question(kind: str, **fields: Any) -> Question:
    """A lone question of the given type, validated inside a definition."""
    return make_definition([make_question("q", kind, **fields)]).questions[0]


def accepted(result: engine.Step) -> Accepted:
    assert isinstance(result, Accepted), result
    return result


def toggled(result: engine.Step) -> Toggled:
    assert isinstance(result, Toggled), result
    return result


def rejected(result: engine.Step) -> Msg:
    assert isinstance(result, Rejected), result
    return result.reason


# A definition with every type and every operator, used by several tests.
#   1 kind    single a/b/c
#   2 why_a   text           show_if kind in [a]
#   3 tools   multi w/x/y/z  min 2 max 3, optional
#   4 about_w text           show_if tools in [w], optional
#   5 mood    satisfaction   optional
#   6 not_bad text           show_if mood not_in [dissatisfied, very_dissatisfied], optional
#   7 score   scale
#   8 low     text           show_if score lte 3
#   9 high    single yes/no  show_if score gte 9
SURVEY = make_definition(
    [
        make_question("kind", "single"),
        make_question("why_a", "text", max_length=10, show_if={"question": "kind", "in": ["a"]}),
        make_question(
            "tools", "multi", options=options("w", "x", "y", "z"), min=2, max=3, required=False
        ),
        make_question(
            "about_w", "text", required=False, show_if={"question": "tools", "in": ["w"]}
        ),
        make_question("mood", "satisfaction", required=False),
        make_question(
            "not_bad",
            "text",
            required=False,
            show_if={"question": "mood", "not_in": ["dissatisfied", "very_dissatisfied"]},
        ),
        make_question("score", "scale"),
        make_question("low", "text", show_if={"question": "score", "lte": 3}),
        make_question(
            "high", "single", options=options("yes", "no"), show_if={"question": "score", "gte": 9}
        ),
    ]
)


def at(key: str) -> State:
    """A state of SURVEY whose current question is ``key``: earlier ones answered/hidden."""
    route: dict[str, AnswerValue] = {
        "kind": "b",
        "tools": ["x", "y"],
        "mood": "dissatisfied",
        "score": 5,
        "high": "yes",
    }
    answers: dict[str, AnswerValue] = {}
    for q in SURVEY.questions:
        if q.key == key:
            break
        if q.key in route:
            answers[q.key] = route[q.key]
    state = State(answers=answers)
    current = engine.current(SURVEY, state)
    assert current is not None
    assert current.key == key
    return state


def pos(key: str) -> int:
    return [q.key for q in SURVEY.questions].index(key) + 1


# visible() ----------------------------------------------------------------------------


class TestVisible:
    def test_question_without_conditions_always_shows(self) -> None:
        assert engine.visible(SURVEY.question("kind"), {})

    @pytest.mark.parametrize(("kind", "shows"), [("a", True), ("b", False), ("c", False)])
    def test_in_on_single(self, kind: str, shows: bool) -> None:
        assert engine.visible(SURVEY.question("why_a"), {"kind": kind}) is shows

    @pytest.mark.parametrize(
        ("tools", "shows"),
        [(["w"], True), (["x", "w"], True), (["w", "x", "y"], True), (["x", "y"], False)],
    )
    def test_in_matches_any_code_of_a_multi_answer(self, tools: list[str], shows: bool) -> None:
        assert engine.visible(SURVEY.question("about_w"), {"tools": tools}) is shows

    @pytest.mark.parametrize(
        ("mood", "shows"),
        [
            ("very_satisfied", True),
            ("satisfied", True),
            ("neutral", True),
            ("dissatisfied", False),
            ("very_dissatisfied", False),
        ],
    )
    def test_not_in_on_satisfaction(self, mood: str, shows: bool) -> None:
        assert engine.visible(SURVEY.question("not_bad"), {"mood": mood}) is shows

    def test_not_in_on_multi_hides_when_any_code_matches(self) -> None:
        definition = make_definition(
            [
                make_question("m", "multi"),
                make_question("t", "text", show_if={"question": "m", "not_in": ["a"]}),
            ]
        )
        follow = definition.question("t")
        assert engine.visible(follow, {"m": ["b", "c"]})
        assert not engine.visible(follow, {"m": ["a", "c"]})

    @pytest.mark.parametrize(("score", "shows"), [(0, True), (3, True), (4, False), (10, False)])
    def test_lte_is_inclusive(self, score: int, shows: bool) -> None:
        assert engine.visible(SURVEY.question("low"), {"score": score}) is shows

    @pytest.mark.parametrize(("score", "shows"), [(8, False), (9, True), (10, True), (0, False)])
    def test_gte_is_inclusive(self, score: int, shows: bool) -> None:
        assert engine.visible(SURVEY.question("high"), {"score": score}) is shows

    def test_in_on_scale_compares_the_number_as_a_code(self) -> None:
        definition = make_definition(
            [
                make_question("s", "scale"),
                make_question("t", "text", show_if={"question": "s", "in": ["9", "10"]}),
            ]
        )
        follow = definition.question("t")
        assert engine.visible(follow, {"s": 10})
        assert not engine.visible(follow, {"s": 1})

    @pytest.mark.parametrize("key", ["why_a", "about_w", "not_bad", "low", "high"])
    def test_skipped_answer_hides_every_dependent(self, key: str) -> None:
        answers: dict[str, AnswerValue] = dict.fromkeys(["kind", "tools", "mood", "score"])
        assert not engine.visible(SURVEY.question(key), answers)

    @pytest.mark.parametrize("key", ["why_a", "about_w", "not_bad", "low", "high"])
    def test_unanswered_target_hides_dependent(self, key: str) -> None:
        assert not engine.visible(SURVEY.question(key), {})

    def test_every_condition_must_hold(self) -> None:
        definition = make_definition(
            [
                make_question("s", "scale"),
                make_question(
                    "t",
                    "text",
                    show_if=[{"question": "s", "gte": 3}, {"question": "s", "lte": 5}],
                ),
            ]
        )
        follow = definition.question("t")
        assert [n for n in range(11) if engine.visible(follow, {"s": n})] == [3, 4, 5]


# current() ----------------------------------------------------------------------------


class TestCurrent:
    def test_first_question_at_the_start(self) -> None:
        assert engine.current(SURVEY, start()) == SURVEY.question("kind")

    def test_answered_questions_are_passed(self) -> None:
        assert engine.current(SURVEY, answered(kind="a")) == SURVEY.question("why_a")

    def test_hidden_questions_are_passed(self) -> None:
        assert engine.current(SURVEY, answered(kind="b")) == SURVEY.question("tools")

    def test_skipped_optional_counts_as_answered_and_hides_dependents(self) -> None:
        state = answered(kind="b", tools=None)
        assert engine.current(SURVEY, state) == SURVEY.question("mood")

    def test_none_when_everything_is_answered(self) -> None:
        definition = make_definition([make_question("a1"), make_question("a2", "scale")])
        assert engine.current(definition, answered(a1="a", a2=4)) is None

    def test_none_when_the_rest_is_hidden(self) -> None:
        state = answered(kind="b", tools=None, mood=None, score=5)
        assert engine.current(SURVEY, state) is None

    def test_draft_does_not_change_the_current_question(self) -> None:
        state = State(answers=at("tools").answers, draft=("w", "x"))
        assert engine.current(SURVEY, state) == SURVEY.question("tools")


# prompt() -----------------------------------------------------------------------------


class TestPrompt:
    def test_single_choice_prompt(self) -> None:
        prompt = engine.prompt(SURVEY, start())
        assert prompt == engine.Prompt(
            question_key="kind",
            position=1,
            type=QuestionType.single,
            text="Question kind?",
            options=(
                Choice(0, "Option a"),
                Choice(1, "Option b"),
                Choice(2, "Option c"),
            ),
            hint=None,
            skippable=False,
            done_button=False,
            number=1,
            total=9,  # every later question may still show
            can_go_back=False,
        )

    def test_position_is_the_place_in_the_definition(self) -> None:
        prompt = engine.prompt(SURVEY, at("tools"))
        assert prompt is not None
        assert prompt.position == 3  # why_a (2) is hidden, the numbering does not shift

    def test_satisfaction_options_are_level_messages(self) -> None:
        prompt = engine.prompt(SURVEY, at("mood"))
        assert prompt is not None
        assert prompt.type is QuestionType.satisfaction
        assert prompt.options == tuple(
            Choice(i, Msg(f"level.{code}")) for i, code in enumerate(LEVELS)
        )
        assert prompt.hint is None
        assert prompt.done_button is False

    def test_scale_offers_eleven_buttons_and_a_hint(self) -> None:
        prompt = engine.prompt(SURVEY, at("score"))
        assert prompt is not None
        assert prompt.options == tuple(Choice(n, str(n)) for n in range(11))
        assert prompt.hint == Msg("engine.hint_scale")

    def test_text_prompt_has_no_options_and_a_length_hint(self) -> None:
        prompt = engine.prompt(SURVEY, answered(kind="a"))
        assert prompt is not None
        assert prompt.type is QuestionType.text
        assert prompt.options == ()
        assert prompt.hint == Msg("engine.hint_text", {"max": 10})

    def test_multi_prompt_has_done_button_and_range_hint(self) -> None:
        prompt = engine.prompt(SURVEY, at("tools"))
        assert prompt is not None
        assert prompt.done_button is True
        assert prompt.hint == Msg("engine.hint_multi", {"min": 2, "max": 3})
        assert not any(choice.selected for choice in prompt.options)

    def test_multi_prompt_marks_draft_codes_selected(self) -> None:
        state = State(answers=at("tools").answers, draft=("y", "w"))
        prompt = engine.prompt(SURVEY, state)
        assert prompt is not None
        assert [(c.label, c.selected) for c in prompt.options] == [
            ("Option w", True),
            ("Option x", False),
            ("Option y", True),
            ("Option z", False),
        ]

    @pytest.mark.parametrize(
        ("key", "skippable"), [("kind", False), ("tools", True), ("mood", True), ("score", False)]
    )
    def test_skippable_follows_required(self, key: str, skippable: bool) -> None:
        prompt = engine.prompt(SURVEY, at(key))
        assert prompt is not None
        assert prompt.skippable is skippable

    def test_none_at_the_end(self) -> None:
        assert engine.prompt(SURVEY, answered(kind="b", tools=None, mood=None, score=5)) is None


# step() -------------------------------------------------------------------------------


class TestStep:
    def test_single_choice_is_accepted_with_the_option_code(self) -> None:
        result = accepted(engine.step(SURVEY, start(), Pick(1, 2)))
        assert result.question == SURVEY.question("kind")
        assert result.value == "c"
        assert result.state == State(answers={"kind": "c"}, draft=())

    @pytest.mark.parametrize(("index", "code"), list(enumerate(LEVELS)))
    def test_satisfaction_gives_level_codes(self, index: int, code: str) -> None:
        result = accepted(engine.step(SURVEY, at("mood"), Pick(pos("mood"), index)))
        assert result.value == code
        assert result.state.answers["mood"] == code

    def test_scale_by_button(self) -> None:
        result = accepted(engine.step(SURVEY, at("score"), Pick(pos("score"), 7)))
        assert result.value == 7
        assert result.state.answers["score"] == 7

    @pytest.mark.parametrize(("text", "value"), [("7", 7), (" 7 ", 7), ("0", 0), ("10", 10)])
    def test_scale_by_text(self, text: str, value: int) -> None:
        result = accepted(engine.step(SURVEY, at("score"), Text(text)))
        assert result.value == value

    @pytest.mark.parametrize("text", ["11", "abc", "７", "-1", "7.5", "", "²", "1 0"])
    def test_scale_text_out_of_range_is_rejected(self, text: str) -> None:
        reason = rejected(engine.step(SURVEY, at("score"), Text(text)))
        assert reason == Msg("engine.scale_range")

    def test_scale_text_with_thousands_of_digits_is_rejected_not_raised(self) -> None:
        # int() refuses strings of more than 4300 digits (sys.get_int_max_str_digits).
        reason = rejected(engine.step(SURVEY, at("score"), Text("7" * 5000)))
        assert reason == Msg("engine.scale_range")

    def test_multi_pick_toggles_on(self) -> None:
        state = at("tools")
        result = toggled(engine.step(SURVEY, state, Pick(pos("tools"), 2)))
        assert result.question == SURVEY.question("tools")
        assert result.state == State(answers=state.answers, draft=("y",))

    def test_multi_pick_again_toggles_off(self) -> None:
        state = State(answers=at("tools").answers, draft=("y", "w"))
        result = toggled(engine.step(SURVEY, state, Pick(pos("tools"), 2)))
        assert result.state.draft == ("w",)
        assert result.state.answers == state.answers

    def test_multi_too_many(self) -> None:
        state = State(answers=at("tools").answers, draft=("w", "x", "y"))
        reason = rejected(engine.step(SURVEY, state, Pick(pos("tools"), 3)))
        assert reason == Msg("engine.too_many", {"max": 3})

    def test_multi_at_the_maximum_can_still_untick(self) -> None:
        state = State(answers=at("tools").answers, draft=("w", "x", "y"))
        result = toggled(engine.step(SURVEY, state, Pick(pos("tools"), 0)))
        assert result.state.draft == ("x", "y")

    @pytest.mark.parametrize("draft", [(), ("w",)])
    def test_multi_done_with_too_few(self, draft: tuple[str, ...]) -> None:
        state = State(answers=at("tools").answers, draft=draft)
        reason = rejected(engine.step(SURVEY, state, Done(pos("tools"))))
        assert reason == Msg("engine.too_few", {"min": 2})

    def test_multi_done_stores_codes_in_option_order(self) -> None:
        state = at("tools")
        for index in (3, 0, 2):
            state = toggled(engine.step(SURVEY, state, Pick(pos("tools"), index))).state
        assert state.draft == ("z", "w", "y")
        result = accepted(engine.step(SURVEY, state, Done(pos("tools"))))
        assert result.value == ["w", "y", "z"]
        assert result.state.answers["tools"] == ["w", "y", "z"]
        assert result.state.draft == ()

    def test_done_on_a_question_without_done_button_is_stale(self) -> None:
        assert rejected(engine.step(SURVEY, start(), Done(1))) == STALE

    def test_text_is_accepted_stripped(self) -> None:
        result = accepted(engine.step(SURVEY, answered(kind="a"), Text("  因为 A  ")))
        assert result.value == "因为 A"

    def test_text_at_the_maximum_length_is_accepted(self) -> None:
        result = accepted(engine.step(SURVEY, answered(kind="a"), Text("好" * 10)))
        assert result.value == "好" * 10

    def test_text_too_long(self) -> None:
        reason = rejected(engine.step(SURVEY, answered(kind="a"), Text(" " + "好" * 11 + " ")))
        assert reason == Msg("engine.too_long", {"max": 10, "got": 11})

    @pytest.mark.parametrize("text", ["", "   ", "\n\t", "\u3000"])
    def test_empty_text(self, text: str) -> None:
        reason = rejected(engine.step(SURVEY, answered(kind="a"), Text(text)))
        assert reason == Msg("engine.empty")

    @pytest.mark.parametrize("key", ["kind", "tools", "mood", "high"])
    def test_text_where_a_choice_is_expected(self, key: str) -> None:
        state = answered(kind="b", tools=None, mood=None, score=9) if key == "high" else at(key)
        reason = rejected(engine.step(SURVEY, state, Text("Option a")))
        assert reason == Msg("engine.use_buttons")

    def test_pick_on_a_text_question_is_stale(self) -> None:
        assert rejected(engine.step(SURVEY, answered(kind="a"), Pick(2, 0))) == STALE

    def test_skip_optional_stores_none(self) -> None:
        result = accepted(engine.step(SURVEY, at("mood"), Skip(pos("mood"))))
        assert result.value is None
        assert result.state.answers["mood"] is None
        assert "mood" in result.state.answers

    def test_skip_optional_multi_drops_the_draft(self) -> None:
        state = State(answers=at("tools").answers, draft=("w",))
        result = accepted(engine.step(SURVEY, state, Skip(pos("tools"))))
        assert result.value is None
        assert result.state.draft == ()
        # the skipped answer hides about_w (4); mood (5) is next
        assert engine.current(SURVEY, result.state) == SURVEY.question("mood")

    @pytest.mark.parametrize("key", ["kind", "score"])
    def test_skip_required_is_rejected(self, key: str) -> None:
        reason = rejected(engine.step(SURVEY, at(key), Skip(pos(key))))
        assert reason == Msg("engine.required")

    @pytest.mark.parametrize(
        "given",
        [Pick(2, 0), Pick(0, 0), Pick(-1, 0), Done(1), Skip(4), Skip(99), Done(0)],
    )
    def test_buttons_for_another_position_are_stale(self, given: Input) -> None:
        assert rejected(engine.step(SURVEY, at("tools"), given)) == STALE

    def test_buttons_of_an_earlier_question_are_stale(self) -> None:
        state = accepted(engine.step(SURVEY, start(), Pick(1, 0))).state
        assert rejected(engine.step(SURVEY, state, Pick(1, 1))) == STALE
        assert state.answers == {"kind": "a"}

    @pytest.mark.parametrize(
        ("key", "index"),
        [
            ("kind", -1),
            ("kind", 3),
            ("tools", 4),
            ("mood", 5),
            ("score", 11),
            ("score", -1),
            ("score", 10**20),
        ],
    )
    def test_out_of_range_index_is_stale(self, key: str, index: int) -> None:
        assert rejected(engine.step(SURVEY, at(key), Pick(pos(key), index))) == STALE

    @pytest.mark.parametrize("given", [Pick(1, 0), Done(9), Skip(9), Text("hello"), Text("")])
    def test_input_after_the_end_is_finished(self, given: Input) -> None:
        state = answered(kind="b", tools=None, mood=None, score=5)
        assert rejected(engine.step(SURVEY, state, given)) == Msg("engine.finished")

    @pytest.mark.parametrize("given", [Pick(3, 0), Pick(3, 9), Done(3), Skip(3), Text("x")])
    def test_input_state_is_never_mutated(self, given: Input) -> None:
        state = State(answers=at("tools").answers, draft=("w",))
        before = copy.deepcopy(state)
        engine.step(SURVEY, state, given)
        assert state == before

    def test_a_whole_conversation_with_skip_logic(self) -> None:
        inputs: list[Input] = [
            Pick(1, 0),  # kind = a -> why_a shows
            Text("because"),
            Pick(3, 0),  # tools: w
            Pick(3, 1),  # tools: x
            Done(3),  # tools = [w, x] -> about_w shows
            Skip(4),
            Pick(5, 3),  # mood = dissatisfied -> not_bad hidden
            Text("2"),  # score 2 -> low shows, high hidden
            Text("too slow"),
        ]
        state = start()
        keys = []
        for sent in inputs:
            result = engine.step(SURVEY, state, sent)
            assert not isinstance(result, Rejected), (sent, result)
            if isinstance(result, Accepted):
                keys.append(result.question.key)
            state = result.state
        assert keys == ["kind", "why_a", "tools", "about_w", "mood", "score", "low"]
        assert state.answers == {
            "kind": "a",
            "why_a": "because",
            "tools": ["w", "x"],
            "about_w": None,
            "mood": "dissatisfied",
            "score": 2,
            "low": "too slow",
        }
        assert engine.prompt(SURVEY, state) is None


# is_valid() ---------------------------------------------------------------------------

SINGLE = question("single")
MULTI = question("multi", options=options("a", "b", "c", "d"), min=2, max=3)
SATISFACTION = question("satisfaction")
SCALE = question("scale")
TEXT = question("text", max_length=5)


class TestIsValid:
    @pytest.mark.parametrize(
        ("q", "value"),
        [
            (SINGLE, "a"),
            (SINGLE, "c"),
            (MULTI, ["a", "b"]),
            (MULTI, ["d", "a", "c"]),
            (SATISFACTION, "very_satisfied"),
            (SATISFACTION, "very_dissatisfied"),
            (SCALE, 0),
            (SCALE, 10),
            (TEXT, "x"),
            (TEXT, "五个字正好"),
        ],
    )
    def test_legal_values(self, q: Question, value: AnswerValue) -> None:
        assert engine.is_valid(q, value) is True

    @pytest.mark.parametrize(
        ("q", "value"),
        [
            (SINGLE, "z"),
            (SINGLE, ""),
            (SINGLE, 1),
            (SINGLE, ["a"]),
            (MULTI, ["a"]),
            (MULTI, ["a", "b", "c", "d"]),
            (MULTI, ["a", "z"]),
            (MULTI, ["a", "a"]),
            (MULTI, "a"),
            (MULTI, []),
            (SATISFACTION, "happy"),
            (SATISFACTION, 5),
            (SATISFACTION, "a"),
            (SCALE, -1),
            (SCALE, 11),
            (SCALE, "7"),
            (TEXT, ""),
            (TEXT, "sixsix"),
            (TEXT, 3),
            (TEXT, ["x"]),
        ],
    )
    def test_illegal_values(self, q: Question, value: Any) -> None:
        assert engine.is_valid(q, value) is False

    @pytest.mark.parametrize("value", [["very_satisfied"], [], {"a": 1}])
    def test_satisfaction_with_an_unhashable_value_is_invalid_not_raised(self, value: Any) -> None:
        assert engine.is_valid(SATISFACTION, value) is False

    @pytest.mark.parametrize("value", [[["a"], "b"], ["a", {"b": 1}]])
    def test_multi_with_unhashable_items_is_invalid_not_raised(self, value: Any) -> None:
        assert engine.is_valid(MULTI, value) is False

    @pytest.mark.parametrize("value", [True, False])
    def test_scale_rejects_booleans(self, value: bool) -> None:
        # bool is a subclass of int; a stored JSON true is not a 0..10 score.
        assert engine.is_valid(SCALE, value) is False

    @pytest.mark.parametrize("kind", list(QuestionType))
    def test_none_is_legal_only_for_optional_questions(self, kind: QuestionType) -> None:
        assert engine.is_valid(question(kind, required=False), None) is True
        assert engine.is_valid(question(kind, required=True), None) is False


# Random input sequences ---------------------------------------------------------------

FIXED = [
    SURVEY,
    make_definition(
        [
            make_question("many", "multi", options=options("a", "b", "c", "d", "e"), max=2),
            make_question("rest", "scale", show_if={"question": "many", "not_in": ["e"]}),
        ]
    ),
    make_definition([make_question("only", "text", required=False, max_length=3)]),
    make_definition(
        [
            make_question("gate", "single", options=options("yes", "no"), required=False),
            make_question(
                "m",
                "multi",
                options=options("a", "b"),
                min=2,
                show_if={"question": "gate", "in": ["yes"]},
            ),
            make_question("s", "scale", required=False, show_if={"question": "m", "in": ["a"]}),
            make_question("t", "text", max_length=1, show_if={"question": "s", "gte": 5}),
            make_question("f", "satisfaction", show_if={"question": "gate", "not_in": ["yes"]}),
        ]
    ),
]

ODD_TEXTS = ["", " ", "\u3000", "7", " 10 ", "11", "-1", "７", "abc", "0" * 20, "7" * 5000]
TEXTS = st.one_of(
    st.text(max_size=20),
    st.sampled_from(ODD_TEXTS),
    st.from_regex(r"\s?[0-9０-９]{1,3}\s?", fullmatch=True),
    st.builds(lambda char, n: char * n, st.characters(), st.sampled_from([400, 501, 4001, 5000])),
    st.builds(
        lambda digit, n: digit * n, st.sampled_from("07９"), st.sampled_from([2, 4300, 4301, 6000])
    ),
)


# Strategies are built once: building them per draw dominates the run time.
STEPS = st.integers(0, 15)
KINDS = st.sampled_from(["pick", "pick", "pick", "done", "skip", "text", "text"])
POSITION_MODES = st.sampled_from(["here", "here", "near", "edge", "any"])
NEAR = st.sampled_from([-1, 1])
EDGES = st.sampled_from([0, -1, 61])
ANY_INT = st.integers()
WILD_INDEXES = st.one_of(st.integers(-2, 12), ANY_INT)


@functools.cache
def below(n: int) -> st.SearchStrategy[int]:
    return st.integers(0, n - 1)


@functools.cache
def index_sets(n: int, low: int, high: int) -> st.SearchStrategy[list[int]]:
    return st.lists(below(n), min_size=low, max_size=high, unique=True)


@functools.cache
def answer_texts(max_length: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="ab好 ", min_size=1, max_size=max_length)


def random_input(draw: st.DrawFn, definition: SurveyDefinition, state: State) -> Input:
    """Anything a client could send: right and wrong positions, wild indexes, any text."""
    prompt = engine.prompt(definition, state)
    here = prompt.position if prompt else 1
    mode = draw(POSITION_MODES)
    if mode == "here":
        position = here
    elif mode == "near":
        position = here + draw(NEAR)
    else:
        position = draw(EDGES if mode == "edge" else ANY_INT)
    kind = draw(KINDS)
    if kind == "pick":
        if prompt and prompt.done_button and draw(st.booleans()):
            # push a multi question towards its maximum
            unticked = [c.index for c in prompt.options if not c.selected] or [0]
            return Pick(prompt.position, unticked[draw(below(len(unticked)))])
        if prompt and prompt.options and draw(st.booleans()):
            return Pick(position, draw(below(len(prompt.options))))
        return Pick(position, draw(WILD_INDEXES))
    if kind == "done":
        return Done(position)
    if kind == "skip":
        return Skip(position)
    return Text(draw(TEXTS))


def short(sent: Input) -> str:
    """An input's repr with long texts cut, for failure reports."""
    if isinstance(sent, Text) and len(sent.text) > 40:
        return f"Text({sent.text[:10]!r}... {len(sent.text)} chars)"
    return repr(sent)


def sensible_inputs(draw: st.DrawFn, q: Question, state: State, position: int) -> list[Input]:
    """A valid way to answer the current question, ending with the accepting input."""
    if not q.required and draw(below(4)) == 0:
        return [Skip(position)]
    codes = q.codes()
    if q.type is QuestionType.text:
        text = draw(answer_texts(q.max_length))
        return [Text(text if text.strip() else "x")]
    if q.type is QuestionType.scale and draw(st.booleans()):
        return [Text(str(draw(below(11))))]
    if q.type is not QuestionType.multi:
        return [Pick(position, draw(below(len(codes))))]
    wanted = [codes[i] for i in draw(index_sets(len(codes), q.min_choices, q.max_choices))]
    untick = [c for c in state.draft if c not in wanted]
    tick = [c for c in wanted if c not in state.draft]
    return [*(Pick(position, codes.index(c)) for c in untick + tick), Done(position)]


def check_invariants(definition: SurveyDefinition, state: State) -> None:
    prompt = engine.prompt(definition, state)
    current = engine.current(definition, state)
    assert (prompt is None) == (current is None)
    if prompt is not None:
        assert current is not None
        assert prompt.question_key == current.key
        assert prompt.position == engine.position_of(definition, current)
    for key, value in state.answers.items():
        q = definition.question(key)
        assert engine.is_valid(q, value)
        assert engine.visible(q, state.answers)
    if state.draft:
        assert current is not None
        assert current.type is QuestionType.multi
        assert set(state.draft) <= set(current.codes())
        assert len(set(state.draft)) == len(state.draft) <= current.max_choices


def snapshot(state: State) -> State:
    """A copy deep enough to notice mutation (answers dict and multi answer lists)."""
    answers = {k: list(v) if isinstance(v, list) else v for k, v in state.answers.items()}
    return State(answers=answers, draft=state.draft)


def apply(definition: SurveyDefinition, state: State, given: Input) -> engine.Step:
    """One step with every per-step property checked."""
    before = snapshot(state)
    current = engine.current(definition, state)
    result = engine.step(definition, state, given)  # must never raise
    assert snapshot(state) == before  # the input state is not mutated
    if isinstance(result, Accepted):
        assert current is not None
        assert result.question == current
        assert engine.visible(result.question, state.answers)
        assert result.question.key not in state.answers
        assert engine.is_valid(result.question, result.value)
        assert result.state == State(
            answers={**state.answers, result.question.key: result.value}, draft=()
        )
    elif isinstance(result, Toggled):
        assert current is not None
        assert result.question == current
        assert current.type is QuestionType.multi
        assert result.state.answers == state.answers
        assert len(set(result.state.draft) ^ set(state.draft)) == 1
    else:
        assert isinstance(result, Rejected)
        assert isinstance(result.reason, Msg)
        assert result.reason.key.startswith("engine.")
        if current is None:
            assert result.reason == Msg("engine.finished")
    return result


class TestRandomInputSequences:
    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        definition=st.one_of(st.sampled_from(FIXED), definitions()),
        data=st.data(),
    )
    def test_random_inputs_then_sensible_completion(
        self, definition: SurveyDefinition, data: st.DataObject
    ) -> None:
        state = start()
        total_accepted = 0
        for _ in range(data.draw(STEPS, label="random steps")):
            sent = random_input(data.draw, definition, state)
            note(f"random input: {short(sent)}")
            result = apply(definition, state, sent)
            event(result.reason.key if isinstance(result, Rejected) else type(result).__name__)
            if not isinstance(result, Rejected):
                total_accepted += isinstance(result, Accepted)
                state = result.state
            check_invariants(definition, state)

        remaining = len(definition.questions) - len(state.answers)
        completion_accepted = 0
        while (prompt := engine.prompt(definition, state)) is not None:
            q = engine.current(definition, state)
            assert q is not None  # never stuck while something is asked
            assert completion_accepted < remaining, "more accepted steps than questions"
            inputs = sensible_inputs(data.draw, q, state, prompt.position)
            note(f"sensible inputs: {inputs}")
            for sent in inputs[:-1]:
                state = toggled(apply(definition, state, sent)).state
            result = accepted(apply(definition, state, inputs[-1]))
            assert result.question == q
            state = result.state
            completion_accepted += 1
            check_invariants(definition, state)

        assert engine.current(definition, state) is None
        assert total_accepted + completion_accepted <= len(definition.questions)
        assert rejected(engine.step(definition, state, Text("more"))) == Msg("engine.finished")

    @settings(max_examples=200, deadline=None)
    @given(
        definition=definitions(max_questions=3),
        value=st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=5),
            lambda inner: (
                st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner)
            ),
            max_leaves=5,
        ),
    )
    def test_is_valid_never_raises_on_stored_json(
        self, definition: SurveyDefinition, value: Any
    ) -> None:
        for q in definition.questions:
            assert engine.is_valid(q, value) in (True, False)
