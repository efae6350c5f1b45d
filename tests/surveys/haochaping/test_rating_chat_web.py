"""好差评 from the web chat: the bot's dialogue without a chat id, the same rating and case.

Deadlines come from the real 2025 calendar: a 差评 on 2025-09-30 (Beijing) is followed by the
国庆+中秋 holiday, so 1 working day is 10-09 and 5 are 10-14 (10-11 is a 调休 Saturday).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.models import Unit, UnitKind
from surveys.cases import contact
from surveys.cases.models import CitizenContact, FollowUpCase
from surveys.cases.workdays import DeadlinePolicy
from surveys.core.i18n import Msg
from surveys.haochaping import rating_chat
from surveys.haochaping.models import Rating, RatingChat, ServiceEvent
from surveys.questionnaire import engine, respondents
from surveys.questionnaire.conversation import Reply
from surveys.questionnaire.models import Identity, Respondent

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2025, 9, 30, 15, tzinfo=timezone(timedelta(hours=8))).astimezone(UTC)
POLICY = DeadlinePolicy()
SECRET = b"test-secret"
LEVEL_Q, REASONS_Q, COMMENT_Q, CONTACT_Q = 1, 2, 3, 4
VERY_BAD, SATISFIED = 4, 1  # indexes of 非常不满意 and 满意 among the five levels
YES, NO = 0, 1


async def unit(session: AsyncSession) -> Unit:
    found = Unit(code="spj", name="市审批服务局", kind=UnitKind.department)
    session.add(found)
    await session.flush()
    return found


async def citizen(session: AsyncSession, channel: str, who: str) -> Respondent:
    return await respondents.get_or_create_respondent(
        session=session, secret=SECRET, channel=channel, external_id=who
    )


async def begin(session: AsyncSession, me: Respondent, chat_id: int | None) -> Reply:
    return await rating_chat.begin_window_rating(
        session=session,
        respondent=me,
        payload="w_spj_W03_11150200MB",
        channel="telegram" if chat_id else "web",
        chat_id=chat_id,
        language_code=None,
    )


async def web_step(
    session: AsyncSession, me: Respondent, given: engine.Input
) -> rating_chat.WebReply:
    return await rating_chat.submit_web(
        session=session, respondent=me, given=given, chat_id=None, tz=TZ, now=NOW, policy=POLICY
    )


async def bot_step(session: AsyncSession, me: Respondent, given: engine.Input) -> Reply:
    return await rating_chat.submit(
        session=session, respondent=me, given=given, chat_id=None, tz=TZ, now=NOW, policy=POLICY
    )


BAD_ANSWERS: list[engine.Input] = [
    engine.Pick(LEVEL_Q, VERY_BAD),
    engine.Pick(REASONS_Q, 0),
    engine.Pick(REASONS_Q, 2),
    engine.Done(REASONS_Q),
    engine.Text("材料反复要求补交"),
]


async def rate_badly_on_the_web(
    session: AsyncSession, me: Respondent, consent: int
) -> rating_chat.WebReply:
    await begin(session, me, None)
    for given in BAD_ANSWERS:
        await web_step(session, me, given)
    return await web_step(session, me, engine.Pick(CONTACT_Q, consent))


class TestWebRating:
    async def test_a_very_bad_rating_opens_the_bots_case_and_a_contact_page(
        self, session: AsyncSession
    ) -> None:
        await unit(session)
        me = await citizen(session, "web", "cookie-1")

        done = await rate_badly_on_the_web(session, me, YES)

        assert done.reply.finished == Msg("webrate.thanks_contact")
        assert done.contact_token is not None
        assert len(done.contact_token) >= 32
        rating = (await session.exec(select(Rating))).one()
        assert (rating.level, rating.contact_ok, rating.window_code, rating.item_code) == (
            "very_dissatisfied",
            True,
            "W03",
            "11150200MB",
        )
        case = (await session.exec(select(FollowUpCase))).one()
        assert (case.contact_due, case.rectify_due) == (date(2025, 10, 9), date(2025, 10, 14))
        stored = (await session.exec(select(CitizenContact))).one()
        assert stored.case_id == case.id
        assert stored.token_hash is not None
        assert done.contact_token not in stored.token_hash
        assert await contact.channel_of(session=session, case=case) == "web"
        assert (await session.exec(select(Identity))).all() == []  # nothing to reach them by

    async def test_declining_contact_gives_no_page(self, session: AsyncSession) -> None:
        await unit(session)
        me = await citizen(session, "web", "cookie-2")

        done = await rate_badly_on_the_web(session, me, NO)

        assert done.reply.finished == Msg("contact.thanks_declined")
        assert done.contact_token is None
        stored = (await session.exec(select(CitizenContact))).one()
        assert stored.token_hash is None  # only that the case came from the web

    async def test_a_good_rating_opens_no_case_and_no_page(self, session: AsyncSession) -> None:
        await unit(session)
        me = await citizen(session, "web", "cookie-3")
        await begin(session, me, None)

        done = await web_step(session, me, engine.Pick(LEVEL_Q, SATISFIED))

        assert (done.reply.finished, done.contact_token) == (Msg("rating.thanks"), None)
        assert (await session.exec(select(FollowUpCase))).all() == []
        assert (await session.exec(select(CitizenContact))).all() == []

    async def test_going_back_asks_the_level_again(self, session: AsyncSession) -> None:
        await unit(session)
        me = await citizen(session, "web", "cookie-4")
        await begin(session, me, None)
        await web_step(session, me, engine.Pick(LEVEL_Q, VERY_BAD))

        back = await web_step(session, me, engine.Back(REASONS_Q))

        assert back.reply.prompt is not None
        assert back.reply.prompt.question_key == "level"
        done = await web_step(session, me, engine.Pick(LEVEL_Q, SATISFIED))
        assert done.reply.finished == Msg("rating.thanks")


class TestSameAsTheBot:
    async def test_the_same_answers_store_the_same_rating_and_deadlines(
        self, session: AsyncSession
    ) -> None:
        await unit(session)
        bot_citizen = await citizen(session, "telegram", 42)
        web_citizen = await citizen(session, "web", "cookie-5")

        await begin(session, bot_citizen, 42)
        for given in BAD_ANSWERS:
            await bot_step(session, bot_citizen, given)
        finished = await bot_step(session, bot_citizen, engine.Pick(CONTACT_Q, YES))
        await rate_badly_on_the_web(session, web_citizen, YES)

        assert finished.finished == Msg("rating.thanks_bad")
        ratings = (await session.exec(select(Rating).order_by(col(Rating.id)))).all()
        ignored = {"id", "respondent_id", "source_id", "received_at"}
        kept = [name for name in Rating.model_fields if name not in ignored]
        bot_row, web_row = ({name: getattr(r, name) for name in kept} for r in ratings)
        assert bot_row == web_row
        cases = (await session.exec(select(FollowUpCase).order_by(col(FollowUpCase.id)))).all()
        assert [(c.contact_due, c.rectify_due, c.state) for c in cases] == [
            (date(2025, 10, 9), date(2025, 10, 14), "待核实")
        ] * 2
        assert [await contact.channel_of(session=session, case=c) for c in cases] == [
            "telegram",
            "web",
        ]

    async def test_the_bot_still_remembers_its_chat(self, session: AsyncSession) -> None:
        await unit(session)
        me = await citizen(session, "telegram", 43)

        await begin(session, me, 43)

        identity = (await session.exec(select(Identity))).one()
        assert (identity.channel, identity.chat_id) == ("telegram", 43)


class TestReminders:
    async def test_a_web_citizens_rating_in_progress_is_left_alone(
        self, session: AsyncSession
    ) -> None:
        spj = await unit(session)
        me = await citizen(session, "web", "cookie-6")
        session.add(
            ServiceEvent(
                case_no="B-1",
                item_code="11150200MB",
                item_name="企业开办",
                unit_id=spj.id or 0,
                channel=2,
                finished_at=NOW,
                link_token="rcpt-web-1",
            )
        )
        await session.flush()
        await rating_chat.begin_event_rating(
            session=session,
            respondent=me,
            payload="r_rcpt-web-1",
            channel="web",
            chat_id=None,
            language_code=None,
            now=NOW - timedelta(days=5),
            change_days=7,
        )
        await begin(session, me, None)  # then a window poster: that rating is in progress
        in_progress = await rating_chat.active_chat(session=session, respondent=me)

        due = await rating_chat.remind(session=session, now=NOW, after_days=2)

        assert due == []
        assert await rating_chat.active_chat(session=session, respondent=me) == in_progress
        assert in_progress is not None
        assert in_progress.window_code == "W03"
        chats = (await session.exec(select(RatingChat))).all()
        assert len(chats) == 1


def test_default_reasons_read_in_the_citizens_language_and_stay_chinese_for_staff() -> None:
    from surveys.core.i18n import Translator
    from surveys.haochaping.rating_chat import rating_definition
    from surveys.questionnaire import engine

    reasons = rating_definition().question("reasons")
    attitude = engine.label_of(reasons, "r0")
    custom = engine.label_of(rating_definition(("排队太久", "其他")).question("reasons"), "r0")

    assert Translator("en").label(attitude) == "Staff attitude"
    assert Translator().label(attitude) == "服务态度"
    assert [str(o.label) for o in reasons.options][:2] == ["服务态度", "办事效率"]
    assert Translator("en").label(custom) == "排队太久"  # a city's own reason, as written
