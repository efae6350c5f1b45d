"""Level counts from SQL: what counts toward 民意 and what is left out."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from scoring.aggregate import answer_counts, gather_inputs, rating_counts
from scoring.compute import SurveyTally
from scoring.method import ExcludedTestData, Method, Source, load_method
from scoring.models import Component
from surveys.accounts.models import UnitKind
from surveys.core.models import pk
from surveys.questionnaire.definitions import Level
from surveys.questionnaire.models import ResponseStatus

from .helpers import TZ, add_answers, add_ratings, add_unit, import_totals, survey_version

VS, S, N, D, VD = Level


def with_test_data(**fields: list[str]) -> Method:
    return load_method().model_copy(update={"test_data": ExcludedTestData(**fields)})


class TestRatings:
    async def test_only_valid_ratings_of_the_period_count(self, session: AsyncSession) -> None:
        unit = await add_unit(session, "donghe", "东河区", UnitKind.district)
        await add_ratings(session, unit, "2026H1", {VS: 2, D: 1})
        await add_ratings(session, unit, "2026H1", {VD: 1}, is_default=True)
        await add_ratings(session, unit, "2026H1", {VD: 1}, excluded=True)
        await add_ratings(session, unit, "2026H1", {VD: 1}, active=False)
        await add_ratings(session, unit, "2026H2", {VD: 1})
        await add_ratings(session, unit, "2026H1", {VD: 3}, source_prefix="TEST")

        counts = await rating_counts(session=session, period="2026H1", method=load_method())
        cleaned = await rating_counts(
            session=session, period="2026H1",
            method=with_test_data(rating_source_id_prefixes=["TEST-"]),
        )  # fmt: skip

        assert counts == {pk(unit): {VS: 2, D: 1, VD: 3}}
        assert cleaned == {pk(unit): {VS: 2, D: 1}}


class TestAnswers:
    async def test_satisfaction_answers_of_completed_responses_in_the_period(
        self, session: AsyncSession
    ) -> None:
        unit = await add_unit(session, "donghe", "东河区", UnitKind.district)
        version = await survey_version(session, "2026H1", keys=("overall", "hall"))
        await add_answers(session, version, unit, {S: 2})
        await add_answers(session, version, unit, {N: 1}, key="hall")
        await add_answers(session, version, unit, {VD: 1}, status=ResponseStatus.in_progress)
        # 2026-06-30 23:30 in 包头 is still 2026H1; 2026-07-01 00:30 there is not.
        await add_answers(session, version, unit, {VS: 1},
                          answered_at=datetime(2026, 6, 30, 15, 30, tzinfo=UTC))  # fmt: skip
        await add_answers(session, version, unit, {D: 1},
                          answered_at=datetime(2026, 6, 30, 16, 30, tzinfo=UTC))  # fmt: skip

        counts = await answer_counts(session=session, period="2026H1", method=load_method(), tz=TZ)
        only_overall = await answer_counts(
            session=session, period="2026H1", tz=TZ,
            method=load_method().model_copy(update={"questions": ["overall"]}),
        )  # fmt: skip
        with_partial = await answer_counts(
            session=session, period="2026H1", tz=TZ,
            method=load_method().model_copy(update={"completed_responses_only": False}),
        )  # fmt: skip

        assert counts == {pk(unit): {S: 2, N: 1, VS: 1}}
        assert only_overall == {pk(unit): {S: 2, VS: 1}}
        assert with_partial == {pk(unit): {S: 2, N: 1, VS: 1, VD: 1}}

    async def test_test_surveys_are_left_out(self, session: AsyncSession) -> None:
        unit = await add_unit(session, "donghe", "东河区", UnitKind.district)
        real = await survey_version(session, "2026H1")
        trial = await survey_version(session, "2026H1", code="trial")
        await add_answers(session, real, unit, {S: 1})
        await add_answers(session, trial, unit, {VD: 5})

        counts = await answer_counts(
            session=session, period="2026H1", tz=TZ,
            method=with_test_data(survey_codes=["trial-2026h1"]),
        )  # fmt: skip

        assert counts == {pk(unit): {S: 1}}


class TestInputs:
    async def test_test_units_are_not_scored_and_sources_are_per_unit(
        self, session: AsyncSession
    ) -> None:
        a = await add_unit(session, "a", "东河区", UnitKind.district)
        b = await add_unit(session, "b", "市医保局", UnitKind.department)
        await add_unit(session, "sandbox", "测试单位", UnitKind.department)
        await add_unit(session, "gone", "撤销单位", UnitKind.department, active=False)
        await add_ratings(session, a, "2026H1", {S: 1})
        await add_answers(session, await survey_version(session, "2026H1"), b, {N: 2})
        await import_totals(session, "2026H1", Component.field,
                            {"a": 60, "b": 70, "sandbox": 0})  # fmt: skip

        inputs = await gather_inputs(
            session=session, period="2026H1", tz=TZ, method=with_test_data(unit_codes=["sandbox"])
        )

        assert [(i.unit.code, i.unit.kind) for i in inputs] == [("a", "旗县区"), ("b", "市直部门")]
        assert inputs[0].counts == {Source.rating: {S: 1}}
        assert inputs[1].counts == {}  # survey answers come as a tally of respondents
        assert inputs[1].survey == SurveyTally.of_people([[50], [50]])  # two people, 基本满意
        assert inputs[1].imported == {Component.field: pytest.approx(70)}
