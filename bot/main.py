"""Build the bot and its dispatcher from settings; polling runner and webhook glue."""

from __future__ import annotations

import logging

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage, SimpleEventIsolation
from aiogram.methods import (
    AnswerCallbackQuery,
    EditMessageReplyMarkup,
    EditMessageText,
    SendMessage,
)
from aiogram.methods.base import Response
from aiogram.types import BotCommand

from bot import errors, relay
from bot.middlewares import ChatContextMiddleware, DbSessionMiddleware, TranslatorMiddleware
from bot.outbox import Notify
from bot.routers import invites, preferences, privacy, rating, start, survey
from surveys.core.db import SessionMaker
from surveys.core.i18n import DEFAULT_LOCALE, Translator, load_translations
from surveys.core.settings import Settings

log = logging.getLogger(__name__)
# pydantic keeps parametrised generics only weakly; aiogram builds Response[...] for every
# call, so without these references the classes are rebuilt again and again (~1.6 ms/update).
_RESPONSE_TYPES = [
    Response[method.__returning__]  # type: ignore[name-defined]
    for method in (SendMessage, EditMessageText, EditMessageReplyMarkup, AnswerCallbackQuery)
]
COMMANDS = ("start", "surveys", "cancel", "help", "privacy", "forget", "invites", "lang", "care")


def build_bot(settings: Settings) -> Bot:
    if settings.bot_token is None:
        raise ValueError("BOT_TOKEN is not set")
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    return Bot(settings.bot_token.get_secret_value(), session=session)


def _storage(settings: Settings) -> tuple[BaseStorage, BaseEventIsolation]:
    """aiogram FSM holds UI scratch only; survey state lives in our database."""
    if settings.redis_url:
        from aiogram.fsm.storage.redis import RedisStorage

        from bot.chat_lock import ChatLockIsolation

        storage = RedisStorage.from_url(settings.redis_url, state_ttl=86400, data_ttl=86400)
        # Not aiogram's RedisEventIsolation: its lock outlives a killed process by a minute.
        return storage, ChatLockIsolation(storage.redis, timeout=settings.chat_lock_seconds)
    return MemoryStorage(), SimpleEventIsolation()


def build_dispatcher(
    settings: Settings, sessionmaker: SessionMaker, notify: Notify = lambda chat_id=None: None
) -> Dispatcher:
    """The dispatcher; ``notify`` is called when an update queued messages (wakes the sender)."""
    storage, isolation = _storage(settings)
    # Isolation serialises updates of one chat, so a double tap cannot race itself.
    dp = Dispatcher(
        storage=storage,
        events_isolation=isolation,
        settings=settings,
        sessionmaker=sessionmaker,
        notify=notify,
    )
    secret = settings.secret_key_bytes()
    dp.update.outer_middleware(DbSessionMiddleware(sessionmaker, secret, notify))
    dp.update.outer_middleware(TranslatorMiddleware())
    dp.update.outer_middleware(ChatContextMiddleware())
    # rating before start: its /start handler takes only window (w_) deep links.
    dp.include_routers(
        errors.router,
        rating.router,
        start.router,
        privacy.router,
        invites.router,
        preferences.router,
        relay.router,
        survey.router,
    )
    dp.startup.register(set_commands)
    return dp


def command_list(locale: str = DEFAULT_LOCALE) -> list[BotCommand]:
    """The bot's commands described in one catalogue's language."""
    t = Translator(locale)
    return [BotCommand(command=c, description=t(f"command.{c}")) for c in COMMANDS]


async def set_commands(bot: Bot) -> None:
    """zh_Hans for everyone, and each other catalogue's own list for its Telegram language."""
    await bot.set_my_commands(command_list())
    await bot.set_my_commands(command_list(), language_code="zh")
    for locale in sorted(load_translations()):
        if locale != DEFAULT_LOCALE:
            await bot.set_my_commands(command_list(locale), language_code=locale.split("_")[0])


async def run_polling(dp: Dispatcher, bot: Bot) -> None:
    await bot.delete_webhook(drop_pending_updates=False)
    # One update at a time: aiogram confirms a batch of updates to Telegram when it asks for
    # the next, so handling them as tasks could confirm an update not yet stored (lost by a
    # crash). Handlers are short (sending waits in the outbox); webhook workers scale out.
    await dp.start_polling(
        bot,
        handle_signals=False,
        handle_as_tasks=False,
        allowed_updates=dp.resolve_used_update_types(),
    )
