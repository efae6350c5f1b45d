"""Two webhook workers on PostgreSQL: whichever worker handles an update, its reply goes out
at once, not at the sending worker's next look for messages.

One worker sends for both. The worker that handled an update wakes its own sender; on
PostgreSQL the other one's is woken by a NOTIFY sent with the update's transaction
(:mod:`surveys.delivery.wakeups`). Here the sender looks for messages on its own only every
two minutes, and every update comes on a new connection, so both workers handle some.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.e2e.harness import TOKEN, MinyiProcess
from tests.e2e.test_webhook import _survey_code
from tests.e2e.test_workers import serve_workers
from tests.fakes.telegram import FakeTelegram

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.skipif(
        os.environ.get("MINYI_TEST_BACKEND") != "postgres",
        reason="NOTIFY is PostgreSQL's; on SQLite (one process as a rule) another worker's "
        "messages wait for the sender's next look. Runs in the PostgreSQL + Redis run.",
    ),
]
POLL_SECONDS = 120


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(TOKEN) as fake:
        fake.webhook_keeps_connections = False
        yield fake


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def minyi(
    tmp_path_factory: pytest.TempPathFactory, tg: FakeTelegram
) -> AsyncIterator[MinyiProcess]:
    async for process in serve_workers(
        tmp_path_factory.mktemp("minyi-wake"), tg, OUTBOX_POLL_SECONDS=str(POLL_SECONDS)
    ):
        yield process


async def test_every_citizen_is_answered_whichever_worker_took_the_update(
    tg: FakeTelegram, minyi: MinyiProcess
) -> None:
    for n in range(10):  # a new connection each: the odds that one worker takes all, 1/1024
        user = tg.user(7500 + n)
        tg.send_text(user, f"/start s_{_survey_code()}_donghe")
        # Well under the sender's own poll: only a wake-up brings the reply this soon.
        await tg.wait_for_message(user, timeout=POLL_SECONDS / 6)
    assert len(minyi.query("SELECT id FROM response")) == 10
