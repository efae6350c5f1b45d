"""The durable outbox on a real database: per-chat order, leases, what settling each answer
does, blocked chats, erasure, pruning, the gauges, and the respondent functions that touch it.

Times are given, never read from the clock: ``NOW`` is when the sender claims, later claims
name their own time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.delivery import outbox
from surveys.delivery.models import OutboxMessage, OutboxStatus, UnreachableChat
from surveys.delivery.outbox import Claimed, Result
from surveys.questionnaire import respondents
from surveys.questionnaire.models import InboundEvent, Respondent

NOW = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)
A, B, C = 1001, 1002, 9_000_000_003  # chat ids (C beyond 32 bits)


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


async def put(
    session: AsyncSession,
    chat_id: int,
    text: str = "你好",
    *,
    now: datetime = NOW,
    method: str = "sendMessage",
    ref_id: int | None = None,
    case_id: int | None = None,
    purpose: str = "reply",
) -> int:
    return await outbox.enqueue(
        session,
        chat_id=chat_id,
        method=method,
        payload={"text": text},
        purpose=purpose,
        ref_id=ref_id,
        case_id=case_id,
        now=now,
    )


async def take(
    session: AsyncSession,
    *,
    now: datetime = NOW,
    limit: int = 100,
    skip: frozenset[int] = frozenset(),
) -> list[Claimed]:
    return await outbox.claim(session, now=now, limit=limit, lease=LEASE, skip_chats=skip)


async def ids(
    session: AsyncSession,
    *,
    now: datetime = NOW,
    limit: int = 100,
    skip: frozenset[int] = frozenset(),
) -> list[int]:
    return sorted(c.id for c in await take(session, now=now, limit=limit, skip=skip))


async def settle(
    session: AsyncSession,
    message_id: int,
    result: Result,
    *,
    now: datetime = NOW,
    outcome: str | None = None,
    sent_message_id: int | None = None,
    not_before: datetime | None = None,
    count_attempt: bool = True,
    forget: bool = False,
) -> None:
    await outbox.settle(
        session,
        message_id=message_id,
        result=result,
        now=now,
        outcome=outcome,
        sent_message_id=sent_message_id,
        not_before=not_before,
        count_attempt=count_attempt,
        forget=forget,
    )


async def row(session: AsyncSession, message_id: int) -> OutboxMessage | None:
    """The row as stored now (not as this session last saw it)."""
    found = await session.exec(
        select(OutboxMessage)
        .where(col(OutboxMessage.id) == message_id)
        .execution_options(populate_existing=True)
    )
    return found.first()


async def stored(session: AsyncSession, message_id: int) -> OutboxMessage:
    found = await row(session, message_id)
    assert found is not None, f"outbox row {message_id} is gone"
    return found


async def statuses(session: AsyncSession, *message_ids: int) -> list[str]:
    return [OutboxStatus((await stored(session, i)).status).value for i in message_ids]


async def unreachable_chats(session: AsyncSession) -> set[int]:
    return set((await session.exec(select(UnreachableChat.chat_id))).all())


async def chats_in_outbox(session: AsyncSession) -> set[int]:
    return set((await session.exec(select(OutboxMessage.chat_id))).all())


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands back UTC without its zone."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class TestClaimOrder:
    async def test_only_the_oldest_open_message_of_each_chat_is_taken(
        self, session: AsyncSession
    ) -> None:
        a1 = await put(session, A, "一")
        a2 = await put(session, A, "二")
        b1 = await put(session, B, "三")

        claimed = await take(session)

        assert sorted(c.id for c in claimed) == sorted([a1, b1])
        first = next(c for c in claimed if c.id == a1)
        assert (first.chat_id, first.method, first.payload, first.purpose) == (
            A,
            "sendMessage",
            {"text": "一"},
            "reply",
        )
        assert (first.ref_id, first.target_message_id, first.attempts) == (None, None, 0)
        assert await statuses(session, a1, a2, b1) == ["sending", "pending", "sending"]

    async def test_a_chats_next_message_waits_while_the_one_before_is_being_sent(
        self, session: AsyncSession
    ) -> None:
        a1 = await put(session, A)
        a2 = await put(session, A)
        b1 = await put(session, B)
        assert await ids(session) == sorted([a1, b1])

        assert await ids(session, now=at(1)) == []  # both heads still claimed
        await settle(session, b1, Result.sent, sent_message_id=1)
        b2 = await put(session, B, now=at(1))
        assert await ids(session, now=at(2)) == [b2]  # B goes on, A still waits for a1

        await settle(session, a1, Result.sent, now=at(2), sent_message_id=2)
        assert await ids(session, now=at(3)) == [a2]

    async def test_a_message_not_due_yet_holds_back_the_rest_of_its_chat(
        self, session: AsyncSession
    ) -> None:
        a1 = await put(session, A, now=at(20))  # due in 20 seconds
        a2 = await put(session, A)  # due now, but after a1
        b1 = await put(session, B)

        assert await ids(session) == [b1]
        assert await ids(session, now=at(19)) == []
        assert await ids(session, now=at(20)) == [a1]
        await settle(session, a1, Result.sent, now=at(20), sent_message_id=5)
        assert await ids(session, now=at(21)) == [a2]

    async def test_a_retry_waiting_for_not_before_holds_back_its_chat_only(
        self, session: AsyncSession
    ) -> None:
        a1 = await put(session, A)
        a2 = await put(session, A)
        b1 = await put(session, B)
        await take(session)
        await settle(session, a1, Result.later, outcome="429", not_before=at(30))
        await settle(session, b1, Result.sent, sent_message_id=1)
        b2 = await put(session, B, now=at(1))

        assert await ids(session, now=at(10)) == [b2]
        retried = await take(session, now=at(30))
        assert [(c.id, c.attempts) for c in retried] == [(a1, 1)]
        await settle(session, a1, Result.sent, now=at(31), sent_message_id=2)
        assert await ids(session, now=at(32)) == [a2]

    async def test_skip_chats_leaves_those_chats_waiting(self, session: AsyncSession) -> None:
        a1 = await put(session, A)
        b1 = await put(session, B)
        c1 = await put(session, C)

        assert await ids(session, skip=frozenset({A, C})) == [b1]
        assert await statuses(session, a1, c1) == ["pending", "pending"]
        assert await ids(session, now=at(1)) == sorted([a1, c1])

    async def test_limit_takes_the_earliest_due_first(self, session: AsyncSession) -> None:
        c1 = await put(session, C, now=NOW - timedelta(seconds=3))
        a1 = await put(session, A, now=NOW - timedelta(seconds=2))
        b1 = await put(session, B, now=NOW - timedelta(seconds=1))

        first = await take(session, limit=2)
        second = await take(session, limit=2)

        assert [c.id for c in first] == [c1, a1]
        assert [c.id for c in second] == [b1]
        assert await take(session, limit=2) == []

    async def test_nothing_to_take(self, session: AsyncSession) -> None:
        assert await take(session) == []
        assert await outbox.next_due(session) is None


class TestLookThenTake:
    """The sender looks in a read transaction (:func:`outbox.due`) and takes what it found in
    a write transaction (:func:`outbox.take`); what changed in between is left."""

    async def test_due_claims_nothing_and_take_claims_what_it_found(
        self, session: AsyncSession
    ) -> None:
        a1, a2, b1 = await put(session, A), await put(session, A), await put(session, B)
        found = await outbox.due(session, now=NOW, limit=100, per_chat=5)
        assert await statuses(session, a1, a2, b1) == ["pending"] * 3

        taken = await outbox.take(session, found, now=NOW, lease=LEASE)

        assert [c.id for c in taken] == [c.id for c in found]
        assert sorted(c.id for c in taken) == [a1, a2, b1]
        assert await statuses(session, a1, a2, b1) == ["sending"] * 3
        assert await outbox.take(session, found, now=NOW, lease=LEASE) == []  # taken once

    async def test_a_message_gone_in_between_leaves_the_rest_of_its_chat_pending(
        self, session: AsyncSession
    ) -> None:
        a1, a2, a3 = [await put(session, A) for _ in range(3)]
        b1 = await put(session, B)
        found = await outbox.due(session, now=NOW, limit=100, per_chat=5)
        await settle(session, a2, Result.sent, sent_message_id=7)  # settled meanwhile

        taken = await outbox.take(session, found, now=NOW, lease=LEASE)

        assert sorted(c.id for c in taken) == [a1, b1]
        # a3 comes after a message that was not taken: it waits for the next look.
        assert await statuses(session, a1, a2, a3, b1) == ["sending", "sent", "pending", "sending"]

    async def test_settle_many_records_like_settle_one_by_one(self, session: AsyncSession) -> None:
        a1, b1, c1 = await put(session, A), await put(session, B), await put(session, C)
        await take(session)

        await outbox.settle_many(
            session,
            [
                outbox.Try(a1, Result.sent, now=at(2), sent_message_id=11),
                outbox.Try(b1, Result.moot, now=at(2), outcome="expired"),
                outbox.Try(c1, Result.later, now=at(2), outcome="5xx", not_before=at(9)),
            ],
        )

        sent, moot, later = [await stored(session, x) for x in (a1, b1, c1)]
        assert (sent.status, sent.message_id, sent.attempts) == (OutboxStatus.sent, 11, 1)
        assert aware(sent.sent_at) == at(2)
        assert (moot.status, moot.outcome, moot.message_id) == (OutboxStatus.sent, "expired", None)
        assert (later.status, later.attempts, later.outcome) == (OutboxStatus.pending, 1, "5xx")
        assert aware(later.not_before) == at(9)
        assert {sent.lease_until, moot.lease_until, later.lease_until} == {None}


class TestLeases:
    async def test_a_claim_whose_lease_lapsed_is_taken_again(self, session: AsyncSession) -> None:
        """The sender died between sending and recording: the message goes once more."""
        a1 = await put(session, A)
        a2 = await put(session, A)
        assert await ids(session) == [a1]

        assert await ids(session, now=NOW + LEASE - timedelta(seconds=1)) == []
        again = await take(session, now=NOW + LEASE + timedelta(seconds=1))

        assert [c.id for c in again] == [a1]
        assert await statuses(session, a1, a2) == ["sending", "pending"]
        # Taken again, its lease runs from the new claim.
        assert await ids(session, now=NOW + 2 * LEASE) == []

    async def test_release_claims_puts_claimed_messages_back(self, session: AsyncSession) -> None:
        a1 = await put(session, A)
        b1 = await put(session, B)
        c1 = await put(session, C)
        await take(session, skip=frozenset({C}))
        await settle(session, b1, Result.sent, sent_message_id=3)

        released = await outbox.release_claims(session)

        assert released == 1  # a1 only: b1 was settled, c1 never claimed
        assert await statuses(session, a1, b1, c1) == ["pending", "sent", "pending"]
        assert (await stored(session, a1)).lease_until is None
        assert await ids(session) == sorted([a1, c1])  # no need to wait for the lease

    async def test_release_claims_with_nothing_claimed(self, session: AsyncSession) -> None:
        await put(session, A)
        assert await outbox.release_claims(session) == 0


class TestSettle:
    async def test_sent_stores_the_message_id_and_the_time(self, session: AsyncSession) -> None:
        a1 = await put(session, A)
        await take(session)

        await settle(session, a1, Result.sent, now=at(2), sent_message_id=4242)

        message = await stored(session, a1)
        assert message.status == OutboxStatus.sent
        assert message.message_id == 4242
        assert aware(message.sent_at) == at(2)
        assert message.attempts == 1
        assert message.lease_until is None

    async def test_moot_counts_as_done_without_a_message(self, session: AsyncSession) -> None:
        a1 = await put(session, A, method="answerCallbackQuery")
        a2 = await put(session, A)
        await take(session)

        await settle(session, a1, Result.moot, outcome="query too old")

        message = await stored(session, a1)
        assert (message.status, message.message_id, message.outcome) == (
            OutboxStatus.sent,
            None,
            "query too old",
        )
        assert await ids(session, now=at(1)) == [a2]

    async def test_an_edit_gets_the_message_id_of_the_message_it_changes(
        self, session: AsyncSession
    ) -> None:
        sent = await put(session, A, "问题")
        edit = await put(session, A, "问题（已答）", method="editMessageText", ref_id=sent)
        first = await take(session)
        assert [(c.id, c.target_message_id) for c in first] == [(sent, None)]

        await settle(session, sent, Result.sent, sent_message_id=777)
        (claimed,) = await take(session, now=at(1))

        assert (claimed.id, claimed.ref_id, claimed.target_message_id) == (edit, sent, 777)
        assert claimed.method == "editMessageText"

    async def test_an_edit_of_a_message_that_failed_has_no_target(
        self, session: AsyncSession
    ) -> None:
        sent = await put(session, A)
        edit = await put(session, A, method="editMessageText", ref_id=sent)
        await take(session)

        await settle(session, sent, Result.failed, outcome="400")
        (claimed,) = await take(session, now=at(1))

        assert (claimed.id, claimed.target_message_id) == (edit, None)

    async def test_later_waits_until_not_before_and_counts_the_try(
        self, session: AsyncSession
    ) -> None:
        a1 = await put(session, A)
        await take(session)

        await settle(session, a1, Result.later, outcome="5xx", not_before=at(20))

        message = await stored(session, a1)
        assert (message.status, message.attempts, message.outcome) == (
            OutboxStatus.pending,
            1,
            "5xx",
        )
        assert aware(message.not_before) == at(20)
        assert await outbox.next_due(session) == at(20)
        assert await ids(session, now=at(19)) == []
        assert await ids(session, now=at(20)) == [a1]

    async def test_later_without_counting_the_attempt(self, session: AsyncSession) -> None:
        """A 429 is Telegram's pace, not the message's fault: the tries stay as they were."""
        a1 = await put(session, A)
        await take(session)
        await settle(session, a1, Result.later, not_before=at(5))
        await take(session, now=at(5))

        await settle(session, a1, Result.later, now=at(5), not_before=at(9), count_attempt=False)

        message = await stored(session, a1)
        assert (message.status, message.attempts) == (OutboxStatus.pending, 1)
        (again,) = await take(session, now=at(9))
        assert again.attempts == 1

    async def test_later_without_not_before_is_due_at_once(self, session: AsyncSession) -> None:
        a1 = await put(session, A)
        await take(session)
        await settle(session, a1, Result.later, now=at(3))
        assert await ids(session, now=at(3)) == [a1]

    async def test_failed_is_kept_and_lets_the_chat_go_on(self, session: AsyncSession) -> None:
        a1 = await put(session, A)
        a2 = await put(session, A)
        await take(session)

        await settle(session, a1, Result.failed, outcome="400")

        message = await stored(session, a1)
        assert (message.status, message.outcome, message.attempts) == (
            OutboxStatus.failed,
            "400",
            1,
        )
        assert await ids(session, now=at(1)) == [a2]
        await outbox.prune(session, now=NOW + timedelta(days=30))
        assert await row(session, a1) is not None

    async def test_forget_deletes_the_message_once_done(self, session: AsyncSession) -> None:
        a1 = await put(session, A, purpose=outbox.ERASURE)
        a2 = await put(session, A, purpose=outbox.ERASURE)
        await take(session)
        await settle(session, a1, Result.sent, sent_message_id=1, forget=True)
        await take(session, now=at(1))
        await settle(session, a2, Result.moot, now=at(1), forget=True)

        assert await row(session, a1) is None
        assert await row(session, a2) is None

    async def test_forget_keeps_a_message_still_to_be_retried(self, session: AsyncSession) -> None:
        a1 = await put(session, A, purpose=outbox.ERASURE)
        await take(session)

        await settle(session, a1, Result.later, not_before=at(5), forget=True)

        assert await statuses(session, a1) == ["pending"]


class TestUnreachable:
    async def test_a_blocked_chat_is_marked_with_all_its_open_messages(
        self, session: AsyncSession
    ) -> None:
        earlier = await put(session, A, now=NOW - timedelta(minutes=1))
        await take(session, now=NOW - timedelta(minutes=1))
        await settle(session, earlier, Result.sent, now=NOW - timedelta(minutes=1))
        a1 = await put(session, A)
        a2 = await put(session, A)
        a3 = await put(session, A, now=at(60))
        b1 = await put(session, B)
        await take(session)

        await settle(session, a1, Result.unreachable, outcome="403")

        assert await unreachable_chats(session) == {A}
        assert await statuses(session, earlier, a1, a2, a3, b1) == [
            "sent",
            "unreachable",
            "unreachable",
            "unreachable",
            "sending",
        ]
        assert (await stored(session, a2)).outcome == "403"
        assert await ids(session, now=at(120), skip=frozenset({B})) == []

    async def test_messages_queued_later_are_settled_unsent_at_the_next_claim(
        self, session: AsyncSession
    ) -> None:
        a1 = await put(session, A)
        await take(session)
        await settle(session, a1, Result.unreachable, outcome="403")
        a2 = await put(session, A, now=at(1))
        b1 = await put(session, B, now=at(1))

        assert await ids(session, now=at(2)) == [b1]
        assert await statuses(session, a2) == ["unreachable"]
        assert (await stored(session, a2)).outcome == "403"

    async def test_reachable_again_lets_new_messages_through(self, session: AsyncSession) -> None:
        a1 = await put(session, A)
        await take(session)
        await settle(session, a1, Result.unreachable, outcome="403")

        await outbox.reachable_again(session, chat_id=A)
        a2 = await put(session, A, now=at(1))

        assert await unreachable_chats(session) == set()
        assert await ids(session, now=at(2)) == [a2]
        assert await statuses(session, a1) == ["unreachable"]  # the old one stays given up

    async def test_blocked_twice_keeps_one_mark(self, session: AsyncSession) -> None:
        a1 = await put(session, A)
        await take(session)
        await settle(session, a1, Result.unreachable, outcome="403")
        await outbox.reachable_again(session, chat_id=A)
        a2 = await put(session, A, now=at(1))
        await take(session, now=at(1))
        await settle(session, a2, Result.unreachable, now=at(1), outcome="403")

        assert await unreachable_chats(session) == {A}


class TestErasureAndPruning:
    async def test_forget_chat_deletes_everything_to_that_chat(
        self, session: AsyncSession
    ) -> None:
        a1 = await put(session, A)
        a2 = await put(session, A)
        await put(session, A)
        b1 = await put(session, B)
        await take(session)
        await settle(session, a1, Result.sent, sent_message_id=1)
        await take(session, now=at(1))
        await settle(session, a2, Result.unreachable, now=at(1), outcome="403")

        await outbox.forget_chat(session, chat_id=A)

        assert await chats_in_outbox(session) == {B}
        assert await unreachable_chats(session) == set()
        assert await row(session, b1) is not None

    async def test_prune_deletes_only_sent_messages_older_than_a_week(
        self, session: AsyncSession
    ) -> None:
        old, recent = NOW - timedelta(days=7, minutes=1), NOW - timedelta(days=6, hours=23)
        old_sent = await put(session, A, now=old)
        old_failed = await put(session, B, now=old)
        old_blocked = await put(session, C, now=old)
        await take(session, now=old)
        await settle(session, old_sent, Result.sent, now=old, sent_message_id=1)
        await settle(session, old_failed, Result.failed, now=old, outcome="400")
        await settle(session, old_blocked, Result.unreachable, now=old, outcome="403")
        old_waiting = await put(session, A, now=old, method="editMessageText")
        await take(session, now=old)
        await settle(session, old_waiting, Result.later, now=old, not_before=NOW + LEASE)
        recent_sent = await put(session, B, now=recent)
        await take(session, now=recent)
        await settle(session, recent_sent, Result.sent, now=recent, sent_message_id=2)

        pruned = await outbox.prune(session, now=NOW)

        assert pruned == 1
        assert await row(session, old_sent) is None
        for kept in (old_failed, old_blocked, old_waiting, recent_sent):
            assert await row(session, kept) is not None


class TestGauges:
    async def test_an_empty_outbox(self, session: AsyncSession) -> None:
        assert await outbox.depth(session, now=NOW) == outbox.Depth(0, 0.0, 0, 0)

    async def test_depth_counts_waiting_failed_and_unreachable(
        self, session: AsyncSession
    ) -> None:
        ancient_sent = await put(session, C, now=NOW - timedelta(hours=5))
        await take(session, now=NOW - timedelta(hours=5))
        await settle(session, ancient_sent, Result.sent, now=NOW - timedelta(hours=5))
        a1 = await put(session, A, now=NOW - timedelta(seconds=90))  # will be sending
        await put(session, A, now=NOW - timedelta(seconds=10))  # pending behind it
        b1 = await put(session, B, now=NOW - timedelta(seconds=50))
        c2 = await put(session, C, now=NOW - timedelta(seconds=40))
        await take(session, now=NOW - timedelta(seconds=5))
        await settle(session, b1, Result.failed, outcome="400")
        await settle(session, c2, Result.unreachable, outcome="403")
        await put(session, B, now=NOW - timedelta(seconds=30))
        assert await statuses(session, a1) == ["sending"]

        depth = await outbox.depth(session, now=NOW)

        assert (depth.waiting, depth.failed, depth.unreachable) == (3, 1, 1)
        assert depth.oldest_age_seconds == 90.0  # a1, claimed but not sent yet

    async def test_next_due_is_the_earliest_waiting_message(self, session: AsyncSession) -> None:
        await put(session, A, now=at(50))
        await put(session, B, now=at(20))
        sending = await put(session, C, now=at(-10))
        await take(session, now=at(-10))
        assert await statuses(session, sending) == ["sending"]

        assert await outbox.next_due(session) == at(20)

    async def test_undeliverable_cases(self, session: AsyncSession) -> None:
        failed = await put(session, A, case_id=1, purpose="relay")
        blocked = await put(session, B, case_id=2, purpose="relay")
        delivered = await put(session, C, case_id=3, purpose="relay")
        await put(session, A, case_id=4, purpose="relay")  # still waiting
        await take(session)
        await settle(session, failed, Result.failed, outcome="400")
        await settle(session, blocked, Result.unreachable, outcome="403")
        await settle(session, delivered, Result.sent, sent_message_id=1)

        found = await outbox.undeliverable_cases(session, case_ids=[1, 2, 3, 4, 5])

        assert found == {1, 2}
        assert await outbox.undeliverable_cases(session, case_ids=[3]) == set()
        assert await outbox.undeliverable_cases(session, case_ids=[]) == set()


class TestRespondents:
    async def _person(self, session: AsyncSession, chat_id: int) -> Respondent:
        respondent = await respondents.get_or_create_respondent(
            session=session, secret=b"s", channel="telegram", external_id=chat_id
        )
        await respondents.remember_contact(
            session=session,
            respondent=respondent,
            channel="telegram",
            chat_id=chat_id,
            language_code="zh-hans",
        )
        return respondent

    async def test_forget_respondent_removes_the_chats_queued_messages(
        self, session: AsyncSession
    ) -> None:
        person = await self._person(session, A)
        await self._person(session, B)
        a1 = await put(session, A)
        await put(session, A)
        await put(session, B)
        await take(session)
        await settle(session, a1, Result.sent, sent_message_id=1)

        await respondents.forget_respondent(session=session, respondent=person)

        assert await chats_in_outbox(session) == {B}

    async def test_remember_contact_clears_the_unreachable_mark(
        self, session: AsyncSession
    ) -> None:
        await self._person(session, A)
        a1 = await put(session, A)
        await take(session)
        await settle(session, a1, Result.unreachable, outcome="403")
        assert await unreachable_chats(session) == {A}

        await self._person(session, A)  # the citizen writes again
        a2 = await put(session, A, now=at(1))

        assert await unreachable_chats(session) == set()
        assert await ids(session, now=at(2)) == [a2]

    async def test_prune_events_keeps_a_week(self, session: AsyncSession) -> None:
        session.add(InboundEvent(key="old", received_at=NOW - timedelta(days=7, seconds=1)))
        session.add(InboundEvent(key="recent", received_at=NOW - timedelta(days=6)))
        await session.flush()

        pruned = await respondents.prune_events(session=session, now=NOW)

        assert pruned == 1
        left = (await session.exec(select(InboundEvent.key))).all()
        assert list(left) == ["recent"]
        assert await respondents.claim_event(session=session, key="old") is True
        assert await respondents.claim_event(session=session, key="recent") is False
