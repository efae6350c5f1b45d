"""The outbox sender against the fake Bot API server, over real HTTP: what Telegram answers
decides what becomes of each queued message."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from sqlmodel import col, select

from bot.outbox import Outbox, Ref
from bot.sender import BUCKET, Sender, Slots
from surveys.core.db import SessionMaker, unit_of_work
from surveys.core.settings import Settings
from surveys.delivery.models import OutboxMessage, OutboxStatus, UnreachableChat
from tests.fakes.telegram import DEFAULT_TOKEN, QUERY_ID_INVALID, FakeTelegram, Limits

FAST = {"send_backoff_seconds": 0.05, "send_backoff_max_seconds": 0.1, "send_max_attempts": 3}


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(limits=Limits()) as server:
        yield server


@pytest.fixture
async def bot(tg: FakeTelegram) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url))
    bot = Bot(DEFAULT_TOKEN, session=session)
    yield bot
    await bot.session.close()


_made: list[Sender] = []


def make_sender(
    bot: Bot, sessionmaker: SessionMaker, settings: Settings, **changes: Any
) -> Sender:
    sender = Sender(bot, sessionmaker, settings.model_copy(update={**FAST, **changes}))
    _made.append(sender)
    return sender


@pytest.fixture(autouse=True)
async def _close_senders() -> AsyncIterator[None]:
    """Every sender a test makes is closed after it (its bookkeeping connections)."""
    yield
    while _made:
        await _made.pop().close()


async def queue(sessionmaker: SessionMaker, chat_id: int, *texts: str) -> list[Ref]:
    async with unit_of_work(sessionmaker) as session:
        mail = Outbox(session, chat_id)
        return [await mail.send(text) for text in texts]


async def rows(sessionmaker: SessionMaker) -> list[OutboxMessage]:
    async with unit_of_work(sessionmaker) as session:
        found = await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))
        return list(found.all())


async def statuses(sessionmaker: SessionMaker) -> list[str]:
    return [row.status for row in await rows(sessionmaker)]


class TestOrderAndLimits:
    async def test_each_chat_gets_its_messages_in_order_within_the_chat_limit(
        self, tg: FakeTelegram, bot: Bot, sessionmaker: SessionMaker, settings: Settings
    ) -> None:
        users = [tg.user(9100 + i, started=True) for i in range(3)]
        for user in users:
            await queue(sessionmaker, user.id, *(f"第{n}条" for n in range(5)))
        await make_sender(bot, sessionmaker, settings).drain(timeout=20)
        for user in users:
            assert tg.delivered(user) == [f"第{n}条" for n in range(5)]
        # Five messages at 1/s with a burst of 3: the server saw no call over its limits.
        assert tg.violations == []
        assert set(await statuses(sessionmaker)) == {OutboxStatus.sent}

    async def test_an_edit_of_a_queued_message_waits_for_it_and_finds_it(
        self, tg: FakeTelegram, bot: Bot, sessionmaker: SessionMaker, settings: Settings
    ) -> None:
        user = tg.user(9200, started=True)
        async with unit_of_work(sessionmaker) as session:
            mail = Outbox(session, user.id)
            question = await mail.send("第1题")
            await mail.edit_text(question, "第1题：已答")
            await mail.send("第2题")
        await make_sender(bot, sessionmaker, settings).drain(timeout=10)
        assert [m.text for m in tg.messages(user)] == ["第1题：已答", "第2题"]
        assert tg.errors == []


class TestTelegramSaysNo:
    async def test_a_429_is_waited_out_and_the_message_sent_once(
        self, tg: FakeTelegram, bot: Bot, sessionmaker: SessionMaker, settings: Settings
    ) -> None:
        user = tg.user(9300, started=True)
        tg.inject_faults(rate_429=1.0, retry_after=1, seed=1)
        await queue(sessionmaker, user.id, "您好", "第1题")
        sender = make_sender(bot, sessionmaker, settings)
        await sender.pump()  # the first try is answered 429 ...
        while not tg.fault_counts.get("429"):
            await asyncio.sleep(0.01)
        tg.clear_faults()
        await sender.drain(timeout=10)  # ... and the next one waits retry_after
        assert tg.delivered(user) == ["您好", "第1题"]
        assert tg.early_retries == []
        assert tg.duplicates() == []

    async def test_a_call_refused_with_429_gives_its_slot_back(
        self, tg: FakeTelegram, bot: Bot, sessionmaker: SessionMaker, settings: Settings
    ) -> None:
        """Telegram counts the calls it performed: a refused one must not cost the rate."""
        users = [tg.user(9310 + n, started=True) for n in range(BUCKET + 1)]
        for user in users:
            await queue(sessionmaker, user.id, "您好")
        # A slot a minute overall: once the bucket's slots are taken, a call waits minutes.
        sender = make_sender(bot, sessionmaker, settings, send_per_second=1 / 60)
        tg.fail_next("sendMessage", error_code=429, retry_after=1)
        await sender.pump()
        await asyncio.wait(set(sender._tasks), timeout=10)
        assert [c.status for c in tg.calls if c.method == "sendMessage"].count(429) == 1
        # The refused call's slot was free again: every other chat's message went at once.
        assert sum(len(tg.delivered(user)) for user in users) == BUCKET
        assert not sender.overall.has_capacity()  # the performed calls hold theirs

    async def test_slots_give_back_what_a_refused_call_took(self) -> None:
        slots = Slots(1, 60)
        await slots.acquire()
        assert not slots.has_capacity()
        slots.give_back()
        assert slots.has_capacity()
        slots.give_back()  # never below empty: no slot is made out of nothing
        await slots.acquire()
        assert not slots.has_capacity()

    async def test_server_errors_are_retried_then_kept_as_failed(
        self, tg: FakeTelegram, bot: Bot, sessionmaker: SessionMaker, settings: Settings
    ) -> None:
        user, other = tg.user(9400, started=True), tg.user(9401, started=True)
        tg.fail_next("sendMessage", error_code=502, times=2)
        await queue(sessionmaker, user.id, "重试后送达")
        await make_sender(bot, sessionmaker, settings).drain(timeout=10)
        assert tg.delivered(user) == ["重试后送达"]
        (row,) = await rows(sessionmaker)
        assert (row.status, row.attempts) == (OutboxStatus.sent, 3)  # two 502s, then sent

        tg.fail_next("sendMessage", error_code=500, times=3)  # as many as the tries allowed
        await queue(sessionmaker, other.id, "一直失败", "之后的消息")
        await make_sender(bot, sessionmaker, settings).drain(timeout=10)
        failed = [r for r in await rows(sessionmaker) if r.chat_id == other.id]
        assert [(r.status, r.attempts, r.outcome) for r in failed] == [
            (OutboxStatus.failed, 3, "5xx"),
            (OutboxStatus.sent, 1, None),
        ]
        # The failed message is kept; the chat's later message was not held back forever.
        assert tg.delivered(other) == ["之后的消息"]

    async def test_a_blocked_chat_is_marked_unreachable_after_one_403(
        self, tg: FakeTelegram, bot: Bot, sessionmaker: SessionMaker, settings: Settings
    ) -> None:
        blocked, fine = tg.user(9500, started=True), tg.user(9501, started=True)
        tg.block(blocked)
        await queue(sessionmaker, blocked.id, "一", "二", "三")
        await queue(sessionmaker, fine.id, "正常送达")
        sender = make_sender(bot, sessionmaker, settings)
        await sender.drain(timeout=10)
        assert len(tg.calls_to(blocked)) == 1
        assert tg.delivered(fine) == ["正常送达"]
        # Later messages to that chat are not even tried.
        await queue(sessionmaker, blocked.id, "四")
        await sender.drain(timeout=10)
        assert len(tg.calls_to(blocked)) == 1
        async with unit_of_work(sessionmaker) as session:
            assert await session.get(UnreachableChat, blocked.id) is not None
        kept = [r.status for r in await rows(sessionmaker) if r.chat_id == blocked.id]
        assert kept == [OutboxStatus.unreachable] * 4

    async def test_a_too_old_button_answer_is_let_go_and_the_next_question_goes_out(
        self, tg: FakeTelegram, bot: Bot, sessionmaker: SessionMaker, settings: Settings
    ) -> None:
        user = tg.user(9600, started=True)
        tg.fail_next("answerCallbackQuery", error_code=400, description=QUERY_ID_INVALID)
        async with unit_of_work(sessionmaker) as session:
            mail = Outbox(session, user.id)
            await mail.answer("4000000000000000099")
            await mail.send("下一题")
        await make_sender(bot, sessionmaker, settings).drain(timeout=10)
        assert tg.delivered(user) == ["下一题"]
        answers = [c for c in tg.calls if c.method.lower() == "answercallbackquery"]
        assert len(answers) == 1  # answered once, not again
        first, _ = await rows(sessionmaker)
        assert (first.status, first.outcome) == (OutboxStatus.sent, "expired")
