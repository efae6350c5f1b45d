"""``minyi serve``: uvicorn for the API and the bot (polling or webhook) in one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import sys
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any

import uvicorn
from fastapi import FastAPI

from api.jobs import Jobs
from api.main import create_app
from bot import log_privacy
from bot.log_privacy import summary
from surveys.core import migrate
from surveys.core.db import SessionMaker, create_sessionmaker, engine_from_settings
from surveys.core.i18n import N_, Translator
from surveys.core.settings import BotMode, Settings, get_settings
from surveys.questionnaire import links

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
    """Serve until stopped; raises SystemExit(1) when the bot could not run, SystemExit(2)
    on a database that is not migrated to the newest revision."""
    log_privacy.install()  # aiogram's log lines without chat ids or phone numbers
    engine = engine_from_settings(settings)
    try:
        _require_migrated(await migrate.current_revision(engine))
        sessionmaker = create_sessionmaker(engine)
        app = create_app(settings, sessionmaker)
        server = Server(uvicorn_config(settings, app))
        async with _running(_announce(settings, server)):
            await _serve_with_bot(settings, app, server, sessionmaker)
    finally:
        await engine.dispose()


def _require_migrated(current: str | None) -> None:
    head = migrate.head_revision()
    if current != head:
        t = Translator()
        sys.stderr.write(t(N_("serve.not_migrated"), current=current or "—", head=head) + "\n")
        raise SystemExit(2)


def banner(settings: Settings) -> str:
    """Where to go once the server listens: the citizens' web chat, the console, the bot."""
    t, base = Translator(), settings.base_url()
    lines = [
        t(N_("serve.banner.title")),
        t(N_("serve.banner.citizen"), url=f"{base}{links.web_path()}"),
        t(N_("serve.banner.rating"), url=f"{base}{links.web_path('w_UNIT_WINDOW')}"),
        t(N_("serve.banner.console"), url=f"{base}/console/"),
        t(N_("serve.banner.bot_on") if settings.bot_token else N_("serve.banner.bot_off")),
    ]
    return "\n".join(lines)


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


async def _announce(settings: Settings, server: uvicorn.Server) -> None:
    """Print :func:`banner` once the server accepts connections."""
    while not server.started:
        await asyncio.sleep(0.05)
    _say(banner(settings))


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


async def _serve_with_bot(
    settings: Settings, app: FastAPI, server: uvicorn.Server, sessionmaker: SessionMaker
) -> None:
    if settings.bot_token is None or settings.bot_mode is BotMode.webhook:
        async with bot_in_app(settings, app, sessionmaker):
            await server.serve()
        return
    # The bot (aiogram) is imported only when there is one: it is most of a server's memory.
    from bot.main import build_bot, build_dispatcher, run_polling
    from bot.sender import Sender

    bot = build_bot(settings)
    sender = Sender(bot, sessionmaker, settings)
    dp = build_dispatcher(settings, sessionmaker, sender.wake)
    sending = asyncio.create_task(sender.run())
    scheduling = asyncio.create_task(Jobs(settings, sessionmaker, sender.wake).run())
    polling = asyncio.create_task(run_polling(dp, bot))
    polling.add_done_callback(lambda task: _bot_stopped(task, server, settings))
    try:
        await server.serve()
    finally:
        if not polling.done():
            await dp.stop_polling()  # the update in hand is finished first
            await polling
        for task in (scheduling, sending):  # the sender finishes the calls it has started
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await bot.session.close()
    if polling.done() and not polling.cancelled() and polling.exception():
        raise SystemExit(1)


@contextlib.asynccontextmanager
async def bot_in_app(
    settings: Settings, app: FastAPI, sessionmaker: SessionMaker
) -> AsyncIterator[None]:
    """While the block runs: the jobs, and with BOT_TOKEN the webhook bot and the sender.

    Without BOT_TOKEN the jobs still run: cases are escalated, and messages wait in the
    outbox for a bot. Each worker of several takes updates; one of them sends and one runs
    the jobs (their leadership), whichever that is.
    """
    if settings.bot_token is None:
        log.warning(
            "BOT_TOKEN is not set: serving the API only. Set BOT_TOKEN in the environment "
            "or in .env (from @BotFather) to run the Telegram bot too."
        )
        async with _running(Jobs(settings, sessionmaker).run()):
            yield
        return
    assert settings.webhook_url is not None
    from bot.main import build_bot, build_dispatcher
    from bot.sender import Sender
    from bot.webhook import set_webhook, webhook_router

    bot = build_bot(settings)
    sender = Sender(bot, sessionmaker, settings)
    dp = build_dispatcher(settings, sessionmaker, sender.wake)
    secret = webhook_secret(settings)
    app.include_router(webhook_router(dp, bot, secret))
    try:
        await dp.emit_startup(bot=bot)
        await set_webhook(bot, settings.webhook_url, secret, dp)
        async with (
            _running(sender.run()),
            _running(Jobs(settings, sessionmaker, sender.wake).run()),
        ):
            yield
    finally:
        await bot.session.close()


def worker_app() -> FastAPI:
    """One process of ``minyi serve --workers N`` (uvicorn calls this in each): the API, and
    the webhook bot, the sender and the jobs started and stopped with the app."""
    settings = get_settings()
    log_privacy.install()
    engine = engine_from_settings(settings)
    sessionmaker = create_sessionmaker(engine)
    app = create_app(settings, sessionmaker)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            async with bot_in_app(settings, app, sessionmaker):
                yield
        finally:
            await engine.dispose()

    app.router.lifespan_context = lifespan
    return app


def serve_workers(settings: Settings, workers: int) -> None:
    """``minyi serve --workers N``: N processes on one port, each a :func:`worker_app`."""
    proxies = settings.forwarded_allow_ips
    _say(banner(settings))
    uvicorn.run(
        "api.server:worker_app",
        factory=True,
        workers=workers,
        host=settings.api_host,
        port=settings.api_port,
        log_level=settings.log_level.lower(),
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies.split(",") if proxies else [],
    )


@contextlib.asynccontextmanager
async def _running(job: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """Run ``job`` while the block runs; cancel it and wait for it to end after."""
    task = asyncio.create_task(job)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


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
