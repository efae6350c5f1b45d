"""/start (with an optional deep link), /help and /privacy."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import Message

from bot import render, views
from bot.middlewares import CHANNEL, ChatContext
from bot.outbox import Outbox
from surveys.core.i18n import Translator
from surveys.core.settings import Settings
from surveys.questionnaire import conversation

router = Router(name=__name__)


@router.message(CommandStart())
async def start(message: Message, command: CommandObject, ctx: ChatContext) -> None:
    welcome = await conversation.welcome(
        session=ctx.session,
        respondent=ctx.respondent,
        channel=CHANNEL,
        chat_id=ctx.chat_id,
        language_code=ctx.language_code,
        payload=command.args,
        today=ctx.today(),
    )
    notice = render.privacy_notice(ctx.t, ctx.settings, "survey")
    if welcome.reply is not None:
        await views.present(ctx, message, welcome.reply, opening=[notice])
    else:
        await ctx.outbox.send(notice)
        await views.show_survey_list(ctx.outbox, welcome.open_surveys, ctx.t)


@router.message(Command("help"))
async def help_(message: Message, t: Translator, outbox: Outbox) -> None:
    await outbox.send(t("help.text"))


@router.message(Command("privacy"))
async def privacy(message: Message, t: Translator, settings: Settings, outbox: Outbox) -> None:
    await outbox.send(render.privacy_notice(t, settings, "both"))
