"""The real dispatcher on a real SQLite file with the demo data, talking to a recording bot.

``settings``, ``engine`` and ``sessionmaker`` come from ``tests/conftest.py``.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from aiogram import Dispatcher

from bot.main import build_dispatcher
from bot.sender import Sender
from scoring.demo.survey import UNITS_CSV, demo_survey
from surveys.accounts.units import parse_units_csv, upsert_units
from surveys.core.clock import today
from surveys.core.db import SessionMaker, unit_of_work
from surveys.core.settings import Settings
from surveys.questionnaire import catalog
from surveys.questionnaire.models import SurveyVersion
from tests.bot.recording import Citizen, RecordingBot
from tests.bot.records import Records


@pytest.fixture
async def demo(sessionmaker: SessionMaker, settings: Settings) -> SurveyVersion:
    """The demo units and the demo survey of the current half-year, committed."""
    units = parse_units_csv(UNITS_CSV.read_text("utf-8"), source="units.csv")
    definition = demo_survey(today(settings.tz))
    async with unit_of_work(sessionmaker) as session:
        await upsert_units(session=session, units=units)
        result = await catalog.load_survey(session=session, definition=definition, source="demo")
    return result.version


@pytest.fixture
async def bot() -> AsyncIterator[RecordingBot]:
    bot = RecordingBot()
    yield bot
    await bot.session.close()


@pytest.fixture
async def sender(
    settings: Settings, sessionmaker: SessionMaker, bot: RecordingBot
) -> AsyncIterator[Sender]:
    """The outbox sender, with limits too high to wait for in these tests (the e2e tests
    hold the limits against a server that enforces them)."""
    fast = settings.model_copy(
        update={"send_per_second": 1e6, "chat_per_second": 1e6, "chat_burst": 1000}
    )
    sender = Sender(bot, sessionmaker, fast)
    yield sender
    await sender.close()


@pytest.fixture
async def dp(
    settings: Settings,
    sessionmaker: SessionMaker,
    bot: RecordingBot,
    sender: Sender,
    demo: SurveyVersion,
) -> AsyncIterator[Dispatcher]:
    """The dispatcher of ``bot.main``, started up and shut down as the server does."""
    dp = build_dispatcher(settings, sessionmaker, sender.wake)
    try:
        await dp.emit_startup(bot=bot, dispatcher=dp)
        yield dp
        await dp.emit_shutdown(bot=bot, dispatcher=dp)
    finally:
        _release_routers(dp)


def _release_routers(dp: Dispatcher) -> None:
    """The routers are module-level and aiogram gives a router one parent: detach them so
    the next test's ``build_dispatcher`` can attach them again."""
    for router in list(dp.sub_routers):
        router._parent_router = None
    dp.sub_routers.clear()


@pytest.fixture
def update_ids() -> Iterator[int]:
    return itertools.count(1)


@pytest.fixture
def citizen(
    dp: Dispatcher, bot: RecordingBot, sender: Sender, update_ids: Iterator[int]
) -> Callable[[int], Citizen]:
    """``citizen(user_id)``: a Telegram user in a private chat with the bot."""

    def make(user_id: int) -> Citizen:
        return Citizen(dp, bot, sender, user_id, update_ids)

    return make


@pytest.fixture
def records(sessionmaker: SessionMaker, settings: Settings) -> Records:
    return Records(sessionmaker, settings)
