"""好差评 in chat: a window's QR code opens a rating; its buttons store each step."""

from __future__ import annotations

from dataclasses import replace

from aiogram import F, Router
from aiogram.filters import CommandObject, CommandStart
from aiogram.types import CallbackQuery, Message

from bot import render, views
from bot.callbacks import RateCb, engine_input
from bot.middlewares import CHANNEL, ChatContext
from surveys.core.models import utcnow
from surveys.haochaping import rating_chat
from surveys.haochaping.rating_chat import EVENT_PREFIX
from surveys.questionnaire.conversation import Reply
from surveys.questionnaire.links import WINDOW_PREFIX

router = Router(name=__name__)


@router.message(CommandStart(deep_link=True, magic=F.args.startswith(WINDOW_PREFIX)))
async def start_window_rating(message: Message, command: CommandObject, ctx: ChatContext) -> None:
    reply = await rating_chat.begin_window_rating(
        session=ctx.session,
        respondent=ctx.respondent,
        payload=command.args or "",
        channel=CHANNEL,
        chat_id=ctx.chat_id,
        language_code=ctx.language_code,
        reasons=ctx.settings.rating_reasons,
    )
    unit, window = reply.intro or ("", "")
    await _open(ctx, message, reply, ctx.t("rating.window", unit=unit, window=window))


@router.message(CommandStart(deep_link=True, magic=F.args.startswith(EVENT_PREFIX)))
async def start_event_rating(message: Message, command: CommandObject, ctx: ChatContext) -> None:
    reply = await rating_chat.begin_event_rating(
        session=ctx.session,
        respondent=ctx.respondent,
        payload=command.args or "",
        channel=CHANNEL,
        chat_id=ctx.chat_id,
        language_code=ctx.language_code,
        now=utcnow(),
        change_days=ctx.settings.rating_change_days,
        reasons=ctx.settings.rating_reasons,
    )
    unit, item = reply.intro or ("", "")
    await _open(ctx, message, reply, ctx.t("rating.event", unit=unit, item=item))


async def _open(ctx: ChatContext, message: Message, reply: Reply, heading: str) -> None:
    """A rating begins: the privacy notice, what is rated, then the first question."""
    opening = [render.privacy_notice(ctx.t, ctx.settings, "rating"), heading]
    await views.present(ctx, message, replace(reply, intro=None), opening=opening)


@router.callback_query(RateCb.filter())
async def rate_button(query: CallbackQuery, callback_data: RateCb, ctx: ChatContext) -> None:
    reply = await rating_chat.submit(
        session=ctx.session,
        respondent=ctx.respondent,
        given=engine_input(callback_data),
        chat_id=callback_data.v,
        tz=ctx.settings.tz,
        now=utcnow(),
        policy=ctx.policy(),
    )
    await views.present(ctx, query, reply)


@router.message(F.voice)
async def voice_comment(message: Message, ctx: ChatContext) -> None:
    assert message.voice is not None
    reply = await rating_chat.submit_voice(
        session=ctx.session,
        respondent=ctx.respondent,
        file_id=message.voice.file_id,
        tz=ctx.settings.tz,
        now=utcnow(),
        policy=ctx.policy(),
    )
    await views.present(ctx, message, reply)
