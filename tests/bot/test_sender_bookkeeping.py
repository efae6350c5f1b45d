"""The sender's bookkeeping takes few write transactions: the handlers wait for the same
writer (SQLite), so a look that finds nothing writes nothing, and the runs of many chats that
end together are recorded in one transaction."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aiogram.methods import SendMessage
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from bot.outbox import Outbox
from bot.sender import Sender
from surveys.core.db import SessionMaker, read_only, unit_of_work
from surveys.delivery.models import OutboxMessage, OutboxStatus
from tests.bot.recording import RecordingBot

CHATS = [7100 + n for n in range(12)]


class Commits:
    """The transactions an engine commits."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.count = 0
        self._engine = engine.sync_engine
        event.listen(self._engine, "commit", self._seen)

    def _seen(self, *_args: Any) -> None:
        self.count += 1

    def close(self) -> None:
        event.remove(self._engine, "commit", self._seen)


@pytest.fixture
def commits(sender: Sender) -> Iterator[Commits]:
    """The write transactions of the sender's bookkeeping."""
    counter = Commits(sender.books.kw["bind"])
    yield counter
    counter.close()


async def queue_one_each(sessionmaker: SessionMaker, chats: list[int]) -> None:
    async with unit_of_work(sessionmaker) as session:
        for chat_id in chats:
            await Outbox(session, chat_id).send(f"您好 {chat_id}")


async def statuses(sessionmaker: SessionMaker) -> list[str]:
    async with read_only(sessionmaker) as session:
        found = await session.exec(select(OutboxMessage.status).order_by(col(OutboxMessage.id)))
        return list(found.all())


async def test_a_look_that_finds_nothing_writes_nothing(
    sender: Sender, commits: Commits, sessionmaker: SessionMaker
) -> None:
    assert await sender.pump() == 0
    await queue_one_each(sessionmaker, CHATS[:1])
    await sender.drain(timeout=10)
    assert commits.count == 2  # one to claim the message, one to record it
    assert await sender.pump() == 0  # and looking again, with nothing due
    assert commits.count == 2


async def test_the_runs_of_many_chats_ending_together_are_recorded_in_one_transaction(
    sender: Sender, commits: Commits, bot: RecordingBot, sessionmaker: SessionMaker
) -> None:
    await queue_one_each(sessionmaker, CHATS)
    await sender.drain(timeout=10)
    sent = {int(call.chat_id) for call in bot.session.calls(SendMessage)}
    assert sent == set(CHATS)
    assert await statuses(sessionmaker) == [OutboxStatus.sent] * len(CHATS)
    # One look claimed the twelve chats' messages; their records went in one transaction,
    # not one per chat.
    assert commits.count == 2
