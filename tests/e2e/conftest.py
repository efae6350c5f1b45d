"""One fake Telegram server and one ``minyi serve`` process per test module (start-up is slow:
importing aiogram takes seconds), with a distinct citizen per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.e2e.harness import TOKEN, MinyiProcess
from tests.fakes.telegram import FakeTelegram

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(TOKEN) as fake:
        yield fake


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def minyi(
    tmp_path_factory: pytest.TempPathFactory, tg: FakeTelegram
) -> AsyncIterator[MinyiProcess]:
    """A migrated database with the demo data, and ``minyi serve`` polling the fake."""
    process = MinyiProcess(tmp_path_factory.mktemp("minyi"), tg.base_url)
    await process.cli("db", "upgrade")
    await process.cli("demo", "load")
    await process.cli("user", "add", "admin", "--role", "admin")  # the first account
    await process.start(tg)
    yield process
    await process.stop()
    assert "Traceback" not in process.log(), process.log()
