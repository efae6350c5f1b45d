"""/invites: the citizen's consent to be invited to new surveys (broadcasts), given or
withdrawn at any time."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot import render
from bot.callbacks import InvitesCb
from bot.middlewares import ChatContext
from surveys.core.models import utcnow
from surveys.questionnaire import respondents

router = Router(name=__name__)


@router.message(Command("invites"))
async def ask(message: Message, ctx: ChatContext) -> None:
    await ctx.outbox.send(ctx.t("invites.ask"), render.invites_keyboard(ctx.t))


@router.callback_query(InvitesCb.filter())
async def answer(query: CallbackQuery, callback_data: InvitesCb, ctx: ChatContext) -> None:
    recorded = await respondents.set_invite_consent(
        session=ctx.session,
        respondent=ctx.respondent,
        consent=bool(callback_data.on),
        now=utcnow(),
    )
    if not recorded:
        text = ctx.t("invites.no_contact")
    else:
        text = ctx.t("invites.on") if callback_data.on else ctx.t("invites.off")
    await ctx.outbox.answer(query.id)
    if isinstance(query.message, Message) and query.message.reply_markup is not None:
        await ctx.outbox.edit_markup(query.message.message_id)
    await ctx.outbox.send(text)
