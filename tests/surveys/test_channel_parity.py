"""The same answers given in the bot and on the web store the same records, apart from the
channel; results count and filter responses by channel."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scoring.demo import survey as demo
from surveys.accounts import units
from surveys.accounts.access import Actor, StaffRole
from surveys.questionnaire import catalog, conversation, engine, respondents, results
from surveys.questionnaire.conversation import Reply
from surveys.questionnaire.definitions import QuestionType
from surveys.questionnaire.models import Answer, Respondent, Response

TODAY = date(2026, 3, 2)
ADMIN = Actor.scoped(name="admin", role=StaffRole.admin, unit_ids=[])


async def setup(session: AsyncSession) -> str:
    parsed = units.parse_units_csv(demo.UNITS_CSV.read_text("utf-8"), source="units.csv")
    await units.upsert_units(session=session, units=parsed)
    definition = demo.demo_survey(TODAY)
    await catalog.load_survey(session=session, definition=definition, source="demo")
    return definition.code


def answer_for(prompt: engine.Prompt, ticked: bool) -> engine.Input:
    """Always the same answer to a question: the second option, 7 of 10, a fixed text."""
    if prompt.type is QuestionType.text:
        return engine.Text("窗口人员很耐心")
    if prompt.type is QuestionType.multi and ticked:
        return engine.Done(prompt.position)
    index = 7 if prompt.type is QuestionType.scale else min(1, len(prompt.options) - 1)
    return engine.Pick(prompt.position, index)


async def answer_all(session: AsyncSession, me: Respondent, code: str, channel: str) -> Response:
    reply: Reply = await conversation.begin_survey(
        session=session, respondent=me, survey_code=code, unit_code="spj", today=TODAY,
        channel=channel,
    )  # fmt: skip
    ticked = False
    while reply.prompt is not None:
        given = answer_for(reply.prompt, ticked)
        reply = await conversation.submit(
            session=session, respondent=me, given=given, version_id=reply.version_id, today=TODAY
        )
        ticked = reply.toggled
    assert reply.finished is not None
    found = await session.exec(select(Response).where(Response.respondent_id == me.id))
    return found.one()


def fields(row: Any, ignored: set[str]) -> dict[str, Any]:
    return {name: getattr(row, name) for name in type(row).model_fields if name not in ignored}


class TestSameAnswersBothChannels:
    async def test_records_differ_only_in_the_channel(self, session: AsyncSession) -> None:
        code = await setup(session)
        secret = b"test-secret"
        bot_citizen = await respondents.get_or_create_respondent(
            session=session, secret=secret, channel="telegram", external_id=7001
        )
        web_citizen = await respondents.get_or_create_respondent(
            session=session, secret=secret, channel="web", external_id="cookie-7001"
        )

        in_bot = await answer_all(session, bot_citizen, code, "telegram")
        on_web = await answer_all(session, web_citizen, code, "web")

        assert (in_bot.channel, on_web.channel) == ("telegram", "web")
        kept = {"id", "respondent_id", "channel", "started_at", "completed_at"}
        assert fields(in_bot, kept) == fields(on_web, kept)
        answers = []
        for response in (in_bot, on_web):
            rows = await session.exec(
                select(Answer)
                .where(Answer.response_id == response.id)
                .order_by(col(Answer.question_key))
            )
            answers.append([fields(a, {"id", "response_id", "answered_at"}) for a in rows])
        assert answers[0] == answers[1]
        assert len(answers[0]) >= 3

    async def test_results_count_and_filter_by_channel(self, session: AsyncSession) -> None:
        code = await setup(session)
        for n, channel in enumerate(("telegram", "telegram", "web")):
            me = await respondents.get_or_create_respondent(
                session=session, secret=b"s", channel=channel, external_id=n
            )
            await answer_all(session, me, code, channel)

        both = await results.question_results(session=session, actor=ADMIN, survey_code=code)
        web = await results.question_results(
            session=session, actor=ADMIN, survey_code=code, channel="web"
        )
        listed, total = await results.list_responses(
            session=session, actor=ADMIN, survey_code=code, channel="telegram"
        )

        assert (both.responses, web.responses) == (3, 1)
        assert both.by_channel == web.by_channel == (("telegram", 2), ("web", 1))
        assert web.questions[0].answered == 1
        assert total == 2
        assert {row.channel for row in listed} == {"telegram"}
