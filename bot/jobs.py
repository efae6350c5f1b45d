"""The bot's scheduled messages, queued in the outbox with the change they report.

Each job is one transaction: a staff reply is marked delivered in the same commit that
queues it, so it is neither lost nor queued twice. They need no Telegram connection and
run whether or not the bot is configured (the sender takes the messages when it is).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.outbox import Outbox
from surveys.cases import notices, relay, workdays
from surveys.core.db import AsyncSession
from surveys.core.i18n import N_, Translator
from surveys.core.models import utcnow
from surveys.core.settings import Settings
from surveys.delivery import broadcasts
from surveys.delivery.broadcasts import CHANNEL  # Telegram's, as bot.middlewares.CHANNEL
from surveys.haochaping import rating_chat
from surveys.questionnaire import respondents
from surveys.questionnaire.respondents import DEFAULT_PREFERENCES, Preferences

if TYPE_CHECKING:
    from aiogram.types import InlineKeyboardMarkup

# Telegram's keyboards (aiogram) are imported where a message is built: a server without
# BOT_TOKEN runs these jobs too, and with nothing to queue it never loads aiogram.

NO_CHAT = 0  # the jobs' outbox names each message's chat itself


def translator(preferences: Preferences) -> Translator:
    """Words for one citizen: their language (/lang, else Telegram's) and care mode."""
    return Translator(preferences.locale, care=preferences.care)


async def translators(session: AsyncSession, chat_ids: list[int]) -> dict[int, Translator]:
    """A translator per citizen's chat (zh_Hans for a chat of nobody known)."""
    found = await respondents.chat_preferences(session=session, chat_ids=chat_ids)
    return {chat: translator(found.get(chat, DEFAULT_PREFERENCES)) for chat in chat_ids}


def reply_keyboard(t: Translator, item: relay.Outgoing) -> InlineKeyboardMarkup:
    """复评 buttons once the case is 已反馈, and a button to write back to the unit."""
    from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

    from bot.callbacks import AnswerUnitCb, RerateCb
    from bot.relay import rerating_label

    rows = []
    if item.ask_rerating:
        rows.append(
            [
                InlineKeyboardButton(
                    text=rerating_label(t, choice),
                    callback_data=RerateCb(c=item.case_id, o=i).pack(),
                )
                for i, choice in enumerate(relay.RERATING_CHOICES)
            ]
        )
    answer = AnswerUnitCb(c=item.case_id).pack()
    rows.append([InlineKeyboardButton(text=t("relay.answer_button"), callback_data=answer)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


async def queue_replies(session: AsyncSession) -> int:
    """Staff replies (保密联络) not yet queued: queued and marked delivered together, in
    each citizen's language."""
    mail = Outbox(session, NO_CHAT)
    outgoing = await relay.outgoing_replies(session=session, channel=CHANNEL)
    words = await translators(session, [item.chat_id for item in outgoing])
    for item in outgoing:
        t = words[item.chat_id]
        key = N_("relay.unfounded") if item.unfounded else N_("relay.reply")
        text = t(key, unit=item.unit_name, text=item.text)
        if item.ask_rerating:
            text += "\n\n" + t("relay.ask_rerating")
        await mail.send(
            text,
            reply_keyboard(t, item),
            purpose="relay",
            case_id=item.case_id,
            chat_id=item.chat_id,
        )
        await relay.mark_sent(session=session, event_id=item.event_id)
    return len(outgoing)


async def queue_staff_notices(session: AsyncSession, settings: Settings) -> int:
    """New 差评, deadlines within a working day and overdue cases (督办), to linked staff."""
    t = Translator()
    mail = Outbox(session, NO_CHAT)
    now = utcnow()
    calendar = await workdays.load_calendar(session=session, tz=settings.tz)
    due = await notices.due_notices(
        session=session, today=now.astimezone(settings.tz).date(), now=now, calendar=calendar
    )
    for notice in due:
        await mail.send(t.label(notice.text), purpose="notice", chat_id=notice.chat_id)
    return len(due)


async def queue_reminders(session: AsyncSession, settings: Settings) -> int:
    """The one reminder to rate a 办件 (智能邀评), queued with the record that it was sent, in
    the citizen's language."""
    mail = Outbox(session, NO_CHAT)
    due = await rating_chat.remind(
        session=session,
        now=utcnow(),
        after_days=settings.rating_reminder_days,
        reasons=settings.rating_reasons,
    )
    words = await translators(session, [chat_id for chat_id, _ in due])
    queued = 0
    for chat_id, reply in due:
        if reply.prompt is None or reply.version_id is None or reply.notice is None:
            continue
        from bot import render

        t = words[chat_id]
        text = t.label(reply.notice) + "\n\n" + render.prompt_text(t, reply.prompt)
        keyboard = render.prompt_keyboard(t, reply.prompt, reply.version_id, reply.dialogue)
        await mail.send(text, keyboard, purpose="reminder", chat_id=chat_id)
        queued += 1
    return queued


async def queue_invitations(session: AsyncSession, settings: Settings) -> int:
    """The next invitations of running broadcasts (the sender paces them), each in its
    citizen's language."""
    chosen = await respondents.invitee_preferences(session=session)
    words = {p: translator(p) for p in {*chosen.values(), DEFAULT_PREFERENCES}}

    def render(invitation: broadcasts.Invitation) -> tuple[str, dict[str, Any]]:
        from bot.invitations import render_invitation

        preferences = chosen.get(invitation.respondent_id, DEFAULT_PREFERENCES)
        return render_invitation(invitation, words[preferences])

    return await broadcasts.step(
        session=session,
        now=utcnow(),
        limit=settings.broadcast_batch,
        render=render,
        tz=settings.tz,
    )
