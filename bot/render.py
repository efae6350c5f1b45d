"""Turn service replies into Telegram messages and inline keyboards."""

from __future__ import annotations

from typing import Literal

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import Act, AnswerCb, Erase, ForgetCb, InvitesCb, OpenSurveyCb, RateCb
from surveys.core.i18n import Translator
from surveys.core.settings import Settings
from surveys.questionnaire.conversation import Answered
from surveys.questionnaire.definitions import QuestionType
from surveys.questionnaire.engine import Prompt
from surveys.questionnaire.models import SurveyVersion

ROW_WIDTH = {QuestionType.scale: 6, QuestionType.satisfaction: 1}


def prompt_text(t: Translator, prompt: Prompt, dialogue: str = "survey") -> str:
    """The question, with its place in the survey (第 3 题，共约 12 题) and any hint."""
    lines = [t.label(prompt.text)]
    if dialogue == "survey" and prompt.number > 0:
        lines.insert(0, t("survey.progress", number=prompt.number, total=prompt.total))
    if prompt.hint is not None:
        lines.append(t.label(prompt.hint))
    return "\n".join(lines)


def prompt_keyboard(
    t: Translator, prompt: Prompt, version_id: int, dialogue: str = "survey"
) -> InlineKeyboardMarkup | None:
    factory = RateCb if dialogue == "rating" else AnswerCb
    # Built directly rather than with InlineKeyboardBuilder, whose copies cost ~1 ms a
    # keyboard on the hot path of every answer.
    buttons = [
        _button(
            ("✅ " if choice.selected else "") + t.label(choice.label),
            factory(v=version_id, q=prompt.position, k=Act.pick, o=choice.index),
        )
        for choice in prompt.options
    ]
    # 关怀模式: one big button per row, and 完成/跳过/返回 each on a row of their own.
    width = 1 if t.care else ROW_WIDTH.get(prompt.type, 2 if prompt.position == 0 else 1)
    rows = [buttons[i : i + width] for i in range(0, len(buttons), width)]
    extra = []
    if prompt.done_button:
        done = factory(v=version_id, q=prompt.position, k=Act.done)
        extra.append(_button(t("button.done"), done))
    if prompt.skippable:
        extra.append(
            _button(t("button.skip"), factory(v=version_id, q=prompt.position, k=Act.skip))
        )
    if extra and t.care:
        rows.extend([button] for button in extra)
    elif extra:
        rows.append(extra)
    if prompt.can_go_back and dialogue == "survey":
        back = factory(v=version_id, q=prompt.position, k=Act.back)
        rows.append([_button(t("button.back"), back)])
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


def _button(text: str, data: AnswerCb | RateCb) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def answered_text(t: Translator, answered: Answered) -> str:
    chosen = t("survey.answer_separator").join(t.label(label) for label in answered.labels)
    return f"{t.label(answered.question_text)}\n\n{t('survey.your_answer', answer=chosen)}"


def survey_list_keyboard(versions: list[SurveyVersion]) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for version in versions:
        code = str(version.definition["code"])
        builder.button(text=version.title, callback_data=OpenSurveyCb(code=code).pack())
    builder.adjust(1)
    return builder.as_markup()


def privacy_notice(
    t: Translator, settings: Settings, about: Literal["survey", "rating", "both"]
) -> str:
    """The notice shown before the first question (PIPL §17): who collects what, why, for
    how long, how to erase it; worded for a survey, a rating, or both (/privacy)."""
    office = settings.responsible_office
    days = settings.identity_retention_days
    if about == "survey":
        text = t("privacy.survey", office=office, days=days)
    elif about == "rating":
        text = t("privacy.rating", office=office, days=days)
    else:
        text = t("privacy.general", office=office, days=days)
    contact = settings.privacy_contact.strip()
    if contact:
        text += "\n" + t("privacy.contact", contact=contact)
    return text


def invites_keyboard(t: Translator) -> InlineKeyboardMarkup:
    """愿意接收 / 不再接收 under /invites' question."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text=t("invites.yes"), callback_data=InvitesCb(on=1).pack()),
                InlineKeyboardButton(text=t("invites.no"), callback_data=InvitesCb(on=0).pack()),
            ]
        ]
    )


def forget_keyboard(t: Translator, asked_at: int) -> InlineKeyboardMarkup:
    """确认删除 / 取消 under /forget's question."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                _forget_button(t("button.forget_confirm"), ForgetCb(k=Erase.confirm, at=asked_at)),
                _forget_button(t("button.forget_cancel"), ForgetCb(k=Erase.cancel, at=asked_at)),
            ]
        ]
    )


def _forget_button(text: str, data: ForgetCb) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())
