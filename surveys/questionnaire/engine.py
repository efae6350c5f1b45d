"""The conversation engine: pure functions from (definition, state, one input) to a step.

It knows nothing of storage or transports. Every text it returns is a catalogue key
(:class:`Msg`) or survey content written by the administrator (``str``, or
:class:`Localized` when written in several languages).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from surveys.core.i18n import N_, Label, Msg
from surveys.questionnaire.definitions import (
    Condition,
    Level,
    Question,
    QuestionType,
    SurveyDefinition,
    label,
)

AnswerValue = str | int | list[str] | None  # None: an optional question skipped


@dataclass(frozen=True)
class Choice:
    index: int
    label: Label
    selected: bool = False


@dataclass(frozen=True)
class Prompt:
    question_key: str
    position: int  # 1-based place in the definition; 0 for the unit question
    type: QuestionType
    text: Label
    options: tuple[Choice, ...]
    hint: Msg | None
    skippable: bool
    done_button: bool
    # Progress: this question's place on the citizen's path so far, and about how many
    # questions the path will have given the answers so far (0 for the unit question).
    number: int = 0
    total: int = 0
    can_go_back: bool = False


# Inputs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pick:
    position: int
    index: int


@dataclass(frozen=True)
class Done:
    position: int


@dataclass(frozen=True)
class Skip:
    position: int


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Back:
    """Return to the previous answered question; ``position`` is the question on screen."""

    position: int


Input = Pick | Done | Skip | Text | Back


@dataclass(frozen=True)
class State:
    answers: Mapping[str, AnswerValue]
    draft: tuple[str, ...] = ()


@dataclass(frozen=True)
class Accepted:
    question: Question
    value: AnswerValue
    state: State
    retired: tuple[str, ...] = ()  # earlier answers to questions that no longer show


@dataclass(frozen=True)
class Reverted:
    """Went back: ``question``'s answer ``value`` is withdrawn and it is asked again."""

    question: Question
    value: AnswerValue
    state: State


@dataclass(frozen=True)
class Toggled:
    question: Question
    state: State


@dataclass(frozen=True)
class Rejected:
    reason: Msg


Step = Accepted | Toggled | Rejected | Reverted

STALE = Msg(N_("engine.stale"))
NO_PREVIOUS = Msg(N_("engine.no_previous"))
USE_BUTTONS = Msg(N_("engine.use_buttons"))


def visible(question: Question, answers: Mapping[str, AnswerValue]) -> bool:
    """A question shows when every condition holds; a skipped answer matches none."""
    return all(
        condition.question in answers and _holds(condition, answers[condition.question])
        for condition in question.show_if
    )


def _holds(condition: Condition, value: AnswerValue) -> bool:
    if value is None:
        return False
    picked = value if isinstance(value, list) else [str(value)]
    if condition.in_ is not None and not set(picked) & set(condition.in_):
        return False
    if condition.not_in is not None and set(picked) & set(condition.not_in):
        return False
    number = value if isinstance(value, int) else None
    if condition.lte is not None and (number is None or number > condition.lte):
        return False
    return condition.gte is None or (number is not None and number >= condition.gte)


def standing(
    definition: SurveyDefinition, answers: Mapping[str, AnswerValue]
) -> dict[str, AnswerValue]:
    """The answers whose questions still show, in question order. A condition only looks
    at earlier questions, so one pass in order settles every question."""
    kept: dict[str, AnswerValue] = {}
    for question in definition.questions:
        if question.key in answers and visible(question, kept):
            kept[question.key] = answers[question.key]
    return kept


def current(definition: SurveyDefinition, state: State) -> Question | None:
    """The first unanswered question that shows, or None when the survey is done."""
    kept = standing(definition, state.answers)
    for question in definition.questions:
        if question.key not in kept and visible(question, kept):
            return question
    return None


def position_of(definition: SurveyDefinition, question: Question) -> int:
    return definition.questions.index(question) + 1


def path(definition: SurveyDefinition, answers: Mapping[str, AnswerValue]) -> list[Question]:
    """The answered questions on the citizen's way so far, in order."""
    kept = standing(definition, answers)
    return [question for question in definition.questions if question.key in kept]


def _progress(definition: SurveyDefinition, state: State, question: Question) -> tuple[int, int]:
    """(this question's number on the path, about how many the path will have): a later
    question counts unless a condition already fails for certain, on an answer given or
    on a question that cannot show itself."""
    kept = standing(definition, state.answers)
    at = definition.questions.index(question)
    number = sum(1 for q in definition.questions[:at] if q.key in kept) + 1
    impossible: set[str] = set()
    later = 0
    for following in definition.questions[at + 1 :]:
        if all(_may_hold(c, kept, impossible) for c in following.show_if):
            later += 1
        else:
            impossible.add(following.key)
    return number, number + later


def _may_hold(
    condition: Condition, answers: Mapping[str, AnswerValue], impossible: set[str]
) -> bool:
    if condition.question in answers:
        return _holds(condition, answers[condition.question])
    return condition.question not in impossible


def prompt(definition: SurveyDefinition, state: State) -> Prompt | None:
    """What to ask next, or None at the end."""
    question = current(definition, state)
    if question is None:
        return None
    number, total = _progress(definition, state, question)
    return Prompt(
        question_key=question.key,
        position=position_of(definition, question),
        type=question.type,
        text=label(question.text),
        options=_choices(question, state.draft),
        hint=_hint(question),
        skippable=not question.required,
        done_button=question.type is QuestionType.multi,
        number=number,
        total=total,
        can_go_back=number > 1,
    )


