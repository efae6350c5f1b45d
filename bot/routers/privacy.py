"""/forget: erase how to reach the citizen (PIPL §47), once confirmed; the answers and
ratings stay in the statistics under the pseudonym."""

from __future__ import annotations

from datetime import datetime, timedelta

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot import render, views
from bot.callbacks import Erase, ForgetCb
from bot.middlewares import ChatContext
from surveys.core import db
from surveys.core.models import utcnow
from surveys.questionnaire import respondents

router = Router(name=__name__)
# Only the confirm of the latest question, pressed within this time, erases; any other
# (cancelled, already used, superseded, too old, asked before a restart) erases nothing.
CONFIRM_WITHIN = timedelta(minutes=10)
CLOCK_SKEW = timedelta(minutes=1)
ASKED_KEY = "forget_asked_at"  # scratch state: when the open question was asked


@router.message(Command("forget"))
async def forget(message: Message, ctx: ChatContext) -> None:
    """Say what would be erased and what stays, and ask to confirm; erase nothing yet."""
    if not await respondents.has_contact(session=ctx.session, respondent=ctx.respondent):
        ctx.outbox.later(message.answer, ctx.t("forget.nothing"))
        return
    asked_at = int(utcnow().timestamp())
    ctx.outbox.later(ctx.state.update_data, {ASKED_KEY: asked_at})
    keyboard = render.forget_keyboard(ctx.t, asked_at)
    ctx.outbox.later(message.answer, ctx.t("forget.confirm"), reply_markup=keyboard)


@router.callback_query(ForgetCb.filter(F.k == Erase.confirm))
async def confirm(query: CallbackQuery, callback_data: ForgetCb, ctx: ChatContext) -> None:
    open_question = (await ctx.state.get_data()).get(ASKED_KEY)
    if open_question != callback_data.at or not asked_recently(callback_data.at, utcnow()):
        ctx.outbox.later(query.answer, ctx.t("forget.stale"), show_alert=True)
        _close_question(ctx, query)
        return
    erased = await respondents.forget_respondent(session=ctx.session, respondent=ctx.respondent)
    later = ctx.outbox.later
    later(query.answer)
    # After the commit: no copy of the erased row may stay in SQLite's write-ahead log.
    later(db.checkpoint, ctx.session)
    later(ctx.state.clear)
    _close_question(ctx, query)
    later(_tell, query, ctx.chat_id, ctx.t("forget.done") if erased else ctx.t("forget.nothing"))


@router.callback_query(ForgetCb.filter(F.k == Erase.cancel))
async def cancel(query: CallbackQuery, ctx: ChatContext) -> None:
    ctx.outbox.later(ctx.state.update_data, {ASKED_KEY: None})
    ctx.outbox.later(query.answer)
    _close_question(ctx, query)
    ctx.outbox.later(_tell, query, ctx.chat_id, ctx.t("forget.cancelled"))


def asked_recently(asked_at: int, now: datetime) -> bool:
    """Whether a confirm of the question asked at ``asked_at`` (Unix seconds) still counts."""
    age = now - datetime.fromtimestamp(asked_at, tz=now.tzinfo)
    return -CLOCK_SKEW <= age <= CONFIRM_WITHIN


def _close_question(ctx: ChatContext, query: CallbackQuery) -> None:
    if isinstance(query.message, Message):
        ctx.outbox.later(views.drop_buttons, query.message)


async def _tell(query: CallbackQuery, chat_id: int, text: str) -> None:
    if query.bot is not None:
        await query.bot.send_message(chat_id, text)
