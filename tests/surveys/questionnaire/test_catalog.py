"""The survey catalogue: versions by content, availability by date, counts and unit order."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlmodel import SQLModel, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.models import Unit, UnitKind
from surveys.core.db import SessionMaker, unit_of_work
from surveys.core.exceptions import DefinitionInvalid
from surveys.core.models import pk
from surveys.questionnaire import catalog, conversation, respondents
from surveys.questionnaire.definitions import SurveyDefinition
from surveys.questionnaire.engine import Pick
from surveys.questionnaire.models import (
    Respondent,
    Response,
    ResponseStatus,
    Survey,
    SurveyVersion,
)
from tests.surveys.builders import make_definition, make_question

TODAY = date(2026, 3, 1)  # inside make_definition's 2026-01-01 .. 2026-06-30


def two_questions(**fields: Any) -> SurveyDefinition:
    return make_definition([make_question("q1"), make_question("q2")], **fields)


async def load(session: AsyncSession, definition: SurveyDefinition) -> catalog.LoadResult:
    return await catalog.load_survey(session=session, definition=definition, source="s.yaml")


async def count(session: AsyncSession, model: type[SQLModel]) -> int:
    return (await session.exec(select(func.count()).select_from(model))).one()


async def add_units(session: AsyncSession, *units: tuple[str, UnitKind, bool]) -> None:
    for code, kind, active in units:
        session.add(Unit(code=code, name=f"{code}-name", kind=kind, active=active))
    await session.flush()


async def respondent(session: AsyncSession, external_id: int) -> Respondent:
    return await respondents.get_or_create_respondent(
        session=session, secret=b"k", channel="test", external_id=external_id
    )


async def add_response(
    session: AsyncSession, version: SurveyVersion, external_id: int, status: ResponseStatus
) -> Response:
    response = Response(
        respondent_id=pk(await respondent(session, external_id)),
        survey_id=version.survey_id,
        survey_version_id=pk(version),
        period=version.period,
        status=status,
    )
    session.add(response)
    await session.flush()
    return response


class TestLoadSurvey:
    async def test_first_load_creates_version_1(self, session: AsyncSession) -> None:
        result = await load(session, two_questions())

        assert result.created is True
        assert result.version.version == 1
        assert result.version.title == "Test survey"
        assert result.version.period == "2026H1"
        assert result.version.digest == two_questions().digest()
        assert catalog.definition_of(result.version) == two_questions()
        assert await count(session, Survey) == 1

    async def test_same_definition_again_keeps_the_version(self, session: AsyncSession) -> None:
        first = await load(session, two_questions())

        again = await load(session, two_questions())

        assert again.created is False
        assert again.version.id == first.version.id
        assert again.version.version == 1
        assert await count(session, SurveyVersion) == 1

    async def test_changed_question_text_makes_version_2(self, session: AsyncSession) -> None:
        await load(session, two_questions())
        changed = make_definition([make_question("q1", text="Reworded?"), make_question("q2")])

        result = await load(session, changed)

        assert result.created is True
        assert result.version.version == 2
        assert await count(session, Survey) == 1
        assert await count(session, SurveyVersion) == 2

    async def test_responses_on_version_1_stay_on_version_1(
        self, sessionmaker: SessionMaker
    ) -> None:
        async with unit_of_work(sessionmaker) as session:
            v1 = (await load(session, two_questions())).version
            done = await add_response(session, v1, 1, ResponseStatus.completed)
        async with unit_of_work(sessionmaker) as session:
            changed = make_definition([make_question("q1", text="Reworded?"), make_question("q2")])
            v2 = (await load(session, changed)).version

        async with sessionmaker() as session:
            stored = await session.get_one(Response, done.id)
        assert v2.id != v1.id
        assert stored.survey_version_id == v1.id

    async def test_in_progress_response_continues_on_version_1(
        self, sessionmaker: SessionMaker
    ) -> None:
        async with unit_of_work(sessionmaker) as session:
            # With a single unit it is fixed, so the first prompt is q1.
            await add_units(session, ("kundulun", UnitKind.district, True))
            v1 = (await load(session, two_questions())).version
            person = await respondent(session, 1)
            await conversation.begin_survey(
                session=session,
                respondent=person,
                survey_code="test-survey",
                unit_code=None,
                today=TODAY,
            )
        async with unit_of_work(sessionmaker) as session:
            changed = make_definition([make_question("q1", text="Reworded?"), make_question("q2")])
            await load(session, changed)

        async with unit_of_work(sessionmaker) as session:
            resumed = await conversation.begin_survey(
                session=session,
                respondent=person,
                survey_code="test-survey",
                unit_code=None,
                today=TODAY,
            )
            answered = await conversation.submit(
                session=session,
                respondent=person,
                given=Pick(1, 0),
                version_id=v1.id,
                today=TODAY,
            )

        assert resumed.version_id == v1.id
        assert resumed.prompt is not None
        assert resumed.prompt.text == "Question q1?"
        assert resumed.intro == ("Test survey", "")
        assert answered.notice is None
        assert answered.prompt is not None
        assert answered.prompt.question_key == "q2"
        async with sessionmaker() as session:
            responses = (await session.exec(select(Response))).all()
        assert [r.survey_version_id for r in responses] == [v1.id]

    async def test_unknown_unit_code_names_the_index_and_stores_nothing(
        self, sessionmaker: SessionMaker
    ) -> None:
        async with unit_of_work(sessionmaker) as session:
            await add_units(session, ("kundulun", UnitKind.district, True))
        definition = two_questions(units=["kundulun", "nope", "gone"])

        with pytest.raises(DefinitionInvalid) as caught:
            async with unit_of_work(sessionmaker) as session:
                await load(session, definition)

        problems = caught.value.problems
        assert [p.split(":")[0] for p in problems] == ["units[1]", "units[2]"]
        assert "'nope'" in problems[0]
        async with sessionmaker() as session:
            assert await count(session, Survey) == 0
            assert await count(session, SurveyVersion) == 0


class TestOpenSurveys:
    @pytest.mark.parametrize(
        ("today", "is_open"),
        [
            (date(2025, 12, 31), False),
            (date(2026, 1, 1), True),
            (date(2026, 6, 30), True),
            (date(2026, 7, 1), False),
        ],
    )
    async def test_respects_opens_on_and_closes_on(
        self, session: AsyncSession, today: date, is_open: bool
    ) -> None:
        version = (await load(session, two_questions())).version

        found = await catalog.open_surveys(session=session, today=today)

        assert found == ([version] if is_open else [])

    async def test_returns_only_the_latest_version(self, session: AsyncSession) -> None:
        await load(session, two_questions())
        v2 = (await load(session, two_questions(title="Second edition"))).version

        found = await catalog.open_surveys(session=session, today=TODAY)

        assert [(v.id, v.version) for v in found] == [(v2.id, 2)]

    async def test_a_closed_latest_version_hides_the_survey(self, session: AsyncSession) -> None:
        await load(session, two_questions())
        await load(session, two_questions(opens_on=date(2026, 4, 1)))

        assert await catalog.open_surveys(session=session, today=TODAY) == []

    async def test_lists_several_surveys_oldest_first(self, session: AsyncSession) -> None:
        first = (await load(session, two_questions(code="first"))).version
        second = (await load(session, two_questions(code="second"))).version
        await load(session, two_questions(code="later", opens_on=date(2026, 5, 1)))

        found = await catalog.open_surveys(session=session, today=TODAY)

        assert found == [first, second]


class TestListSurveys:
    async def test_no_surveys(self, session: AsyncSession) -> None:
        assert await catalog.list_surveys(session=session) == []

    async def test_counts_completed_and_started_over_all_versions(
        self, session: AsyncSession
    ) -> None:
        v1 = (await load(session, two_questions())).version
        await add_response(session, v1, 1, ResponseStatus.completed)
        await add_response(session, v1, 2, ResponseStatus.in_progress)
        v2 = (await load(session, two_questions(title="Second edition"))).version
        await add_response(session, v2, 3, ResponseStatus.completed)
        await add_response(session, v2, 4, ResponseStatus.completed)
        other = (await load(session, two_questions(code="other"))).version
        await add_response(session, other, 1, ResponseStatus.in_progress)

        summaries = await catalog.list_surveys(session=session)

        assert summaries == [
            catalog.SurveySummary(
                code="test-survey",
                title="Second edition",
                version=2,
                period="2026H1",
                opens_on=date(2026, 1, 1),
                closes_on=date(2026, 6, 30),
                responses=4,
                completed=3,
            ),
            catalog.SurveySummary(
                code="other",
                title="Test survey",
                version=1,
                period="2026H1",
                opens_on=date(2026, 1, 1),
                closes_on=date(2026, 6, 30),
                responses=1,
                completed=0,
            ),
        ]


class TestTargetUnits:
    async def _mixed_units(self, session: AsyncSession) -> None:
        await add_units(
            session,
            ("spj", UnitKind.department, True),
            ("kundulun", UnitKind.district, True),
            ("gaoxin", UnitKind.hightech, True),
            ("closed", UnitKind.district, False),
            ("gaj", UnitKind.department, True),
            ("qingshan", UnitKind.district, True),
        )

    async def test_all_units_by_kind_then_load_order(self, session: AsyncSession) -> None:
        await self._mixed_units(session)

        units = await catalog.target_units(session=session, definition=two_questions())

        assert [u.code for u in units] == ["kundulun", "qingshan", "gaoxin", "spj", "gaj"]

    async def test_explicit_list_keeps_the_file_order(self, session: AsyncSession) -> None:
        await self._mixed_units(session)
        definition = two_questions(units=["gaj", "qingshan", "spj"])

        units = await catalog.target_units(session=session, definition=definition)

        assert [u.code for u in units] == ["gaj", "qingshan", "spj"]

    async def test_inactive_units_are_left_out_of_an_explicit_list(
        self, session: AsyncSession
    ) -> None:
        await self._mixed_units(session)
        definition = two_questions(units=["closed", "kundulun"])

        units = await catalog.target_units(session=session, definition=definition)

        assert [u.code for u in units] == ["kundulun"]
