"""The update's outbox keeps its calls in memory and writes them in one statement: in the
order they were queued, with edits naming the rows of messages queued in the same update."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from bot.outbox import Outbox, Ref
from surveys.core.db import SessionMaker, unit_of_work
from surveys.delivery.models import OutboxMessage


async def rows(sessionmaker: SessionMaker) -> list[OutboxMessage]:
    async with unit_of_work(sessionmaker) as session:
        found = await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))
        return list(found.all())


class TestBufferedOutbox:
    async def test_calls_are_written_in_the_order_queued(self, sessionmaker: SessionMaker) -> None:
        async with unit_of_work(sessionmaker) as session:
            mail = Outbox(session, 41, buffered=True)
            await mail.answer("q-1")
            await mail.edit_text(7, "答了")
            first = await mail.send("第 2 题")
            await mail.send("通知", chat_id=42)
            assert not first.written  # nothing written before the flush
            await mail.flush()
            assert first.written
        stored = await rows(sessionmaker)
        assert [(r.chat_id, r.method) for r in stored] == [
            (41, "answerCallbackQuery"),
            (41, "editMessageText"),
            (41, "sendMessage"),
            (42, "sendMessage"),
        ]
        assert stored[2].id == first.outbox_id
        assert stored[2].payload == {"text": "第 2 题"}

    async def test_an_edit_of_a_message_queued_in_the_same_update_names_its_row(
        self, sessionmaker: SessionMaker
    ) -> None:
        async with unit_of_work(sessionmaker) as session:
            mail = Outbox(session, 51, buffered=True)
            await mail.answer("q-2")
            question = await mail.send("第 1 题")
            await mail.edit_markup(question)  # flushes what came before it
            await mail.send("第 2 题")
            await mail.flush()
        stored = await rows(sessionmaker)
        assert [r.method for r in stored] == [
            "answerCallbackQuery",
            "sendMessage",
            "editMessageReplyMarkup",
            "sendMessage",
        ]
        assert stored[2].ref_id == stored[1].id == question.outbox_id
        ids = [r.id or 0 for r in stored]
        assert ids == sorted(ids)

    async def test_nothing_is_written_when_the_update_fails(
        self, sessionmaker: SessionMaker
    ) -> None:
        async def failing_update() -> None:
            async with unit_of_work(sessionmaker) as session:
                mail = Outbox(session, 61, buffered=True)
                await mail.send("第 1 题")
                await mail.flush()
                raise RuntimeError("the handler failed")

        with pytest.raises(RuntimeError):
            await failing_update()
        assert await rows(sessionmaker) == []

    async def test_a_ref_not_yet_written_has_no_id(self) -> None:
        with pytest.raises(RuntimeError):
            _ = Ref().outbox_id
        assert Ref(3) == Ref(3)
        assert Ref() != Ref()
