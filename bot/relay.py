"""The citizen's side of a case (保密联络): 复评 and writing back to the unit; /link for staff.

Staff replies reach the citizen through the outbox (:func:`bot.jobs.queue_replies`)."""

from __future__ import annotations

import logging

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message

from bot.callbacks import AnswerUnitCb, RerateCb
from bot.middlewares import ChatContext
from surveys.accounts import staff
from surveys.cases import relay
from surveys.core.models import utcnow

log = logging.getLogger(__name__)
router = Router(name=__name__)


class ReplyToUnit(StatesGroup):
    writing = State()


@router.callback_query(RerateCb.filter())
async def rerate(query: CallbackQuery, callback_data: RerateCb, ctx: ChatContext) -> None:
    notice = await relay.rerate(
        session=ctx.session,
        respondent=ctx.respondent,
        case_id=callback_data.c,
        choice=callback_data.o,
    )
    await ctx.outbox.answer(query.id, ctx.t.label(notice))
    if isinstance(query.message, Message):
        await ctx.outbox.edit_markup(query.message.message_id)
        await ctx.outbox.send(ctx.t.label(notice))


@router.callback_query(AnswerUnitCb.filter())
async def start_answer(
    query: CallbackQuery, callback_data: AnswerUnitCb, ctx: ChatContext
) -> None:
    ctx.outbox.after_commit(ctx.state.set_state, ReplyToUnit.writing)
    ctx.outbox.after_commit(ctx.state.update_data, case_id=callback_data.c)
    await ctx.outbox.answer(query.id)
    await ctx.outbox.send(ctx.t("relay.write_prompt"))


@router.message(StateFilter(ReplyToUnit.writing), F.text & ~F.text.startswith("/"))
async def answer_unit(message: Message, ctx: ChatContext) -> None:
    case_id = int((await ctx.state.get_data())["case_id"])
    notice = await relay.answer_unit(
        session=ctx.session, respondent=ctx.respondent, case_id=case_id, text=message.text or ""
    )
    ctx.outbox.after_commit(ctx.state.set_state, None)
    await ctx.outbox.send(ctx.t.label(notice))


@router.message(Command("link"))
async def link_staff(message: Message, command: CommandObject, ctx: ChatContext) -> None:
    user = await staff.link_chat(
        session=ctx.session, code=command.args or "", chat_id=ctx.chat_id, now=utcnow()
    )
    await ctx.outbox.send(ctx.t("staff.linked", username=user.username))
