"""Going back, resuming, progress, the unit named at the start and the transcript, on the
demo survey and a real SQLite file."""

from __future__ import annotations

import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.core.i18n import Label, Localized, Msg
from surveys.questionnaire import conversation
from surveys.questionnaire.conversation import Answered
from surveys.questionnaire.engine import Back, Done, Pick
from surveys.questionnaire.models import Answer, AnswerHistory, Response
from tests.surveys.questionnaire.test_conversation import (
    SURVEY,
    TODAY,
    answers_of,
    begin,
    demo,  # noqa: F401 - the fixture
    key_of,
    person,
    response_of,
    send,
    send_all,
)

CHANNELS = "近六个月内，您通过哪些渠道办理过政务服务事项（含咨询、查询）？（可多选）"
OVERALL = "总体来看，您对在包头办理政务服务的满意程度如何？"
pytestmark = pytest.mark.usefixtures("demo")

TWO_CHANNELS = [Pick(1, 1), Pick(1, 4), Done(1)]  # 蒙速办APP, 12345热线


def chinese(shown: list[Answered]) -> list[Answered]:
    """A transcript with the survey's own texts in zh_Hans (catalogue messages as they are)."""

    def zh(text: Label) -> Label:
        return str(text) if isinstance(text, Localized) else text

    return [Answered(zh(a.question_text), tuple(zh(x) for x in a.labels)) for a in shown]


async def history(session: AsyncSession, response: Response) -> list[AnswerHistory]:
    statement = select(AnswerHistory).where(AnswerHistory.response_id == response.id)
    return list((await session.exec(statement.order_by(col(AnswerHistory.id)))).all())


class TestBack:
    async def test_the_previous_answer_moves_to_history_and_is_asked_again_ticked(
        self, session: AsyncSession
    ) -> None:
        who = await person(session)
        await begin(session, who)
        await send_all(session, who, TWO_CHANNELS)

        reply = await send(session, who, Back(2))

        assert reply.notice is None
        assert key_of(reply) == "channels"
        assert reply.prompt is not None
        assert [c.index for c in reply.prompt.options if c.selected] == [1, 4]
        response = await response_of(session, who)
        assert await answers_of(session, response) == {}
        assert response.draft == ["app", "hotline"]
        [old] = await history(session, response)
        assert (old.question_key, old.choices, old.skipped) == ("channels", ["app", "hotline"], 0)
        assert old.retired_at >= old.answered_at

    async def test_the_question_can_be_answered_differently_after_going_back(
        self, session: AsyncSession
    ) -> None:
        who = await person(session)
        await begin(session, who)
        await send_all(session, who, [*TWO_CHANNELS, Pick(2, 3)])  # overall: dissatisfied

        await send_all(session, who, [Back(3), Pick(2, 0)])  # now very_satisfied

        answers = await answers_of(session, await response_of(session, who))
        assert answers["overall"].choice == "very_satisfied"
        reply = await conversation.current_reply(session=session, respondent=who)
        assert reply is not None
        assert key_of(reply) == "online_experience"  # the reasons no longer show

    async def test_on_the_first_question_is_refused_and_changes_nothing(
        self, session: AsyncSession
    ) -> None:
        who = await person(session)
        await begin(session, who)
        await send(session, who, Pick(1, 0))

        reply = await send(session, who, Back(1))

        assert reply.notice == Msg("engine.no_previous")
        assert key_of(reply) == "channels"
        response = await response_of(session, who)
        assert response.draft == ["hall"]
        assert await history(session, response) == []

    async def test_from_a_stale_question_is_refused_and_changes_nothing(
        self, session: AsyncSession
    ) -> None:
        who = await person(session)
        await begin(session, who)
        await send_all(session, who, [*TWO_CHANNELS, Pick(2, 0)])

        reply = await send(session, who, Back(2))  # overall is answered already

        assert reply.notice == Msg("engine.stale")
        assert key_of(reply) == "online_experience"
        response = await response_of(session, who)
        assert set(await answers_of(session, response)) == {"channels", "overall"}
        assert await history(session, response) == []

    async def test_a_stale_version_is_refused_for_back_too(self, session: AsyncSession) -> None:
        who = await person(session)
        await begin(session, who)
        await send_all(session, who, TWO_CHANNELS)

        reply = await conversation.submit(
            session=session, respondent=who, given=Back(2), version_id=-1, today=TODAY
        )

        assert reply.notice == Msg("engine.stale")
        assert key_of(reply) == "overall"

    async def test_on_the_unit_question_is_refused(self, session: AsyncSession) -> None:
        who = await person(session)
        await begin(session, who, unit=None)

        reply = await send(session, who, Back(0))

        assert reply.notice == Msg("engine.no_previous")
        assert key_of(reply) == "_unit"

    async def test_an_answer_whose_question_no_longer_shows_is_retired(
        self, session: AsyncSession
    ) -> None:
        who = await person(session)
        await begin(session, who)
        await send_all(session, who, [Pick(1, 1), Done(1)])  # 蒙速办APP only
        response = await response_of(session, who)
        # Left over from an earlier path: 12345热线 was ticked, then taken back.
        session.add(Answer(response_id=response.id or 0, question_key="hotline", choice="neutral"))
        await session.flush()

        await send(session, who, Pick(2, 0))

        assert set(await answers_of(session, response)) == {"channels", "overall"}
        assert [row.question_key for row in await history(session, response)] == ["hotline"]


