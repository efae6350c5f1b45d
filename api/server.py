"""``minyi serve``: uvicorn for the API and the bot (polling or webhook) in one event loop."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging

import uvicorn

from api.main import create_app
from bot.main import build_bot, build_dispatcher, run_polling
from bot.webhook import set_webhook, webhook_router
from surveys.db import create_sessionmaker, engine_from_settings
from surveys.settings import BotMode, Settings

log = logging.getLogger(__name__)


def webhook_secret(settings: Settings) -> str:
    if settings.webhook_secret is not None:
        return settings.webhook_secret.get_secret_value()
    key = settings.secret_key_bytes()
    return hmac.new(key, b"telegram-webhook", hashlib.sha256).hexdigest()


async def serve(settings: Settings) -> None:
    engine = engine_from_settings(settings)
    sessionmaker = create_sessionmaker(engine)
    app = create_app(settings, sessionmaker)
    config = uvicorn.Config(
        app, host=settings.api_host, port=settings.api_port, log_level=settings.log_level.lower()
    )
    server = uvicorn.Server(config)
    if settings.bot_token is None:
        log.warning(
            "BOT_TOKEN is not set: serving the API only. Set BOT_TOKEN in the environment "
            "or in .env (from @BotFather) to run the Telegram bot too."
        )
        await server.serve()
        await engine.dispose()
        return
    bot = build_bot(settings)
    dp = build_dispatcher(settings, sessionmaker)
    polling: asyncio.Task[None] | None = None
    try:
        if settings.bot_mode is BotMode.webhook:
            assert settings.webhook_url is not None
            secret = webhook_secret(settings)
            app.include_router(webhook_router(dp, bot, secret))
            await dp.emit_startup(bot=bot)
            await set_webhook(bot, settings.webhook_url, secret, dp)
        else:
            polling = asyncio.create_task(run_polling(dp, bot))
        await server.serve()
    finally:
        if polling is not None:
            await dp.stop_polling()
            await polling
        await bot.session.close()
        await engine.dispose()
