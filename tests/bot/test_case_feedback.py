"""The 反馈 reaches the citizen in one message with the 复评 question, through the outbox;
pressing a 复评 button records it. A citizen who erases their contact (/forget) closes the
loop of a case awaiting their 复评: 已关闭（无法联系）."""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import select

from bot import jobs
from surveys.accounts.access import Actor, StaffRole
from surveys.accounts.models import Unit, UnitKind
from surveys.cases import service as cases
from surveys.cases.models import CaseEvent, CaseState, FollowUpCase
from surveys.cases.workdays import DeadlinePolicy, WorkCalendar
from surveys.core.db import SessionMaker, unit_of_work
from surveys.core.i18n import Translator
from surveys.core.models import pk, utcnow
from surveys.core.settings import Settings
from surveys.flows import cases as case_flows
from surveys.haochaping.models import Rating, RatingSource
from surveys.questionnaire import respondents
from tests.bot.recording import Citizen, buttons, labels

t = Translator()
UNIT_NAME = "反馈测试局"
FEEDBACK = "已在窗口公示材料清单，并培训了窗口人员。"
ADMIN = Actor.scoped(name="root", role=StaffRole.admin, unit_ids=[])


async def case_in_rectifying(sessionmaker: SessionMaker, settings: Settings, chat: int) -> int:
    """A 差评 of a Telegram citizen who agreed to be contacted, its case at 整改中."""
    async with unit_of_work(sessionmaker) as session:
        unit = Unit(code=f"fb{chat}", name=UNIT_NAME, kind=UnitKind.department)
        session.add(unit)
        who = await respondents.get_or_create_respondent(
            session=session,
            secret=settings.secret_key_bytes(),
            channel="telegram",
            external_id=chat,
        )
        await respondents.remember_contact(
            session=session, respondent=who, channel="telegram", chat_id=chat, language_code=None
        )
        await session.flush()
        rating = Rating(
            source=RatingSource.bot,
            source_id=f"fb{chat}",
            unit_id=pk(unit),
            channel=2,
            respondent_id=pk(who),
            level="dissatisfied",
            period="2026H2",
            rated_at=utcnow(),
            contact_ok=True,
        )
        session.add(rating)
        await session.flush()
        case = await cases.open_case(
            session=session, rating=rating, calendar=WorkCalendar(), policy=DeadlinePolicy()
        )
        assert case is not None
        case.state = CaseState.rectifying
        return pk(case)


async def feed_back(sessionmaker: SessionMaker, case_id: int, me: Citizen) -> None:
    """Staff move the case to 已反馈 with its 反馈; the jobs queue it, the sender sends it."""
    async with unit_of_work(sessionmaker) as session:
        await case_flows.transition(
            session=session, actor=ADMIN, case_id=case_id, to="已反馈", note=FEEDBACK
        )
    async with unit_of_work(sessionmaker) as session:
        await jobs.queue_replies(session)
    await me.sender.drain()


async def load(sessionmaker: SessionMaker, case_id: int) -> FollowUpCase:
    async with sessionmaker() as session:
        return await session.get_one(FollowUpCase, case_id)


class TestFeedback:
    async def test_one_message_with_the_feedback_and_the_rerating_buttons(
        self, citizen: Callable[[int], Citizen], sessionmaker: SessionMaker, settings: Settings
    ) -> None:
        me = citizen(6501)
        case_id = await case_in_rectifying(sessionmaker, settings, 6501)
        mark = me.mark()

        await feed_back(sessionmaker, case_id, me)

        expected = t("relay.reply", unit=UNIT_NAME, text=FEEDBACK) + "\n\n"
        assert me.texts_since(mark) == [expected + t("relay.ask_rerating")]
        sent = me.messages()[-1]
        assert labels(sent) == ["满意", "基本满意", "不满意", t("relay.answer_button")]
        # Queued once: another round sends nothing more.
        async with unit_of_work(sessionmaker) as session:
            assert await jobs.queue_replies(session) == 0

        await me.press("基本满意", sent)

        case = await load(sessionmaker, case_id)
        assert (case.state, case.rerating) == (CaseState.rerated, "neutral")
        assert me.texts_since(mark)[-1] == t("relay.rerated", choice="基本满意")
        assert buttons(me.messages()[-2]) == []  # the buttons are taken off once pressed


class TestForget:
    async def test_erasing_closes_a_case_awaiting_the_rerating_as_unreachable(
        self, citizen: Callable[[int], Citizen], sessionmaker: SessionMaker, settings: Settings
    ) -> None:
        me = citizen(6502)
        await me.say("/start")
        case_id = await case_in_rectifying(sessionmaker, settings, 6502)
        await feed_back(sessionmaker, case_id, me)

        await me.say("/forget")
        await me.press("确认删除")

        case = await load(sessionmaker, case_id)
        assert (case.state, case.close_reason) == (CaseState.closed, "unreachable")
        async with sessionmaker() as session:
            events = (await session.exec(select(CaseEvent))).all()
        last = [e for e in events if e.case_id == case_id][-1]
        assert (last.actor, last.from_state, last.to_state) == ("system", "已反馈", "已关闭")
