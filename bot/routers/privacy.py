"""/forget: erase the citizen's personal data (PIPL §47); anonymous answers stay."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message

from bot.middlewares import ChatContext
from surveys.questionnaire import respondents

router = Router(name=__name__)


@router.message(Command("forget"))
async def forget(message: Message, ctx: ChatContext) -> None:
    erased = await respondents.forget_respondent(session=ctx.session, respondent=ctx.respondent)
    ctx.outbox.later(ctx.state.clear)
    ctx.outbox.later(message.answer, ctx.t("forget.done") if erased else ctx.t("forget.nothing"))