def label_of(question: Question, code: str) -> Label:
    if question.type is QuestionType.satisfaction:
        return Msg(f"level.{code}")
    if question.type is QuestionType.scale:
        return code
    return next(label(o.label) for o in question.options if o.code == code)


def _choices(question: Question, draft: tuple[str, ...]) -> tuple[Choice, ...]:
    return tuple(
        Choice(index=i, label=label_of(question, code), selected=code in draft)
        for i, code in enumerate(question.codes())
        if question.type is not QuestionType.text
    )


def _hint(question: Question) -> Msg | None:
    if question.type is QuestionType.multi:
        return Msg(
            N_("engine.hint_multi"), {"min": question.min_choices, "max": question.max_choices}
        )
    if question.type is QuestionType.scale:
        return Msg(N_("engine.hint_scale"))
    if question.type is QuestionType.text:
        return Msg(N_("engine.hint_text"), {"max": question.max_length})
    return None


def step(definition: SurveyDefinition, state: State, given: Input) -> Step:
    """Validate one input against the current question; never raises on bad input.

    An accepted answer also retires every earlier answer whose question no longer shows.
    """
    result = _step(definition, state, given)
    if not isinstance(result, Accepted):
        return result
    kept = standing(definition, result.state.answers)
    known = {question.key for question in definition.questions}
    retired = tuple(key for key in result.state.answers if key in known and key not in kept)
    if not retired:
        return result
    answers = {k: v for k, v in result.state.answers.items() if k not in retired}
    return replace(result, state=State(answers=answers), retired=retired)


def _step(definition: SurveyDefinition, state: State, given: Input) -> Step:
    question = current(definition, state)
    if question is None:
        return Rejected(Msg(N_("engine.finished")))
    if isinstance(given, Text):
        return _text(question, state, given.text)
    if given.position != position_of(definition, question):
        return Rejected(STALE)
    if isinstance(given, Back):
        return _back(definition, state, question)
    if isinstance(given, Skip):
        if question.required:
            return Rejected(Msg(N_("engine.required")))
        return _accept(question, state, None)
    if isinstance(given, Done):
        return _done(question, state)
    return _pick(question, state, given.index)


def _back(definition: SurveyDefinition, state: State, question: Question) -> Step:
    """Withdraw the last answer on the path before ``question``; a multi question comes
    back with its old choices ticked."""
    kept = standing(definition, state.answers)
    at = definition.questions.index(question)
    earlier = [q for q in definition.questions[:at] if q.key in kept]
    if not earlier:
        return Rejected(NO_PREVIOUS)
    previous = earlier[-1]
    value = kept[previous.key]
    answers = {k: v for k, v in state.answers.items() if k != previous.key}
    draft = tuple(value) if isinstance(value, list) else ()
    return Reverted(previous, value, State(answers=answers, draft=draft))


def _accept(question: Question, state: State, value: AnswerValue) -> Accepted:
    answers = {**state.answers, question.key: value}
    return Accepted(question, value, State(answers=answers, draft=()))


def _pick(question: Question, state: State, index: int) -> Step:
    codes = question.codes()
    if question.type is QuestionType.text or not 0 <= index < len(codes):
        return Rejected(STALE)
    code = codes[index]
    if question.type is QuestionType.scale:
        return _accept(question, state, int(code))
    if question.type is not QuestionType.multi:
        return _accept(question, state, code)
    exclusive = question.exclusive_codes()
    if code in state.draft:
        draft = tuple(c for c in state.draft if c != code)
    elif code in exclusive:
        draft = (code,)
    else:
        draft = (*(c for c in state.draft if c not in exclusive), code)
    if len(draft) > question.max_choices:
        return Rejected(Msg(N_("engine.too_many"), {"max": question.max_choices}))
    return Toggled(question, replace(state, draft=draft))


def _done(question: Question, state: State) -> Step:
    if question.type is not QuestionType.multi:
        return Rejected(STALE)
    if len(state.draft) < question.min_choices:
        return Rejected(Msg(N_("engine.too_few"), {"min": question.min_choices}))
    ordered = [code for code in question.codes() if code in state.draft]
    return _accept(question, state, ordered)


def _text(question: Question, state: State, raw: str) -> Step:
    text = raw.strip()
    if question.type is QuestionType.text:
        if not text:
            return Rejected(Msg(N_("engine.empty")))
        if len(text) > question.max_length:
            return Rejected(
                Msg(N_("engine.too_long"), {"max": question.max_length, "got": len(text)})
            )
        return _accept(question, state, text)
    if question.type is QuestionType.scale:
        if text.isascii() and text.isdigit() and len(text) <= 2 and int(text) <= 10:
            return _accept(question, state, int(text))
        return Rejected(Msg(N_("engine.scale_range")))
    return Rejected(USE_BUTTONS)


def is_valid(question: Question, value: AnswerValue) -> bool:
    """Whether a stored value is a legal answer to the question (used by tests and checks)."""
    if value is None:
        return not question.required
    kind = question.type
    if kind is QuestionType.text:
        return isinstance(value, str) and bool(value.strip()) and len(value) <= question.max_length
    if kind is QuestionType.scale:
        return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 10
    if kind is QuestionType.multi:
        return (
            isinstance(value, list)
            and all(isinstance(code, str) for code in value)
            and question.min_choices <= len(value) <= question.max_choices
            and set(value) <= set(question.codes())
            and len(set(value)) == len(value)
            and (len(value) == 1 or not set(value) & question.exclusive_codes())
        )
    if kind is QuestionType.satisfaction:
        return isinstance(value, str) and value in {level.value for level in Level}
    return isinstance(value, str) and value in question.codes()
