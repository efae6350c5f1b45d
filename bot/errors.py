"""Errors raised while handling an update: domain errors are told, others apologised for.

The log names the update by its id and the error by its type and frames: never the
exception's message, which can quote what the citizen wrote (bot/log_privacy.py)."""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import ErrorEvent

from bot.log_privacy import describe
from bot.outbox import Notify, Outbox
from surveys.core import metrics
from surveys.core.db import SessionMaker, unit_of_work
from surveys.core.exceptions import DomainError
from surveys.core.i18n import N_, Translator, locale_for

log = logging.getLogger(__name__)
router = Router(name=__name__)


@router.errors(ExceptionTypeFilter(DomainError))
async def domain_error(
    event: ErrorEvent, sessionmaker: SessionMaker, notify: Notify, t: Translator | None = None
) -> None:
    error = event.exception
    assert isinstance(error, DomainError)
    log.info("refused update %s: %s", event.update.update_id, error.key)
    await _tell(event, sessionmaker, notify, error.key, dict(error.params), t)


@router.errors()
async def unexpected_error(
    event: ErrorEvent, sessionmaker: SessionMaker, notify: Notify, t: Translator | None = None
) -> None:
    error = event.exception
    log.error(
        "update %s failed: %s\n%s",
        event.update.update_id,
        type(error).__name__,
        describe(error),
    )
    metrics.UPDATES.labels("failed").inc()
    await _tell(event, sessionmaker, notify, N_("error.unexpected"), {}, t)


async def _tell(
    event: ErrorEvent,
    sessionmaker: SessionMaker,
    notify: Notify,
    key: str,
    params: dict[str, object],
    t: Translator | None,
) -> None:
    """Say what went wrong, in a transaction of its own: the update's was rolled back, with
    everything it had queued (so a pressed button is answered here, once). ``t``: the
    update's translator (the citizen's language and care mode) when it was made."""
    update = event.update
    source = update.message or update.callback_query
    user = source.from_user if source else None
    if user is None:
        return
    t = t or Translator(locale_for(user.language_code))
    text = t(key, **params)
    async with unit_of_work(sessionmaker) as session:
        mail = Outbox(session, user.id)
        if update.callback_query is not None:
            await mail.answer(update.callback_query.id, text, show_alert=True)
        await mail.send(text)
    notify(user.id)
