"""Respondents are keyed hashes; inbound events are claimed once per committed key."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlmodel import col, func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.core.db import SessionMaker, unit_of_work
from surveys.questionnaire import respondents
from surveys.questionnaire.models import Identity, InboundEvent, Respondent

SECRET = b"test-secret"
USER_ID = 987654321


class TestPseudonym:
    def test_is_stable(self) -> None:
        assert respondents.pseudonym(SECRET, "telegram", USER_ID) == respondents.pseudonym(
            SECRET, "telegram", USER_ID
        )

    def test_int_and_str_ids_are_the_same_person(self) -> None:
        assert respondents.pseudonym(SECRET, "telegram", USER_ID) == respondents.pseudonym(
            SECRET, "telegram", str(USER_ID)
        )

    def test_differs_by_secret(self) -> None:
        assert respondents.pseudonym(SECRET, "telegram", USER_ID) != respondents.pseudonym(
            b"other-secret", "telegram", USER_ID
        )

    def test_differs_by_channel(self) -> None:
        assert respondents.pseudonym(SECRET, "telegram", USER_ID) != respondents.pseudonym(
            SECRET, "web", USER_ID
        )

    def test_differs_by_id(self) -> None:
        assert respondents.pseudonym(SECRET, "telegram", USER_ID) != respondents.pseudonym(
            SECRET, "telegram", USER_ID + 1
        )

    def test_is_64_hex_characters_without_the_id(self) -> None:
        name = respondents.pseudonym(SECRET, "telegram", USER_ID)

        assert re.fullmatch(r"[0-9a-f]{64}", name)
        assert str(USER_ID) not in name


class TestGetOrCreateRespondent:
    async def test_creates_on_first_contact(self, session: AsyncSession) -> None:
        respondent = await respondents.get_or_create_respondent(
            session=session, secret=SECRET, channel="telegram", external_id=USER_ID
        )

        assert respondent.id is not None
        assert respondent.pseudonym == respondents.pseudonym(SECRET, "telegram", USER_ID)

    async def test_is_idempotent_across_transactions(self, sessionmaker: SessionMaker) -> None:
        async with unit_of_work(sessionmaker) as session:
            first = await respondents.get_or_create_respondent(
                session=session, secret=SECRET, channel="telegram", external_id=USER_ID
            )
        async with unit_of_work(sessionmaker) as session:
            again = await respondents.get_or_create_respondent(
                session=session, secret=SECRET, channel="telegram", external_id=USER_ID
            )
            rows = (await session.exec(select(func.count()).select_from(Respondent))).one()

        assert again.id == first.id
        assert rows == 1

    async def test_another_person_gets_another_row(self, session: AsyncSession) -> None:
        first = await respondents.get_or_create_respondent(
            session=session, secret=SECRET, channel="telegram", external_id=USER_ID
        )
        other = await respondents.get_or_create_respondent(
            session=session, secret=SECRET, channel="telegram", external_id=USER_ID + 1
        )

        assert other.id != first.id


class TestClaimEvent:
    async def test_true_then_false_across_committed_transactions(
        self, sessionmaker: SessionMaker
    ) -> None:
        async with unit_of_work(sessionmaker) as session:
            first = await respondents.claim_event(session=session, key="tg:1:100")
        async with unit_of_work(sessionmaker) as session:
            again = await respondents.claim_event(session=session, key="tg:1:100")

        assert (first, again) == (True, False)

    async def test_different_keys_are_separate(self, session: AsyncSession) -> None:
        first = await respondents.claim_event(session=session, key="tg:1:100")
        second = await respondents.claim_event(session=session, key="tg:1:101")

        assert (first, second) == (True, True)

    async def test_a_rolled_back_claim_can_be_claimed_again(
        self, sessionmaker: SessionMaker
    ) -> None:
        async with sessionmaker() as session:
            assert await respondents.claim_event(session=session, key="tg:1:100") is True
            await session.rollback()

        async with unit_of_work(sessionmaker) as session:
            again = await respondents.claim_event(session=session, key="tg:1:100")
            rows = (await session.exec(select(InboundEvent.key))).all()

        assert again is True
        assert rows == ["tg:1:100"]


async def _contact(session: AsyncSession, external_id: int) -> Respondent:
    respondent = await respondents.get_or_create_respondent(
        session=session, secret=b"k", channel="telegram", external_id=external_id
    )
    await respondents.remember_contact(
        session=session,
        respondent=respondent,
        channel="telegram",
        chat_id=external_id,
        language_code="zh-hans",
    )
    return respondent


class TestRememberContact:
    async def test_one_row_per_respondent_refreshed_on_each_contact(
        self, session: AsyncSession
    ) -> None:
        respondent_id = (await _contact(session, 7)).id
        first = (await session.exec(select(Identity))).one()
        seen = first.last_seen_at
        await _contact(session, 7)
        session.expire_all()
        rows = (await session.exec(select(Identity))).all()
        assert [(r.respondent_id, r.chat_id) for r in rows] == [(respondent_id, 7)]
        assert rows[0].last_seen_at >= seen


class TestPurgeStaleIdentities:
    async def test_deletes_only_contacts_unused_for_the_retention(
        self, session: AsyncSession
    ) -> None:
        old = await _contact(session, 1)
        await _contact(session, 2)
        await session.exec(
            update(Identity)
            .where(col(Identity.respondent_id) == old.id)
            .values(last_seen_at=datetime(2020, 1, 1, tzinfo=UTC))
        )
        now = datetime(2026, 11, 23, tzinfo=UTC)
        deleted = await respondents.purge_stale_identities(session=session, now=now, days=730)
        assert deleted == 1
        assert [i.chat_id for i in (await session.exec(select(Identity))).all()] == [2]
        # The pseudonymous respondent stays, so its answers stay in the statistics.
        assert await session.get(Respondent, old.id) is not None
