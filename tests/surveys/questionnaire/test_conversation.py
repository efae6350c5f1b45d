"""The conversation use cases on the demo units and the demo survey, on a real SQLite file."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pytest
from sqlmodel import SQLModel, col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.models import Unit
from surveys.accounts.units import parse_units_csv, upsert_units
from surveys.core.db import SessionMaker, create_engine, create_sessionmaker, unit_of_work
from surveys.core.exceptions import (
    AlreadyResponded,
    BadDeepLink,
    SurveyClosed,
    UnknownSurvey,
    UnknownUnit,
)
from surveys.core.i18n import Localized, Msg
from surveys.core.settings import Settings
from surveys.questionnaire import catalog, conversation, respondents
from surveys.questionnaire.definitions import parse_definition
from surveys.questionnaire.engine import Done, Input, Pick, Skip, Text
from surveys.questionnaire.models import (
    Answer,
    Conversation,
    Identity,
    Respondent,
    Response,
    ResponseStatus,
    SurveyVersion,
)
from tests.conftest import DATA

SURVEY = "szzf-2026h2"
TODAY = date(2026, 9, 1)
STALE = Msg("engine.stale")

# Positions in demo_survey.yaml: 1 channels, 2 overall, 3 dissatisfied_reasons,
# 4 online_experience, 5 hotline, 6 trips, 7 recommend, 8 city_governance,
# 9 data_protection, 10 age_band, 11 elderly_services, 12 suggestion.
UP_TO_AGE: list[Input] = [
    Pick(1, 1),  # channels: app
    Pick(1, 4),  # channels: hotline
    Done(1),
    Pick(2, 0),  # overall: very_satisfied
    Pick(4, 1),  # online_experience: satisfied (shown for app)
    Pick(5, 2),  # hotline: neutral (shown for hotline)
    Pick(6, 1),  # trips: one
    Text("8"),  # recommend
    Pick(8, 3),  # city_governance: dissatisfied
    Pick(9, 4),  # data_protection: very_dissatisfied
    Pick(10, 0),  # age_band: under_30, so elderly_services stays hidden
]
ALL_SKIPPING_SUGGESTION = [*UP_TO_AGE, Skip(12)]


@pytest.fixture
async def demo(sessionmaker: SessionMaker) -> SurveyVersion:
    """The demo units and survey, committed."""
    units = parse_units_csv((DATA / "units.csv").read_text("utf-8"), source="units.csv")
    definition = parse_definition((DATA / "demo_survey.yaml").read_text("utf-8"))
    async with unit_of_work(sessionmaker) as session:
        await upsert_units(session=session, units=units)
        result = await catalog.load_survey(session=session, definition=definition, source="demo")
    return result.version


async def person(session: AsyncSession, external_id: int = 1) -> Respondent:
    return await respondents.get_or_create_respondent(
        session=session, secret=b"test", channel="telegram", external_id=external_id
    )


async def begin(
    session: AsyncSession, who: Respondent, unit: str | None = "kundulun", today: date = TODAY
) -> conversation.Reply:
    return await conversation.begin_survey(
        session=session, respondent=who, survey_code=SURVEY, unit_code=unit, today=today
    )


async def send(
    session: AsyncSession, who: Respondent, given: Input, today: date = TODAY
) -> conversation.Reply:
    """One input as the bot sends it: buttons carry the version id, text does not."""
    version_id = None
    if not isinstance(given, Text):
        current = await conversation.current_reply(session=session, respondent=who)
        version_id = current.version_id if current else None
    return await conversation.submit(
        session=session, respondent=who, given=given, version_id=version_id, today=today
    )


async def send_all(
    session: AsyncSession, who: Respondent, inputs: Sequence[Input]
) -> conversation.Reply:
    reply = conversation.Reply()
    for given in inputs:
        reply = await send(session, who, given)
        assert reply.notice is None, (given, reply.notice)
    return reply


async def welcome(
    session: AsyncSession, who: Respondent, payload: str | None, today: date = TODAY
) -> conversation.Welcome:
    return await conversation.welcome(
        session=session,
        respondent=who,
        channel="telegram",
        chat_id=4242,
        language_code="zh-hans",
        payload=payload,
        today=today,
    )


async def count(session: AsyncSession, model: type[SQLModel]) -> int:
    return (await session.exec(select(func.count()).select_from(model))).one()


async def response_of(session: AsyncSession, who: Respondent) -> Response:
    return (await session.exec(select(Response).where(Response.respondent_id == who.id))).one()


async def answers_of(session: AsyncSession, response: Response) -> dict[str, Answer]:
    statement = select(Answer).where(Answer.response_id == response.id).order_by(col(Answer.id))
    return {row.question_key: row for row in (await session.exec(statement)).all()}


def key_of(reply: conversation.Reply) -> str:
    assert reply.prompt is not None, reply
    return reply.prompt.question_key


class TestWelcome:
    async def test_without_payload_lists_open_surveys_and_keeps_the_chat_id(
        self, session: AsyncSession, demo: SurveyVersion
    ) -> None:
        who = await person(session)

        result = await welcome(session, who, None)

        assert result.reply is None
        assert [v.id for v in result.open_surveys] == [demo.id]
        identity = (await session.exec(select(Identity))).one()
        assert (identity.respondent_id, identity.channel, identity.chat_id) == (
            who.id,
            "telegram",
            4242,
        )
        assert identity.language_code == "zh-hans"

    async def test_without_payload_on_a_closed_day_lists_nothing(
        self, session: AsyncSession, demo: SurveyVersion
    ) -> None:
        result = await welcome(session, await person(session), None, today=date(2027, 1, 1))

        assert result == conversation.Welcome(reply=None, open_surveys=[])

    async def test_second_start_keeps_one_identity(
        self, session: AsyncSession, demo: SurveyVersion
    ) -> None:
        who = await person(session)
        await welcome(session, who, None)

        await welcome(session, who, None)

        assert await count(session, Identity) == 1

    async def test_deep_link_with_unit_starts_at_the_first_question(
        self, session: AsyncSession, demo: SurveyVersion
    ) -> None:
        who = await person(session)

        result = await welcome(session, who, f"s_{SURVEY}_kundulun")

        assert result.reply is not None
        assert result.open_surveys == []
        assert result.reply.intro is not None
        assert str(result.reply.intro[0]) == "数字政府建设满意度调查"  # zh_Hans of the title
        assert result.reply.version_id == demo.id
        prompt = result.reply.prompt
        assert prompt is not None
        assert (prompt.position, prompt.question_key) == (1, "channels")
        unit = await session.get_one(Unit, (await response_of(session, who)).unit_id)
        assert unit.code == "kundulun"

    async def test_deep_link_without_unit_asks_for_the_unit(
        self, session: AsyncSession, demo: SurveyVersion
    ) -> None:
        who = await person(session)

        result = await welcome(session, who, f"s_{SURVEY}")

        assert result.reply is not None
        prompt = result.reply.prompt
        assert prompt is not None
        assert (prompt.position, prompt.question_key) == (0, "_unit")
        assert prompt.text == Msg("survey.pick_unit")
        labels = [choice.label for choice in prompt.options]
        assert len(labels) == 35
        assert (labels[0], labels[9], labels[10], labels[-1]) == (
            "昆都仑区",
            "稀土高新区",
            "市审批服务局",
            "市委宣传部",
        )
        assert [choice.index for choice in prompt.options] == list(range(35))
        assert (await response_of(session, who)).unit_id is None

    @pytest.mark.parametrize(
        "payload",
        ["x", "s_", "s_" + "a" * 63, "s__kundulun", "s_a_b_c", "s_szzf 2026h2", "t_szzf-2026h2"],
    )
    async def test_bad_payload_is_refused(self, session: AsyncSession, payload: str) -> None:
        with pytest.raises(BadDeepLink):
            await welcome(session, await person(session), payload)

    async def test_well_formed_payload_over_64_characters_is_refused(
        self, session: AsyncSession
    ) -> None:
        # Telegram's /start parameter holds at most 64 characters, so `minyi survey link`
        # (which checks its payload with parse_deep_link) must not print a longer one.
        payload = conversation.deep_link_payload("a" * 32, "b" * 30)
        assert len(payload) == 65

        with pytest.raises(BadDeepLink):
            await welcome(session, await person(session), payload)

    async def test_unknown_survey(self, session: AsyncSession, demo: SurveyVersion) -> None:
        with pytest.raises(UnknownSurvey) as caught:
            await welcome(session, await person(session), "s_nope")

        assert caught.value.params == {"code": "nope"}

    async def test_unknown_unit(self, session: AsyncSession, demo: SurveyVersion) -> None:
        with pytest.raises(UnknownUnit) as caught:
            await welcome(session, await person(session), f"s_{SURVEY}_nope")

        assert caught.value.params == {"code": "nope"}

    @pytest.mark.parametrize("today", [date(2026, 6, 30), date(2027, 1, 1)])
    async def test_closed_survey(
        self, session: AsyncSession, demo: SurveyVersion, today: date
    ) -> None:
        with pytest.raises(SurveyClosed) as caught:
            await welcome(session, await person(session), f"s_{SURVEY}_kundulun", today=today)

        assert caught.value.params == {
            "title": "数字政府建设满意度调查",
            "opens_on": "2026-07-01",
            "closes_on": "2026-12-31",
        }


class TestBeginSurvey:
    async def test_completed_survey_cannot_be_begun_again(
        self, sessionmaker: SessionMaker, demo: SurveyVersion
    ) -> None:
        async with unit_of_work(sessionmaker) as session:
            who = await person(session)
            await begin(session, who)
            await send_all(session, who, ALL_SKIPPING_SUGGESTION)

        with pytest.raises(AlreadyResponded) as caught:
            async with unit_of_work(sessionmaker) as session:
                await begin(session, who)

        assert caught.value.params == {"title": "数字政府建设满意度调查", "period": "2026H2"}

    async def test_a_second_respondent_can_answer(
        self, session: AsyncSession, demo: SurveyVersion
    ) -> None:
        first, second = await person(session, 1), await person(session, 2)
        await begin(session, first)
        await send_all(session, first, ALL_SKIPPING_SUGGESTION)

        started = await begin(session, second, unit="gaoxin")
        finished = await send_all(session, second, ALL_SKIPPING_SUGGESTION)

        assert key_of(started) == "channels"
        assert finished.finished == Msg("survey.thanks")
        statuses = (await session.exec(select(Response.status))).all()
        assert statuses == [ResponseStatus.completed, ResponseStatus.completed]

    async def test_beginning_twice_resumes_the_same_response(
        self, session: AsyncSession, demo: SurveyVersion
    ) -> None:
        who = await person(session)
        await begin(session, who)
        await send_all(session, who, [Pick(1, 0), Done(1)])

        again = await begin(session, who)

        assert key_of(again) == "overall"
        assert await count(session, Response) == 1


class TestSubmit:
    async def test_without_a_conversation_text_gets_conversation_none(
        self, session: AsyncSession, demo: SurveyVersion
    ) -> None:
        reply = await conversation.submit(
            session=session,
            respondent=await person(session),
            given=Text("hi"),
            version_id=None,
            today=TODAY,
        )

        assert reply == conversation.Reply(notice=Msg("conversation.none"))

    async def test_without_a_conversation_a_button_is_stale(
        self, session: AsyncSession, demo: SurveyVersion
    ) -> None:
        reply = await conversation.submit(
            session=session,
            respondent=await person(session),
            given=Pick(1, 0),
            version_id=demo.id,
            today=TODAY,
        )

        assert reply == conversation.Reply(notice=STALE)

    async def test_wrong_version_id_is_stale_and_repeats_the_prompt(
        self, session: AsyncSession, demo: SurveyVersion
    ) -> None:
        who = await person(session)
        started = await begin(session, who)

        reply = await conversation.submit(
            session=session,
            respondent=who,
            given=Pick(1, 0),
            version_id=pk_of(demo) + 1,
            today=TODAY,
        )

        assert reply.notice == STALE
        assert reply.prompt == started.prompt
        assert reply.version_id == demo.id
        assert await count(session, Answer) == 0

    @pytest.mark.parametrize(
        ("given", "reason"),
        [
            (Text("政务大厅"), Msg("engine.use_buttons")),
            (Done(1), Msg("engine.too_few", {"min": 1})),
            (Skip(1), Msg("engine.required")),
            (Pick(2, 0), STALE),
            (Pick(1, 6), STALE),
        ],
    )
    async def test_a_rejected_input_stores_nothing(
        self, session: AsyncSession, demo: SurveyVersion, given: Input, reason: Msg
    ) -> None:
        who = await person(session)
        started = await begin(session, who)

        reply = await send(session, who, given)

        assert reply.notice == reason
        assert reply.prompt == started.prompt
        assert await count(session, Answer) == 0
        assert (await response_of(session, who)).draft == []

    async def test_ticking_a_multi_option_keeps_a_draft(
        self, session: AsyncSession, demo: SurveyVersion
    ) -> None:
        who = await person(session)
        await begin(session, who)

        reply = await send(session, who, Pick(1, 2))

        assert reply.toggled is True
        assert reply.prompt is not None
        assert [c.selected for c in reply.prompt.options] == [False, False, True] + [False] * 3
        assert (await response_of(session, who)).draft == ["web"]
        assert await count(session, Answer) == 0

    async def test_picking_the_unit_then_asks_the_first_question(
        self, session: AsyncSession, demo: SurveyVersion
    ) -> None:
        who = await person(session)
        await begin(session, who, unit=None)

        reply = await send(session, who, Pick(0, 9))

        assert reply.answered == conversation.Answered(Msg("survey.pick_unit"), ("稀土高新区",))
        assert key_of(reply) == "channels"
        unit = await session.get_one(Unit, (await response_of(session, who)).unit_id)
        assert unit.code == "gaoxin"
        assert await count(session, Answer) == 0

    @pytest.mark.parametrize(
        ("given", "reason"),
        [(Text("昆都仑区"), Msg("engine.use_buttons")), (Pick(0, 35), STALE), (Pick(1, 0), STALE)],
    )
    async def test_a_bad_unit_input_is_refused(
        self, session: AsyncSession, demo: SurveyVersion, given: Input, reason: Msg
    ) -> None:
        who = await person(session)
        await begin(session, who, unit=None)

        reply = await send(session, who, given)

        assert reply.notice == reason
        assert key_of(reply) == "_unit"
        assert (await response_of(session, who)).unit_id is None

    async def test_answers_are_stored_one_row_per_question(
        self, session: AsyncSession, demo: SurveyVersion
    ) -> None:
        who = await person(session)
        await begin(session, who)

        await send_all(session, who, ALL_SKIPPING_SUGGESTION)

        rows = await answers_of(session, await response_of(session, who))
        stored = {k: (r.choice, r.choices, r.number, r.text, r.skipped) for k, r in rows.items()}
        assert stored == {
            "channels": (None, ["app", "hotline"], None, None, False),
            "overall": ("very_satisfied", None, 5, None, False),
            "online_experience": ("satisfied", None, 4, None, False),
            "hotline": ("neutral", None, 3, None, False),
            "trips": ("one", None, None, None, False),
            "recommend": (None, None, 8, None, False),
            "city_governance": ("dissatisfied", None, 2, None, False),
            "data_protection": ("very_dissatisfied", None, 1, None, False),
            "age_band": ("under_30", None, None, None, False),
            "suggestion": (None, None, None, None, True),
        }

    async def test_a_text_answer_is_stored_as_text(
        self, session: AsyncSession, demo: SurveyVersion
    ) -> None:
        who = await person(session)
        await begin(session, who)
        await send_all(session, who, UP_TO_AGE)

        reply = await send(session, who, Text("  希望多设自助终端  "))

        assert reply.answered == conversation.Answered(
            Localized(demo.definition["questions"][11]["text"]), ("希望多设自助终端",)
        )
        row = (await answers_of(session, await response_of(session, who)))["suggestion"]
        assert (row.choice, row.choices, row.number, row.text, row.skipped) == (
            None,
            None,
            None,
            "希望多设自助终端",
            False,
        )

    async def test_a_scale_button_is_stored_as_a_number(
        self, session: AsyncSession, demo: SurveyVersion
    ) -> None:
        who = await person(session)
        await begin(session, who)
        await send_all(session, who, UP_TO_AGE[:7])

        reply = await send(session, who, Pick(7, 10))

        assert reply.answered == conversation.Answered(
            Localized(demo.definition["questions"][6]["text"]), ("10",)
        )
        row = (await answers_of(session, await response_of(session, who)))["recommend"]
        assert (row.choice, row.number) == (None, 10)

    async def test_completing_marks_the_response_and_ends_the_conversation(
        self, session: AsyncSession, demo: SurveyVersion
    ) -> None:
        who = await person(session)
        await begin(session, who)

        reply = await send_all(session, who, ALL_SKIPPING_SUGGESTION)

        assert reply.finished == Msg("survey.thanks")
        assert reply.prompt is None
        assert reply.answered is not None
        assert reply.answered.labels == (Msg("survey.skipped"),)
        response = await response_of(session, who)
        assert response.status == ResponseStatus.completed
        assert response.completed_at is not None
        assert response.completed_at >= response.started_at
        assert await session.get(Conversation, who.id) is None
        after = await send(session, who, Text("还有一句"))
        assert after.notice == Msg("conversation.none")

    async def test_an_answer_after_the_closing_date_is_refused(
        self, session: AsyncSession, demo: SurveyVersion
    ) -> None:
        who = await person(session)
        await begin(session, who)

        with pytest.raises(SurveyClosed):
            await send(session, who, Pick(1, 0), today=date(2027, 1, 1))

        assert (await response_of(session, who)).draft == []

    async def test_resumes_after_a_restart(
        self, sessionmaker: SessionMaker, settings: Settings, demo: SurveyVersion
    ) -> None:
        async with unit_of_work(sessionmaker) as session:
            who = await person(session)
            await begin(session, who)
            await send_all(session, who, UP_TO_AGE[:4])

        restarted = create_engine(settings.db_url)
        try:
            async with unit_of_work(create_sessionmaker(restarted)) as session:
                who = await person(session)
                current = await conversation.current_reply(session=session, respondent=who)
                reply = await send(session, who, Pick(4, 0))
        finally:
            await restarted.dispose()

        assert current is not None
        assert key_of(current) == "online_experience"
        assert current.version_id == demo.id
        assert reply.notice is None
        assert key_of(reply) == "hotline"


class TestCancelSurvey:
    async def test_without_a_conversation(
        self, session: AsyncSession, demo: SurveyVersion
    ) -> None:
        left = await conversation.cancel_survey(session=session, respondent=await person(session))

        assert left is False

    async def test_cancel_then_begin_resumes_with_earlier_answers_kept(
        self, sessionmaker: SessionMaker, demo: SurveyVersion
    ) -> None:
        async with unit_of_work(sessionmaker) as session:
            who = await person(session)
            await begin(session, who)
            await send_all(session, who, UP_TO_AGE[:4])
        async with unit_of_work(sessionmaker) as session:
            left = await conversation.cancel_survey(session=session, respondent=who)
        async with unit_of_work(sessionmaker) as session:
            between = await send(session, who, Text("8"))

        async with unit_of_work(sessionmaker) as session:
            resumed = await begin(session, who)
            rows = await answers_of(session, await response_of(session, who))

        assert left is True
        assert between.notice == Msg("conversation.none")
        assert key_of(resumed) == "online_experience"
        assert list(rows) == ["channels", "overall"]
        assert rows["channels"].choices == ["app", "hotline"]

    async def test_a_ticked_draft_survives_the_cancel(
        self, sessionmaker: SessionMaker, demo: SurveyVersion
    ) -> None:
        async with unit_of_work(sessionmaker) as session:
            who = await person(session)
            await begin(session, who)
            await send(session, who, Pick(1, 0))
            await conversation.cancel_survey(session=session, respondent=who)

        async with unit_of_work(sessionmaker) as session:
            resumed = await begin(session, who)

        assert resumed.prompt is not None
        assert [c.selected for c in resumed.prompt.options][:2] == [True, False]

    async def test_the_cancel_is_seen_by_the_same_transaction(
        self, session: AsyncSession, demo: SurveyVersion
    ) -> None:
        # Services flush what they write (as _finish does after deleting the conversation),
        # so a later call in the same unit of work must not find the cancelled conversation.
        who = await person(session)
        await begin(session, who)
        await send_all(session, who, UP_TO_AGE[:4])
        await conversation.cancel_survey(session=session, respondent=who)

        reply = await conversation.submit(
            session=session, respondent=who, given=Text("8"), version_id=None, today=TODAY
        )

        assert reply == conversation.Reply(notice=Msg("conversation.none"))


class TestForgetRespondent:
    async def test_removes_the_identity_and_keeps_the_answers(
        self, sessionmaker: SessionMaker, demo: SurveyVersion
    ) -> None:
        async with unit_of_work(sessionmaker) as session:
            who = await person(session)
            await welcome(session, who, f"s_{SURVEY}_kundulun")
            await send_all(session, who, ALL_SKIPPING_SUGGESTION)

        async with unit_of_work(sessionmaker) as session:
            erased = await respondents.forget_respondent(session=session, respondent=who)

        assert erased == 1
        async with sessionmaker() as session:
            assert await count(session, Identity) == 0
            assert await count(session, Respondent) == 1
            assert await count(session, Answer) == 10
            response = await response_of(session, who)
            assert response.status == ResponseStatus.completed
            with pytest.raises(AlreadyResponded):
                await begin(session, await person(session))

    async def test_mid_survey_also_ends_the_conversation(
        self, sessionmaker: SessionMaker, demo: SurveyVersion
    ) -> None:
        async with unit_of_work(sessionmaker) as session:
            who = await person(session)
            await welcome(session, who, f"s_{SURVEY}_kundulun")
            await send_all(session, who, UP_TO_AGE[:3])

        async with unit_of_work(sessionmaker) as session:
            await respondents.forget_respondent(session=session, respondent=who)

        async with sessionmaker() as session:
            assert await count(session, Conversation) == 0
            assert await count(session, Answer) == 1
            resumed = await begin(session, who)
        assert key_of(resumed) == "overall"

    async def test_nothing_to_forget(self, session: AsyncSession, demo: SurveyVersion) -> None:
        erased = await respondents.forget_respondent(
            session=session, respondent=await person(session)
        )

        assert erased == 0


def pk_of(version: SurveyVersion) -> int:
    assert version.id is not None
    return version.id
