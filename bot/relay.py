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
from surveys.cases.service import RERATING_LEVELS
from surveys.core.i18n import Msg, Translator
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
        tz=ctx.settings.tz,
    )
    text = ctx.t.label(_choice_in_language(ctx.t, notice))
    await ctx.outbox.answer(query.id, text)
    if isinstance(query.message, Message):
        await ctx.outbox.edit_markup(query.message.message_id)
        await ctx.outbox.send(text)


def rerating_label(t: Translator, choice: str) -> str:
    """A 复评 choice (满意 / 基本满意 / 不满意) in the reader's language."""
    return t(f"level.{RERATING_LEVELS[choice].value}")


def _choice_in_language(t: Translator, notice: Msg) -> Msg:
    """The recorded 复评 is named by its Chinese level; say it in the reader's language."""
    choice = notice.params.get("choice")
    if not isinstance(choice, str) or choice not in RERATING_LEVELS:
        return notice
    return Msg(notice.key, {**notice.params, "choice": rerating_label(t, choice)})


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
