"""Callback data stays within Telegram's 64 bytes, and keyboards of the demo survey fit it."""

from __future__ import annotations

import inspect
import re
from datetime import date

import pytest
from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot import callbacks
from bot.callbacks import (
    Act,
    AnswerCb,
    AnswerUnitCb,
    Erase,
    ForgetCb,
    InvitesCb,
    OpenSurveyCb,
    RateCb,
    RerateCb,
)
from bot.render import prompt_keyboard
from scoring.demo.survey import demo_survey
from surveys.core.i18n import Translator
from surveys.questionnaire import engine
from surveys.questionnaire.definitions import (
    CODE_RE,
    Condition,
    Question,
    QuestionType,
    SurveyDefinition,
)
from surveys.questionnaire.engine import AnswerValue, Prompt

MAX_BYTES = 64  # Telegram's limit on callback_data
MAX_VERSION_ID = 2**31
MAX_POSITION = 60  # SurveyDefinition allows at most 60 questions
MAX_OPTION = 99
LONGEST_CODE_LENGTH = int(re.findall(r"\{1,(\d+)\}\$$", CODE_RE)[0])  # 32
LONGEST_CODE = ("Zz9-" * LONGEST_CODE_LENGTH)[:LONGEST_CODE_LENGTH]

EXTREMES: dict[type[CallbackData], list[CallbackData]] = {
    AnswerCb: [
        AnswerCb(v=v, q=q, k=k, o=o)
        for v in (0, MAX_VERSION_ID)
        for q in (0, MAX_POSITION)
        for k in Act
        for o in (0, MAX_OPTION)
    ],
    RateCb: [
        RateCb(v=v, q=q, k=k, o=o)
        for v in (0, MAX_VERSION_ID)
        for q in (0, MAX_POSITION)
        for k in Act
        for o in (0, MAX_OPTION)
    ],
    OpenSurveyCb: [OpenSurveyCb(code=LONGEST_CODE), OpenSurveyCb(code="a")],
    InvitesCb: [InvitesCb(on=1), InvitesCb(on=0)],
    RerateCb: [RerateCb(c=c, o=o) for c in (0, MAX_VERSION_ID) for o in (0, 2)],
    AnswerUnitCb: [AnswerUnitCb(c=0), AnswerUnitCb(c=MAX_VERSION_ID)],
    # /forget's question carries when it was asked (Unix seconds); any int64 still fits.
    ForgetCb: [ForgetCb(k=k, at=at) for k in Erase for at in (0, -(2**63), 2**63 - 1)],
}

DEMO = demo_survey(date(2026, 7, 1))
BY_TYPE = {kind: [q for q in DEMO.questions if q.type is kind] for kind in QuestionType}


def factories() -> list[type[CallbackData]]:
    """Every CallbackData subclass defined in bot/callbacks.py."""
    return [
        value
        for value in vars(callbacks).values()
        if inspect.isclass(value)
        and issubclass(value, CallbackData)
        and value is not CallbackData
        and value.__module__ == callbacks.__name__
    ]


def satisfying(target: Question, condition: Condition) -> AnswerValue:
    """An answer to ``target`` for which ``condition`` holds."""
    if condition.lte is not None:
        return condition.lte
    if condition.gte is not None:
        return condition.gte
    codes = condition.in_ or [c for c in target.codes() if c not in (condition.not_in or [])]
    if target.type is QuestionType.multi:
        return [codes[0]]
    return int(codes[0]) if target.type is QuestionType.scale else codes[0]


def prompt_for(definition: SurveyDefinition, question: Question) -> Prompt:
    """The engine's prompt when ``question`` is next: earlier ones answered so it shows."""
    index = definition.questions.index(question)
    answers: dict[str, AnswerValue] = {q.key: None for q in definition.questions[:index]}
    conditions = list(question.show_if)
    while conditions:  # an answer counts only where its own question shows
        condition = conditions.pop()
        target = definition.question(condition.question)
        answers[target.key] = satisfying(target, condition)
        conditions += target.show_if
    prompt = engine.prompt(definition, engine.State(answers=answers))
    assert prompt is not None
    assert prompt.question_key == question.key
    return prompt


def keyboard(question: Question) -> InlineKeyboardMarkup | None:
    return prompt_keyboard(Translator(), prompt_for(DEMO, question), MAX_VERSION_ID)


def buttons(markup: InlineKeyboardMarkup | None) -> list[InlineKeyboardButton]:
    return [] if markup is None else [b for row in markup.inline_keyboard for b in row]


def picks(markup: InlineKeyboardMarkup | None) -> list[InlineKeyboardButton]:
    return [
        b
        for b in buttons(markup)
        if b.callback_data and AnswerCb.unpack(b.callback_data).k is Act.pick
    ]


def texts(markup: InlineKeyboardMarkup | None) -> list[str]:
    return [b.text for b in buttons(markup)]


def packed(data: CallbackData) -> str:
    return data.pack()


def question_id(question: Question) -> str:
    return question.key


class TestFactories:
    def test_every_factory_has_extreme_values_here(self) -> None:
        assert set(factories()) == set(EXTREMES)

    def test_the_longest_code_is_allowed(self) -> None:
        assert len(LONGEST_CODE) == 32
        assert re.fullmatch(CODE_RE, LONGEST_CODE)
        assert not re.fullmatch(CODE_RE, LONGEST_CODE + "x")


