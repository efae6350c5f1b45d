"""Answering a survey: the list, the buttons, free text and /cancel."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import views
from bot.callbacks import AnswerCb, OpenSurveyCb, engine_input
from bot.middlewares import Outbox
from surveys.cases import workdays
from surveys.core.i18n import Translator
from surveys.core.models import utcnow
from surveys.core.settings import Settings
from surveys.haochaping import rating_chat
from surveys.questionnaire import catalog, conversation
from surveys.questionnaire.models import Respondent

router = Router(name=__name__)


@router.message(Command("surveys"))
async def list_surveys(
    message: Message, session: AsyncSession, settings: Settings, t: Translator, outbox: Outbox
) -> None:
    versions = await catalog.open_surveys(session=session, today=views.today(settings))
    outbox.later(views.show_survey_list, message, versions, t)


@router.message(Command("cancel"))
async def cancel(
    message: Message,
    session: AsyncSession,
    respondent: Respondent,
    state: FSMContext,
    t: Translator,
    outbox: Outbox,
) -> None:
    left = await conversation.cancel_survey(session=session, respondent=respondent)
    outbox.later(views.drop_prompt_buttons, message.bot, message.chat.id, state)
    outbox.later(message.answer, t("cancel.done") if left else t("cancel.nothing"))


@router.callback_query(OpenSurveyCb.filter())
async def open_survey(
    query: CallbackQuery,
    callback_data: OpenSurveyCb,
    session: AsyncSession,
    respondent: Respondent,
    settings: Settings,
    state: FSMContext,
    t: Translator,
    outbox: Outbox,
) -> None:
    reply = await conversation.begin_survey(
        session=session,
        respondent=respondent,
        survey_code=callback_data.code,
        unit_code=None,
        today=views.today(settings),
    )
    outbox.later(query.answer)
    if isinstance(query.message, Message):
        outbox.later(views.show_reply, query.message, reply, state, t)


@router.callback_query(AnswerCb.filter())
async def answer_button(
    query: CallbackQuery,
    callback_data: AnswerCb,
    session: AsyncSession,
    respondent: Respondent,
    settings: Settings,
    state: FSMContext,
    t: Translator,
    outbox: Outbox,
) -> None:
    reply = await conversation.submit(
        session=session,
        respondent=respondent,
        given=engine_input(callback_data),
        version_id=callback_data.v,
        today=views.today(settings),
    )
    outbox.later(views.show_button_reply, query, reply, state, t)


@router.message(F.text & ~F.text.startswith("/"))
async def answer_text(
    message: Message,
    session: AsyncSession,
    respondent: Respondent,
    settings: Settings,
    state: FSMContext,
    t: Translator,
    outbox: Outbox,
) -> None:
    reply = await rating_chat.submit_text(
        session=session,
        respondent=respondent,
        text=message.text or "",
        today=views.today(settings),
        tz=settings.tz,
        now=utcnow(),
        policy=workdays.policy_from(settings),
    )
    outbox.later(views.show_text_reply, message, reply, state, t)


@router.callback_query()
async def unknown_button(query: CallbackQuery, t: Translator) -> None:
    await query.answer(t("engine.stale"), show_alert=True)


@router.message()
async def unknown_message(message: Message, t: Translator) -> None:
    await message.answer(t("help.unknown"))
