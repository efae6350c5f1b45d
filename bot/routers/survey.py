"""Answering a survey: the list, the buttons, free text and /cancel."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot import views
from bot.callbacks import AnswerCb, OpenSurveyCb, engine_input
from bot.middlewares import ChatContext
from bot.outbox import Outbox
from surveys.core.i18n import Translator
from surveys.core.models import utcnow
from surveys.haochaping import rating_chat
from surveys.questionnaire import catalog, conversation

router = Router(name=__name__)


@router.message(Command("surveys"))
async def list_surveys(message: Message, ctx: ChatContext) -> None:
    versions = await catalog.open_surveys(session=ctx.session, today=ctx.today())
    await views.show_survey_list(ctx.outbox, versions, ctx.t)


@router.message(Command("cancel"))
async def cancel(message: Message, ctx: ChatContext) -> None:
    left = await conversation.cancel_survey(session=ctx.session, respondent=ctx.respondent)
    await views.drop_prompt_buttons(ctx.state, ctx.outbox)
    await ctx.outbox.send(ctx.t("cancel.done") if left else ctx.t("cancel.nothing"))


@router.callback_query(OpenSurveyCb.filter())
async def open_survey(query: CallbackQuery, callback_data: OpenSurveyCb, ctx: ChatContext) -> None:
    reply = await conversation.begin_survey(
        session=ctx.session,
        respondent=ctx.respondent,
        survey_code=callback_data.code,
        unit_code=None,
        today=ctx.today(),
    )
    await views.present(ctx, query, reply, opening=[])


@router.callback_query(AnswerCb.filter())
async def answer_button(query: CallbackQuery, callback_data: AnswerCb, ctx: ChatContext) -> None:
    reply = await conversation.submit(
        session=ctx.session,
        respondent=ctx.respondent,
        given=engine_input(callback_data),
        version_id=callback_data.v,
        today=ctx.today(),
    )
    await views.present(ctx, query, reply)


@router.message(F.text & ~F.text.startswith("/"))
async def answer_text(message: Message, ctx: ChatContext) -> None:
    reply = await rating_chat.submit_text(
        session=ctx.session,
        respondent=ctx.respondent,
        text=message.text or "",
        today=ctx.today(),
        tz=ctx.settings.tz,
        now=utcnow(),
        policy=ctx.policy(),
    )
    await views.present(ctx, message, reply)


@router.callback_query()
async def unknown_button(query: CallbackQuery, t: Translator, outbox: Outbox) -> None:
    await outbox.answer(query.id, t("engine.stale"), show_alert=True)


@router.message()
async def unknown_message(message: Message, t: Translator, outbox: Outbox) -> None:
    await outbox.send(t("help.unknown"))
