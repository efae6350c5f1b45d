"""/forget: erase how to reach the citizen (PIPL §47), once confirmed; the answers and
ratings stay in the statistics under the pseudonym."""

from __future__ import annotations

from datetime import datetime, timedelta

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot import render
from bot.callbacks import Erase, ForgetCb
from bot.middlewares import ChatContext
from surveys.cases import closing
from surveys.core import db
from surveys.core.models import utcnow
from surveys.delivery.outbox import ERASURE
from surveys.questionnaire import respondents

router = Router(name=__name__)
# Only the confirm of the latest question, pressed within this time (any time in care mode),
# erases; any other (cancelled, already used, superseded, too old, asked before a restart)
# erases nothing.
CONFIRM_WITHIN = timedelta(minutes=10)
CLOCK_SKEW = timedelta(minutes=1)
ASKED_KEY = "forget_asked_at"  # scratch state: when the open question was asked


@router.message(Command("forget"))
async def forget(message: Message, ctx: ChatContext) -> None:
    """Say what would be erased and what stays, and ask to confirm; erase nothing yet."""
    if not await respondents.has_contact(session=ctx.session, respondent=ctx.respondent):
        await ctx.outbox.send(ctx.t("forget.nothing"))
        return
    asked_at = int(utcnow().timestamp())
    ctx.outbox.after_commit(ctx.state.update_data, {ASKED_KEY: asked_at})
    keyboard = render.forget_keyboard(ctx.t, asked_at)
    await ctx.outbox.send(ctx.t("forget.confirm"), keyboard)


@router.callback_query(ForgetCb.filter(F.k == Erase.confirm))
async def confirm(query: CallbackQuery, callback_data: ForgetCb, ctx: ChatContext) -> None:
    open_question = (await ctx.state.get_data()).get(ASKED_KEY)
    in_time = ctx.care or asked_recently(callback_data.at, utcnow())
    if open_question != callback_data.at or not in_time:
        await ctx.outbox.answer(query.id, ctx.t("forget.stale"), show_alert=True)
        await _close_question(ctx, query)
        return
    # Their open cases close the loop too: 无法联系 (surveys.cases.closing). Whatever this
    # update queued so far is written first, so the erasure takes it too.
    await ctx.outbox.flush()
    erased = await closing.forget_citizen(
        session=ctx.session, respondent=ctx.respondent, now=utcnow()
    )
    # The lines below are the last to this chat; each is deleted as soon as it is sent.
    after = ctx.outbox.after_commit
    # After the commit: no copy of the erased row may stay in SQLite's write-ahead log.
    after(db.checkpoint, ctx.session)
    after(ctx.state.clear)
    await ctx.outbox.answer(query.id, purpose=ERASURE)
    await _close_question(ctx, query, purpose=ERASURE)
    text = ctx.t("forget.done") if erased else ctx.t("forget.nothing")
    await ctx.outbox.send(text, purpose=ERASURE)


@router.callback_query(ForgetCb.filter(F.k == Erase.cancel))
async def cancel(query: CallbackQuery, ctx: ChatContext) -> None:
    ctx.outbox.after_commit(ctx.state.update_data, {ASKED_KEY: None})
    await ctx.outbox.answer(query.id)
    await _close_question(ctx, query)
    await ctx.outbox.send(ctx.t("forget.cancelled"))


def asked_recently(asked_at: int, now: datetime) -> bool:
    """Whether a confirm of the question asked at ``asked_at`` (Unix seconds) still counts."""
    age = now - datetime.fromtimestamp(asked_at, tz=now.tzinfo)
    return -CLOCK_SKEW <= age <= CONFIRM_WITHIN


async def _close_question(ctx: ChatContext, query: CallbackQuery, purpose: str = "reply") -> None:
    if isinstance(query.message, Message) and query.message.reply_markup is not None:
        await ctx.outbox.edit_markup(query.message.message_id, purpose=purpose)
