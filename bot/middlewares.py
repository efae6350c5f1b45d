"""Per-update infrastructure: one DB transaction, the respondent, the translator."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update, User

from surveys import respondents
from surveys.db import SessionMaker
from surveys.i18n import DEFAULT_LOCALE, Translator, load_translations

log = logging.getLogger(__name__)
Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
CHANNEL = "telegram"


class DbSessionMiddleware(BaseMiddleware):
    """One transaction per update, committed after the handler; replays are dropped.

    The update id is claimed in the same transaction as the answer it carries, so a
    redelivered update stores nothing twice.
    """

    def __init__(self, sessionmaker: SessionMaker, secret: bytes) -> None:
        self.sessionmaker = sessionmaker
        self.secret = secret

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        async with self.sessionmaker() as session:
            key = f"tg:{data['bot'].id}:{event.update_id}"
            if not await respondents.claim_event(session=session, key=key):
                log.info("update %s already handled; dropped", event.update_id)
                return None
            user: User | None = data.get("event_from_user")
            if user is not None and not user.is_bot:
                data["respondent"] = await respondents.get_or_create_respondent(
                    session=session, secret=self.secret, channel=CHANNEL, external_id=user.id
                )
            data["session"] = session
            try:
                result = await handler(event, data)
            except BaseException:
                await session.rollback()
                raise
            await session.commit()
            return result


class TranslatorMiddleware(BaseMiddleware):
    """Chinese first: zh_Hans unless the user's language has its own catalogue."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        data["t"] = Translator(locale_for(user.language_code if user else None))
        return await handler(event, data)


def locale_for(language_code: str | None) -> str:
    if not language_code or language_code.lower().startswith("zh"):
        return DEFAULT_LOCALE
    language = language_code.split("-")[0].lower()
    return language if language in load_translations() else DEFAULT_LOCALE