class TestProgress:
    async def test_every_question_carries_its_number_and_the_total(
        self, session: AsyncSession
    ) -> None:
        who = await person(session)
        started = await begin(session, who)
        after_channels = await send_all(session, who, TWO_CHANNELS)

        assert started.prompt is not None
        assert after_channels.prompt is not None
        assert (started.prompt.number, started.prompt.total) == (1, 12)
        assert not started.prompt.can_go_back
        # 政府网站 was not ticked, but the online question shows for the APP as well
        assert (after_channels.prompt.number, after_channels.prompt.total) == (2, 12)
        assert after_channels.prompt.can_go_back

    async def test_the_unit_question_has_no_number(self, session: AsyncSession) -> None:
        who = await person(session)
        reply = await begin(session, who, unit=None)

        assert reply.prompt is not None
        assert (reply.prompt.number, reply.prompt.can_go_back) == (0, False)


class TestOpening:
    async def test_a_resumed_survey_says_how_many_questions_were_answered(
        self, session: AsyncSession
    ) -> None:
        who = await person(session)
        first = await begin(session, who)
        await send_all(session, who, [*TWO_CHANNELS, Pick(2, 0)])

        again = await begin(session, who)

        assert first.notice is None
        assert again.notice == Msg("survey.resumed", {"count": 2})
        assert key_of(again) == "online_experience"

    async def test_a_survey_for_one_unit_names_it(self, session: AsyncSession) -> None:
        reply = await begin(session, await person(session), unit="jiuyuan")

        assert reply.about == Msg("survey.about_unit", {"unit": "九原区"})
        assert reply.intro is not None
        assert str(reply.intro[0]) == "数字政府建设满意度调查"

    async def test_a_survey_for_any_unit_names_none(self, session: AsyncSession) -> None:
        reply = await begin(session, await person(session), unit=None)

        assert reply.about is None

    async def test_the_channel_is_recorded_on_a_new_response(self, session: AsyncSession) -> None:
        web, bot = await person(session, 1), await person(session, 2)
        await conversation.begin_survey(
            session=session,
            respondent=web,
            survey_code=SURVEY,
            unit_code="jiuyuan",
            today=TODAY,
            channel="web",
        )
        await begin(session, bot)

        assert (await response_of(session, web)).channel == "web"
        assert (await response_of(session, bot)).channel == "telegram"


class TestTranscript:
    async def test_lists_the_unit_picked_then_each_answer_on_the_path(
        self, session: AsyncSession
    ) -> None:
        who = await person(session)
        await begin(session, who, unit=None)
        await send(session, who, Pick(0, 1))
        await send_all(session, who, [*TWO_CHANNELS, Pick(2, 0)])

        shown = await conversation.transcript(session=session, respondent=who)

        assert shown[0].question_text == Msg("survey.pick_unit")
        assert len(shown[0].labels) == 1
        assert chinese(shown[1:]) == [
            Answered(CHANNELS, ("蒙速办APP", "12345政务服务便民热线")),
            Answered(OVERALL, (Msg("level.very_satisfied"),)),
        ]

    async def test_a_withdrawn_answer_is_gone(self, session: AsyncSession) -> None:
        who = await person(session)
        await begin(session, who)  # linked to 昆都仑区, one of many units: still listed
        await send_all(session, who, [*TWO_CHANNELS, Pick(2, 0), Back(4)])

        shown = await conversation.transcript(session=session, respondent=who)

        assert chinese(shown) == [
            Answered(Msg("survey.pick_unit"), ("昆都仑区",)),
            Answered(CHANNELS, ("蒙速办APP", "12345政务服务便民热线")),
        ]

    async def test_is_empty_without_a_survey_in_progress(self, session: AsyncSession) -> None:
        assert (
            await conversation.transcript(session=session, respondent=await person(session)) == []
        )
