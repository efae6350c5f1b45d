"""``minyi serve``: the API and the bot in one process."""

from __future__ import annotations

import asyncio
import logging

from surveys.core.settings import get_settings


def serve() -> None:
    """Run the API and, when BOT_TOKEN is set, the Telegram bot in the same process."""
    from api.server import serve as run
    from bot import log_privacy

    settings = get_settings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    log_privacy.install()  # after the root handler exists: it gets the filter too
    asyncio.run(run(settings))