class TestAnswerCb:
    @pytest.mark.parametrize("data", EXTREMES[AnswerCb], ids=packed)
    def test_packs_within_64_bytes(self, data: AnswerCb) -> None:
        assert len(data.pack().encode()) <= MAX_BYTES

    @pytest.mark.parametrize("data", EXTREMES[AnswerCb], ids=packed)
    def test_unpacks_to_equal_values(self, data: AnswerCb) -> None:
        assert AnswerCb.unpack(data.pack()) == data


class TestRateCb:
    @pytest.mark.parametrize("data", EXTREMES[RateCb], ids=packed)
    def test_packs_within_64_bytes(self, data: RateCb) -> None:
        assert len(data.pack().encode()) <= MAX_BYTES

    @pytest.mark.parametrize("data", EXTREMES[RateCb], ids=packed)
    def test_unpacks_to_equal_values(self, data: RateCb) -> None:
        assert RateCb.unpack(data.pack()) == data


class TestCaseButtons:
    @pytest.mark.parametrize(
        "data", EXTREMES[RerateCb] + EXTREMES[AnswerUnitCb] + EXTREMES[ForgetCb], ids=packed
    )
    def test_pack_within_64_bytes_and_back(self, data: CallbackData) -> None:
        assert len(data.pack().encode()) <= MAX_BYTES
        assert type(data).unpack(data.pack()) == data


class TestOpenSurveyCb:
    @pytest.mark.parametrize("data", EXTREMES[OpenSurveyCb], ids=packed)
    def test_packs_within_64_bytes(self, data: OpenSurveyCb) -> None:
        assert len(data.pack().encode()) <= MAX_BYTES

    @pytest.mark.parametrize("data", EXTREMES[OpenSurveyCb], ids=packed)
    def test_unpacks_to_equal_values(self, data: OpenSurveyCb) -> None:
        assert OpenSurveyCb.unpack(data.pack()) == data


class TestPromptKeyboard:
    @pytest.mark.parametrize("question", DEMO.questions, ids=question_id)
    def test_callback_data_fits_64_bytes(self, question: Question) -> None:
        for button in buttons(keyboard(question)):
            assert button.callback_data is not None
            assert len(button.callback_data.encode()) <= MAX_BYTES, button.callback_data

    @pytest.mark.parametrize("question", DEMO.questions, ids=question_id)
    def test_picks_carry_version_position_and_option(self, question: Question) -> None:
        position = DEMO.questions.index(question) + 1

        unpacked = [AnswerCb.unpack(b.callback_data or "") for b in picks(keyboard(question))]

        assert unpacked == [
            AnswerCb(v=MAX_VERSION_ID, q=position, k=Act.pick, o=index)
            for index in range(len(question.codes()))
        ]

    @pytest.mark.parametrize("question", BY_TYPE[QuestionType.multi], ids=question_id)
    def test_multi_questions_end_with_done(self, question: Question) -> None:
        done = AnswerCb(v=MAX_VERSION_ID, q=DEMO.questions.index(question) + 1, k=Act.done)

        markup = keyboard(question)

        answering = [b for b in buttons(markup) if b.text != "返回上一题"]
        assert answering[-1].text == "完成"
        assert answering[-1].callback_data == done.pack()

    @pytest.mark.parametrize("question", DEMO.questions, ids=question_id)
    def test_back_is_the_last_row_wherever_an_answer_came_before(self, question: Question) -> None:
        prompt = prompt_for(DEMO, question)
        back = AnswerCb(v=MAX_VERSION_ID, q=prompt.position, k=Act.back)

        markup = keyboard(question)

        assert markup is not None
        if prompt.number == 1:
            assert "返回上一题" not in texts(markup)
        else:
            assert [b.text for b in markup.inline_keyboard[-1]] == ["返回上一题"]
            assert markup.inline_keyboard[-1][0].callback_data == back.pack()
            assert len(back.pack().encode()) <= 64

    @pytest.mark.parametrize("question", DEMO.questions, ids=question_id)
    def test_only_optional_questions_offer_skip(self, question: Question) -> None:
        assert ("跳过" in texts(keyboard(question))) is not question.required

    @pytest.mark.parametrize("question", DEMO.questions, ids=question_id)
    def test_only_multi_questions_offer_done(self, question: Question) -> None:
        assert ("完成" in texts(keyboard(question))) is (question.type is QuestionType.multi)

    @pytest.mark.parametrize("question", BY_TYPE[QuestionType.scale], ids=question_id)
    def test_scale_questions_have_11_numbered_buttons(self, question: Question) -> None:
        assert [b.text for b in picks(keyboard(question))] == [str(n) for n in range(11)]

    def test_the_demo_survey_has_every_kind_of_keyboard(self) -> None:
        assert all(BY_TYPE.values())
        assert any(not q.required for q in DEMO.questions)


class TestCareModeKeyboards:
    """关怀模式: every button on a row of its own, so each is as wide as the screen."""

    @pytest.mark.parametrize("question", DEMO.questions, ids=lambda q: q.key)
    def test_one_button_per_row_with_the_same_buttons(self, question: Question) -> None:
        prompt = prompt_for(DEMO, question)
        normal = prompt_keyboard(Translator(), prompt, MAX_VERSION_ID)
        care = prompt_keyboard(Translator(care=True), prompt, MAX_VERSION_ID)

        rows = [] if care is None else care.inline_keyboard
        assert all(len(row) == 1 for row in rows)
        assert [b.callback_data for b in buttons(care)] == [
            b.callback_data for b in buttons(normal)
        ]
        if question.type is QuestionType.scale:  # 11 buttons: six to a row when not in care
            assert normal is not None
            assert len(normal.inline_keyboard[0]) > 1
