"""Errors raised while handling an update: domain errors are told, others apologised for.

The log names the update by its id and the error by its type and frames: never the
exception's message, which can quote what the citizen wrote (bot/log_privacy.py)."""

from __future__ import annotations

import logging

from aiogram import Bot, Router
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import ErrorEvent

from bot.log_privacy import describe
from bot.middlewares import locale_for
from surveys.core.exceptions import DomainError
from surveys.core.i18n import N_, Translator

log = logging.getLogger(__name__)
router = Router(name=__name__)


@router.errors(ExceptionTypeFilter(DomainError))
async def domain_error(event: ErrorEvent, bot: Bot) -> None:
    error = event.exception
    assert isinstance(error, DomainError)
    log.info("refused update %s: %s", event.update.update_id, error.key)
    await _tell(event, bot, error.key, dict(error.params))


@router.errors()
async def unexpected_error(event: ErrorEvent, bot: Bot) -> None:
    error = event.exception
    log.error(
        "update %s failed: %s\n%s",
        event.update.update_id,
        type(error).__name__,
        describe(error),
    )
    await _tell(event, bot, N_("error.unexpected"), {})


async def _tell(event: ErrorEvent, bot: Bot, key: str, params: dict[str, object]) -> None:
    update = event.update
    source = update.message or update.callback_query
    user = source.from_user if source else None
    if user is None:
        return
    t = Translator(locale_for(user.language_code))
    text = t(key, **params)
    if update.callback_query is not None:
        await update.callback_query.answer(text, show_alert=True)
    await bot.send_message(user.id, text)
