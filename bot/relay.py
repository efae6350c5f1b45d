"""Delivering staff replies to citizens (保密联络) and the citizen's side of the case."""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot import render
from bot.callbacks import AnswerUnitCb, RerateCb
from bot.log_privacy import describe, summary
from bot.middlewares import CHANNEL, ChatContext
from surveys.accounts import staff
from surveys.cases import notices, relay, workdays
from surveys.core.db import SessionMaker, unit_of_work
from surveys.core.i18n import N_, Translator
from surveys.core.models import utcnow
from surveys.core.settings import Settings
from surveys.haochaping import rating_chat

log = logging.getLogger(__name__)
router = Router(name=__name__)


class ReplyToUnit(StatesGroup):
    writing = State()


def _keyboard(t: Translator, item: relay.Outgoing) -> InlineKeyboardMarkup:
    rows = []
    if item.ask_rerating:
        rows.append(
            [
                InlineKeyboardButton(
                    text=label, callback_data=RerateCb(c=item.case_id, o=i).pack()
                )
                for i, label in enumerate(relay.RERATING_CHOICES)
            ]
        )
    answer = AnswerUnitCb(c=item.case_id).pack()
    rows.append([InlineKeyboardButton(text=t("relay.answer_button"), callback_data=answer)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


async def deliver_pending(bot: Bot, sessionmaker: SessionMaker) -> int:
    """Send every undelivered reply; each is marked delivered only after Telegram took it."""
    t = Translator()
    async with unit_of_work(sessionmaker) as session:
        outgoing = await relay.outgoing_replies(session=session, channel=CHANNEL)
    sent = 0
    for item in outgoing:
        key = N_("relay.unfounded") if item.unfounded else N_("relay.reply")
        text = t(key, unit=item.unit_name, text=item.text)
        if item.ask_rerating:
            text += "\n\n" + t("relay.ask_rerating")
        try:
            await bot.send_message(item.chat_id, text, reply_markup=_keyboard(t, item))
        except TelegramAPIError as exc:
            log.warning("reply for case %s not delivered: %s", item.case_id, summary(exc))
            continue
        async with unit_of_work(sessionmaker) as session:
            await relay.mark_sent(session=session, event_id=item.event_id)
        sent += 1
    return sent


async def notify_staff(bot: Bot, sessionmaker: SessionMaker, settings: Settings) -> int:
    """New 差评, deadlines within a working day and overdue cases, to linked staff."""
    t = Translator()
    now = utcnow()
    async with unit_of_work(sessionmaker) as session:
        calendar = await workdays.load_calendar(session=session, tz=settings.tz)
        due = await notices.due_notices(
            session=session, today=now.astimezone(settings.tz).date(), now=now, calendar=calendar
        )
    for notice in due:
        try:
            await bot.send_message(notice.chat_id, t.label(notice.text))
        except TelegramAPIError as exc:
            log.warning("staff notice not delivered: %s", summary(exc))
    return len(due)


async def relay_forever(bot: Bot, sessionmaker: SessionMaker, settings: Settings) -> None:
    """Relay staff replies, send due reminders and staff notices, every RELAY_INTERVAL_SECONDS."""
    while True:
        try:
            await deliver_pending(bot, sessionmaker)
            await remind_pending(bot, sessionmaker, settings)
            await notify_staff(bot, sessionmaker, settings)
        except Exception as exc:  # keep relaying; the next round retries what failed
            log.error("relay round failed: %s\n%s", type(exc).__name__, describe(exc))
        await asyncio.sleep(settings.relay_interval_seconds)


@router.callback_query(RerateCb.filter())
async def rerate(query: CallbackQuery, callback_data: RerateCb, ctx: ChatContext) -> None:
    notice = await relay.rerate(
        session=ctx.session,
        respondent=ctx.respondent,
        case_id=callback_data.c,
        choice=callback_data.o,
    )
    ctx.outbox.later(query.answer, ctx.t.label(notice))
    if isinstance(query.message, Message):
        ctx.outbox.later(query.message.edit_reply_markup, reply_markup=None)
        ctx.outbox.later(query.message.answer, ctx.t.label(notice))


@router.callback_query(AnswerUnitCb.filter())
async def start_answer(
    query: CallbackQuery, callback_data: AnswerUnitCb, ctx: ChatContext
) -> None:
    await ctx.state.set_state(ReplyToUnit.writing)
    await ctx.state.update_data(case_id=callback_data.c)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(ctx.t("relay.write_prompt"))


@router.message(StateFilter(ReplyToUnit.writing), F.text & ~F.text.startswith("/"))
async def answer_unit(message: Message, ctx: ChatContext) -> None:
    case_id = int((await ctx.state.get_data())["case_id"])
    notice = await relay.answer_unit(
        session=ctx.session, respondent=ctx.respondent, case_id=case_id, text=message.text or ""
    )
    ctx.outbox.later(ctx.state.set_state, None)
    ctx.outbox.later(message.answer, ctx.t.label(notice))


async def remind_pending(bot: Bot, sessionmaker: SessionMaker, settings: Settings) -> int:
    """The one reminder to rate a 办件 (智能邀评), sent after the commit that records it."""
    t = Translator()
    async with unit_of_work(sessionmaker) as session:
        due = await rating_chat.remind(
            session=session,
            now=utcnow(),
            after_days=settings.rating_reminder_days,
            reasons=settings.rating_reasons,
        )
    for chat_id, reply in due:
        if reply.prompt is None or reply.version_id is None or reply.notice is None:
            continue
        text = t.label(reply.notice) + "\n\n" + render.prompt_text(t, reply.prompt)
        keyboard = render.prompt_keyboard(t, reply.prompt, reply.version_id, reply.dialogue)
        try:
            await bot.send_message(chat_id, text, reply_markup=keyboard)
        except TelegramAPIError as exc:
            log.warning("reminder not delivered: %s", summary(exc))
    return len(due)


@router.message(Command("link"))
async def link_staff(message: Message, command: CommandObject, ctx: ChatContext) -> None:
    user = await staff.link_chat(
        session=ctx.session, code=command.args or "", chat_id=ctx.chat_id, now=utcnow()
    )
    ctx.outbox.later(message.answer, ctx.t("staff.linked", username=user.username))
