"""好差评 in chat: a window's QR code opens a rating; its buttons store each step."""

from __future__ import annotations

from dataclasses import replace

from aiogram import F, Router
from aiogram.filters import CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import views
from bot.callbacks import RateCb, engine_input
from bot.middlewares import CHANNEL, Outbox
from surveys.cases import workdays
from surveys.core.i18n import Translator
from surveys.core.models import utcnow
from surveys.core.settings import Settings
from surveys.haochaping import rating_chat
from surveys.haochaping.rating_chat import EVENT_PREFIX
from surveys.questionnaire.conversation import Reply
from surveys.questionnaire.links import WINDOW_PREFIX
from surveys.questionnaire.models import Respondent

router = Router(name=__name__)


@router.message(CommandStart(deep_link=True, magic=F.args.startswith(WINDOW_PREFIX)))
async def start_window_rating(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    respondent: Respondent,
    settings: Settings,
    state: FSMContext,
    t: Translator,
    outbox: Outbox,
) -> None:
    reply = await rating_chat.begin_window_rating(
        session=session,
        respondent=respondent,
        payload=command.args or "",
        channel=CHANNEL,
        chat_id=message.chat.id,
        language_code=message.from_user.language_code if message.from_user else None,
        reasons=settings.rating_reasons,
    )
    unit, window = reply.intro or ("", "")
    _open(message, reply, t("rating.window", unit=unit, window=window), state, t, outbox)


@router.message(CommandStart(deep_link=True, magic=F.args.startswith(EVENT_PREFIX)))
async def start_event_rating(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    respondent: Respondent,
    settings: Settings,
    state: FSMContext,
    t: Translator,
    outbox: Outbox,
) -> None:
    reply = await rating_chat.begin_event_rating(
        session=session,
        respondent=respondent,
        payload=command.args or "",
        channel=CHANNEL,
        chat_id=message.chat.id,
        language_code=message.from_user.language_code if message.from_user else None,
        now=utcnow(),
        change_days=settings.rating_change_days,
        reasons=settings.rating_reasons,
    )
    unit, item = reply.intro or ("", "")
    _open(message, reply, t("rating.event", unit=unit, item=item), state, t, outbox)


def _open(
    message: Message, reply: Reply, heading: str, state: FSMContext, t: Translator, outbox: Outbox
) -> None:
    """A rating begins: the privacy notice, what is rated, then the first question."""
    outbox.later(message.answer, t("privacy.notice"))
    outbox.later(message.answer, heading)
    outbox.later(views.show_reply, message, replace(reply, intro=None), state, t)


@router.callback_query(RateCb.filter())
async def rate_button(
    query: CallbackQuery,
    callback_data: RateCb,
    session: AsyncSession,
    respondent: Respondent,
    settings: Settings,
    state: FSMContext,
    t: Translator,
    outbox: Outbox,
) -> None:
    reply = await rating_chat.submit(
        session=session,
        respondent=respondent,
        given=engine_input(callback_data),
        chat_id=callback_data.v,
        tz=settings.tz,
        now=utcnow(),
        policy=workdays.policy_from(settings),
    )
    outbox.later(views.show_button_reply, query, reply, state, t)


@router.message(F.voice)
async def voice_comment(
    message: Message,
    session: AsyncSession,
    respondent: Respondent,
    settings: Settings,
    state: FSMContext,
    t: Translator,
    outbox: Outbox,
) -> None:
    assert message.voice is not None
    reply = await rating_chat.submit_voice(
        session=session,
        respondent=respondent,
        file_id=message.voice.file_id,
        tz=settings.tz,
        now=utcnow(),
        policy=workdays.policy_from(settings),
    )
    outbox.later(views.show_text_reply, message, reply, state, t)
