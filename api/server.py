"""``minyi serve``: uvicorn for the API and the bot (polling or webhook) in one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

from api.main import create_app
from bot import log_privacy
from bot.log_privacy import summary
from bot.main import build_bot, build_dispatcher, run_polling
from bot.relay import relay_forever
from bot.webhook import set_webhook, webhook_router
from surveys.core.db import SessionMaker, create_sessionmaker, engine_from_settings, unit_of_work
from surveys.core.models import utcnow
from surveys.core.settings import BotMode, Settings
from surveys.questionnaire import respondents

log = logging.getLogger(__name__)


class Server(uvicorn.Server):
    """uvicorn re-raises SIGTERM/SIGINT after shutting down, killing the process before the
    bot and the database are closed; here the signal ends serving and nothing more."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            yield
            self._captured_signals.clear()


def webhook_secret(settings: Settings) -> str:
    if settings.webhook_secret is not None:
        return settings.webhook_secret.get_secret_value()
    key = settings.secret_key_bytes()
    return hmac.new(key, b"telegram-webhook", hashlib.sha256).hexdigest()


async def serve(settings: Settings) -> None:
    """Serve until stopped; raises SystemExit(1) when the bot could not run."""
    log_privacy.install()  # aiogram's log lines without chat ids or phone numbers
    engine = engine_from_settings(settings)
    sessionmaker = create_sessionmaker(engine)
    app = create_app(settings, sessionmaker)
    purging = asyncio.create_task(_purge_daily(settings, sessionmaker))
    server = Server(uvicorn_config(settings, app))
    try:
        await _serve_with_bot(settings, app, server, sessionmaker)
    finally:
        purging.cancel()
        await engine.dispose()


def uvicorn_config(settings: Settings, app: FastAPI) -> uvicorn.Config:
    """uvicorn believes X-Forwarded-For/-Proto from the proxies of ``FORWARDED_ALLOW_IPS``
    only (not from loopback by default): with none set, the peer is the client."""
    proxies = settings.forwarded_allow_ips
    return uvicorn.Config(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_level=settings.log_level.lower(),
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies.split(",") if proxies else [],
    )


async def _purge_daily(settings: Settings, sessionmaker: SessionMaker) -> None:
    """Retention: contact data unused for IDENTITY_RETENTION_DAYS goes, once a day."""
    while True:
        async with unit_of_work(sessionmaker) as session:
            deleted = await respondents.purge_stale_identities(
                session=session, now=utcnow(), days=settings.identity_retention_days
            )
        log.info("retention: %d identity row(s) deleted", deleted)
        await asyncio.sleep(86400)


async def _serve_with_bot(
    settings: Settings, app: FastAPI, server: uvicorn.Server, sessionmaker: SessionMaker
) -> None:
    if settings.bot_token is None:
        log.warning(
            "BOT_TOKEN is not set: serving the API only. Set BOT_TOKEN in the environment "
            "or in .env (from @BotFather) to run the Telegram bot too."
        )
        await server.serve()
        return
    bot = build_bot(settings)
    dp = build_dispatcher(settings, sessionmaker)
    polling: asyncio.Task[None] | None = None
    relaying = asyncio.create_task(relay_forever(bot, sessionmaker, settings))
    try:
        if settings.bot_mode is BotMode.webhook:
            assert settings.webhook_url is not None
            secret = webhook_secret(settings)
            app.include_router(webhook_router(dp, bot, secret))
            await dp.emit_startup(bot=bot)
            await set_webhook(bot, settings.webhook_url, secret, dp)
        else:
            polling = asyncio.create_task(run_polling(dp, bot))
            polling.add_done_callback(lambda task: _bot_stopped(task, server, settings))
        await server.serve()
    finally:
        relaying.cancel()
        if polling is not None and not polling.done():
            await dp.stop_polling()
            await polling
        await bot.session.close()
    if polling is not None and polling.done() and not polling.cancelled() and polling.exception():
        raise SystemExit(1)


def _bot_stopped(task: asyncio.Task[None], server: uvicorn.Server, settings: Settings) -> None:
    """A bot that cannot reach Telegram stops the whole process, loudly, for a supervisor."""
    if task.cancelled() or task.exception() is None:
        return
    error = task.exception()
    assert error is not None
    log.error(
        "the bot stopped: %s; is TELEGRAM_API_URL (%s) reachable and BOT_TOKEN right?",
        summary(error),
        settings.telegram_api_url,
    )
    server.should_exit = True
