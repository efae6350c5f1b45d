"""/forget: erase the citizen's personal data (PIPL §47); anonymous answers stay."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import Message
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.middlewares import Outbox
from surveys.core.i18n import Translator
from surveys.questionnaire import respondents
from surveys.questionnaire.models import Respondent

router = Router(name=__name__)


@router.message(Command("forget"))
async def forget(
    message: Message,
    session: AsyncSession,
    respondent: Respondent,
    state: FSMContext,
    t: Translator,
    outbox: Outbox,
) -> None:
    erased = await respondents.forget_respondent(session=session, respondent=respondent)
    outbox.later(state.clear)
    outbox.later(message.answer, t("forget.done") if erased else t("forget.nothing"))
