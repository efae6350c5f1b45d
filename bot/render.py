"""Turn service replies into Telegram messages and inline keyboards."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import Act, AnswerCb, OpenSurveyCb
from surveys.conversation import Answered
from surveys.definitions import QuestionType
from surveys.engine import Prompt
from surveys.i18n import Translator
from surveys.models import SurveyVersion

ROW_WIDTH = {QuestionType.scale: 6, QuestionType.satisfaction: 1}


def prompt_text(t: Translator, prompt: Prompt) -> str:
    lines = [t.label(prompt.text)]
    if prompt.hint is not None:
        lines.append(t.label(prompt.hint))
    return "\n".join(lines)


def prompt_keyboard(t: Translator, prompt: Prompt, version_id: int) -> InlineKeyboardMarkup | None:
    builder = InlineKeyboardBuilder()
    for choice in prompt.options:
        mark = "✅ " if choice.selected else ""
        data = AnswerCb(v=version_id, q=prompt.position, k=Act.pick, o=choice.index)
        builder.button(text=mark + t.label(choice.label), callback_data=data.pack())
    width = ROW_WIDTH.get(prompt.type, 2 if prompt.position == 0 else 1)
    builder.adjust(width)
    extra = InlineKeyboardBuilder()
    if prompt.done_button:
        done = AnswerCb(v=version_id, q=prompt.position, k=Act.done)
        extra.button(text=t("button.done"), callback_data=done.pack())
    if prompt.skippable:
        skip = AnswerCb(v=version_id, q=prompt.position, k=Act.skip)
        extra.button(text=t("button.skip"), callback_data=skip.pack())
    builder.attach(extra)
    markup = builder.as_markup()
    return markup if markup.inline_keyboard else None


def answered_text(t: Translator, answered: Answered) -> str:
    chosen = "、".join(t.label(label) for label in answered.labels)
    return f"{t.label(answered.question_text)}\n\n{t('survey.your_answer', answer=chosen)}"


def survey_list_keyboard(versions: list[SurveyVersion]) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for version in versions:
        code = str(version.definition["code"])
        builder.button(text=version.title, callback_data=OpenSurveyCb(code=code).pack())
    builder.adjust(1)
    return builder.as_markup()
