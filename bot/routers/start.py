"""/start (with an optional deep link), /help and /privacy."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import Message
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import views
from bot.middlewares import CHANNEL, Outbox
from surveys.core.i18n import Translator
from surveys.core.settings import Settings
from surveys.questionnaire import conversation
from surveys.questionnaire.models import Respondent

router = Router(name=__name__)


@router.message(CommandStart())
async def start(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    respondent: Respondent,
    settings: Settings,
    state: FSMContext,
    t: Translator,
    outbox: Outbox,
) -> None:
    welcome = await conversation.welcome(
        session=session,
        respondent=respondent,
        channel=CHANNEL,
        chat_id=message.chat.id,
        language_code=message.from_user.language_code if message.from_user else None,
        payload=command.args,
        today=views.today(settings),
    )
    outbox.later(message.answer, t("privacy.notice"))
    if welcome.reply is not None:
        outbox.later(views.show_reply, message, welcome.reply, state, t)
    else:
        outbox.later(views.show_survey_list, message, welcome.open_surveys, t)


@router.message(Command("help"))
async def help_(message: Message, t: Translator) -> None:
    await message.answer(t("help.text"))


@router.message(Command("privacy"))
async def privacy(message: Message, t: Translator) -> None:
    await message.answer(t("privacy.notice"))
