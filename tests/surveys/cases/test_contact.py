"""保密联络 on the web: the citizen's private page, writing back, 复评, and consent kept on
both channels (no relay to a citizen who chose 不需要联系, none to a web citizen's chat)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import jobs
from surveys.accounts.access import Actor, StaffRole
from surveys.accounts.models import Unit
from surveys.cases import contact, queries, relay
from surveys.cases.exceptions import RereratingNotAllowed
from surveys.cases.models import CaseState, FollowUpCase
from surveys.cases.workdays import SHANGHAI
from surveys.core.i18n import Msg
from surveys.core.models import pk
from surveys.delivery.models import OutboxMessage
from surveys.flows import cases as case_flows
from surveys.questionnaire import engine
from tests.surveys.haochaping.test_rating_chat_web import (
    BAD_ANSWERS,
    CONTACT_Q,
    NO,
    YES,
    begin,
    bot_step,
    citizen,
    rate_badly_on_the_web,
    unit,
)

TZ = ZoneInfo("Asia/Shanghai")


def staff_of(spj: Unit) -> Actor:
    return Actor.scoped(name="spj-li", role=StaffRole.staff, unit_ids=[pk(spj)])


async def web_case(session: AsyncSession) -> tuple[Unit, FollowUpCase, str]:
    spj = await unit(session)
    me = await citizen(session, "web", "cookie-1")
    done = await rate_badly_on_the_web(session, me, YES)
    assert done.contact_token is not None
    case = (await session.exec(select(FollowUpCase))).one()
    return spj, case, done.contact_token


FEEDBACK = "已按您的意见补充了办事指南。"


async def to_replied(session: AsyncSession, actor: Actor, case: FollowUpCase) -> None:
    for to in ("核实中", "整改中", "已反馈"):
        note = FEEDBACK if to == "已反馈" else None  # the 反馈 goes to the citizen
        await case_flows.transition(
            session=session, actor=actor, case_id=pk(case), to=to, note=note
        )


class TestContactPage:
    async def test_shows_the_state_deadlines_and_the_units_reply(
        self, session: AsyncSession
    ) -> None:
        spj, case, token = await web_case(session)
        await case_flows.reply(
            session=session, actor=staff_of(spj), case_id=pk(case), text="已联系窗口整改。"
        )

        page = await contact.contact_page(session=session, token=token, tz=TZ)

        assert (page.unit_name, page.subject, page.level) == (
            "市审批服务局",
            "W03",
            "very_dissatisfied",
        )
        assert page.state is CaseState.pending
        assert (page.contact_due, page.rectify_due) == (case.contact_due, case.rectify_due)
        assert [(m.by, m.kind, m.text) for m in page.messages] == [
            ("unit", "reply", "已联系窗口整改。")
        ]
        assert "spj-li" not in repr(page)  # the citizen sees the unit, never the person
        assert (page.can_write, page.can_rerate) == (True, False)

    @pytest.mark.parametrize("token", ["", "x", "not a token!", "A" * 32, "A" * 200])
    async def test_a_wrong_or_forged_link_is_unknown(
        self, session: AsyncSession, token: str
    ) -> None:
        await web_case(session)

        with pytest.raises(contact.UnknownContact):
            await contact.contact_page(session=session, token=token, tz=TZ)


class TestWriteBackAndRerate:
    async def test_the_citizens_message_joins_the_staff_timeline_unnamed(
        self, session: AsyncSession
    ) -> None:
        spj, case, token = await web_case(session)

        notice = await contact.write_back(session=session, token=token, text="请尽快处理")

        assert notice == Msg("relay.sent")
        detail = await queries.case_detail(session, staff_of(spj), pk(case), TZ)
        assert [(e.by, e.note) for e in detail.events if e.kind == "citizen"] == [
            ("citizen", "请尽快处理")
        ]
        assert detail.reached_by == "web"
        assert detail.reference.startswith("市民#")

    async def test_rerating_waits_for_the_reply_then_closes_the_loop(
        self, session: AsyncSession
    ) -> None:
        spj, case, token = await web_case(session)
        with pytest.raises(RereratingNotAllowed):
            await contact.rerate(session=session, token=token, choice=0, tz=SHANGHAI)

        await to_replied(session, staff_of(spj), case)
        assert (await contact.contact_page(session=session, token=token, tz=TZ)).can_rerate
        notice = await contact.rerate(session=session, token=token, choice=0, tz=SHANGHAI)

        assert notice == Msg("relay.rerated", {"choice": "满意"})
        page = await contact.contact_page(session=session, token=token, tz=TZ)
        assert (page.state, page.rerating, page.can_rerate) == (
            CaseState.rerated,
            "satisfied",
            False,
        )


class TestRelay:
    async def test_a_web_citizens_replies_never_go_to_the_bot(self, session: AsyncSession) -> None:
        spj, case, _ = await web_case(session)
        await case_flows.reply(session=session, actor=staff_of(spj), case_id=pk(case), text="好")

        assert await relay.outgoing_replies(session=session, channel="telegram") == []
        assert await jobs.queue_replies(session) == 0
        assert (await session.exec(select(OutboxMessage))).all() == []
        detail = await queries.case_detail(session, staff_of(spj), pk(case), TZ)
        assert detail.undeliverable is False

    async def test_a_bot_citizen_who_declined_contact_is_sent_nothing(
        self, session: AsyncSession
    ) -> None:
        spj = await unit(session)
        for chat_id, consent in ((61, YES), (62, NO)):
            me = await citizen(session, "telegram", chat_id)
            await begin(session, me, chat_id)
            for given in BAD_ANSWERS:
                await bot_step(session, me, given)
            await bot_step(session, me, engine.Pick(CONTACT_Q, consent))
        cases = (await session.exec(select(FollowUpCase))).all()
        for case in cases:
            await case_flows.reply(
                session=session, actor=staff_of(spj), case_id=pk(case), text="您好"
            )

        outgoing = await relay.outgoing_replies(session=session, channel="telegram")
        queued = await jobs.queue_replies(session)  # the bot's relay job

        assert [item.chat_id for item in outgoing] == [61]
        assert queued == 1
        sent = (await session.exec(select(OutboxMessage))).all()
        assert [(m.chat_id, m.purpose) for m in sent] == [(61, "relay")]

    async def test_a_stale_button_of_a_declined_case_is_refused(
        self, session: AsyncSession
    ) -> None:
        await unit(session)
        me = await citizen(session, "telegram", 63)
        await begin(session, me, 63)
        for given in BAD_ANSWERS:
            await bot_step(session, me, given)
        await bot_step(session, me, engine.Pick(CONTACT_Q, NO))
        case = (await session.exec(select(FollowUpCase))).one()

        with pytest.raises(relay.ContactDeclined):
            await relay.answer_unit(session=session, respondent=me, case_id=pk(case), text="hi")
        with pytest.raises(relay.ContactDeclined):
            await relay.rerate(
                session=session, respondent=me, case_id=pk(case), choice=0, tz=SHANGHAI
            )
