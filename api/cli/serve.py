"""``minyi serve``: the API and the bot in one process."""

from __future__ import annotations

import asyncio
import logging

import typer

from surveys.core.settings import BotMode, get_settings


def serve(
    workers: int = typer.Option(
        1,
        "--workers",
        min=1,
        help="Worker processes on one port; more than one needs BOT_MODE=webhook "
        "(or no BOT_TOKEN) and, to share the data, PostgreSQL (DATABASE_URL).",
    ),
) -> None:
    """Run the API and, when BOT_TOKEN is set, the Telegram bot in the same process."""
    from api.server import serve as run
    from api.server import serve_workers
    from bot import log_privacy

    settings = get_settings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    log_privacy.install()  # after the root handler exists: it gets the filter too
    if workers > 1:
        if settings.bot_token is not None and settings.bot_mode is BotMode.polling:
            typer.echo(
                "minyi serve --workers: 多个进程不能同时轮询 Telegram；请设置 BOT_MODE=webhook "
                "和 WEBHOOK_URL，或只用一个进程。",
                err=True,
            )
            raise typer.Exit(2)
        serve_workers(settings, workers)
        return
    asyncio.run(run(settings))
