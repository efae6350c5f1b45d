"""A small evaluation worked out by hand: two 旗县区, two 市直部门, both halves of 2026.

Method A (100/75/50/25/0), equal weights over the sources a unit has, half-year score
= 日常监测 × 0.6 + 实地调研 × 0.2 + 民意调查 × 0.1 + 第三方评估 × 0.1, 年度分 = mean of halves.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from scoring import service
from scoring.compute import HalfResult, YearResult
from scoring.method import Source, load_method
from scoring.models import Component
from scoring.monitoring import import_monitoring
from surveys.accounts.models import Unit, UnitKind
from surveys.questionnaire.definitions import Level

from .helpers import NOW, TZ, add_answers, add_ratings, add_unit, import_totals, survey_version

VS, S, N, D, VD = Level  # very_satisfied … very_dissatisfied
AT = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)


async def seed(session: AsyncSession) -> None:
    dh = await add_unit(session, "donghe", "东河区", UnitKind.district)
    qs = await add_unit(session, "qingshan", "青山区", UnitKind.district)
    yb = await add_unit(session, "yibao", "市医保局", UnitKind.department)
    # 市税务局 joins after the 实地调研 of 2026H1 was imported: that component is missing.
    sw = await add_unit(session, "shuiwu", "市税务局", UnitKind.department, active=False)

    h1 = await survey_version(session, "2026H1")
    h2 = await survey_version(session, "2026H2")
    # 2026H1 民意 ----------------------------------------------------------------
    # 东河区 ratings: 100 + 100 + 75 + 25 = 300 over 4 = 75.0; the 非常不满意 whose 申诉 was
    # upheld is excluded (with it: 300 / 5 = 60.0).
    await add_ratings(session, dh, "2026H1", {VS: 2, S: 1, D: 1})
    await add_ratings(session, dh, "2026H1", {VD: 1}, excluded=True)
    # 东河区 survey: (75 + 50) / 2 = 62.5; an answer given on 07-02 is outside 2026H1.
    await add_answers(session, h1, dh, {S: 1, N: 1})
    await add_answers(session, h1, dh, {VD: 1}, answered_at=datetime(2026, 7, 2, tzinfo=UTC))
    # 青山区 ratings: (100 + 50) / 2 = 75.0; no survey answers: 民意 = 75.0.
    await add_ratings(session, qs, "2026H1", {VS: 1, N: 1})
    # 市医保局 ratings: 3 × 75 = 75.0.
    await add_ratings(session, yb, "2026H1", {S: 3})
    # 市税务局 ratings: (0 + 100) / 2 = 50.0; a system-default and a replaced one do not count.
    await add_ratings(session, sw, "2026H1", {VD: 1, VS: 1})
    await add_ratings(session, sw, "2026H1", {VD: 1}, is_default=True)
    await add_ratings(session, sw, "2026H1", {VD: 1}, active=False)
    # 2026H2 民意 ----------------------------------------------------------------
    await add_ratings(session, dh, "2026H2", {VS: 1})  # 100.0
    await add_ratings(session, qs, "2026H2", {D: 1})  # ratings 25.0
    await add_answers(session, h2, qs, {VS: 1})  # survey 100.0 → 民意 (25 + 100) / 2 = 62.5
    await add_answers(session, h2, yb, {N: 2})  # survey only: 50.0
    await add_ratings(session, sw, "2026H2", {S: 1})  # 75.0


async def seed_components(session: AsyncSession) -> None:
    # 日常监测 of 东河区 by area: 20 + 20 + 16 + 8 + 8 + 4 + 4 = 80.
    await import_monitoring(
        session=session,
        rows=[
            ["单位编码", "单位名称", "一网通办", "一网统管", "协同办公", "基础设施", "数据要素",
             "安全防护", "统筹管理"],
            ["donghe", "东河区", "20", "20", "16", "8", "8", "4", "4"],
            ["qingshan", "青山区", "17.5", "17.5", "14", "7", "7", "3.5", "3.5"],  # 70
            ["yibao", "市医保局", "22.5", "22.5", "18", "9", "9", "4.5", "4.5"],  # 90
        ],
        period="2026H1", component=Component.monitoring, actor="test", now=NOW,
    )  # fmt: skip
    await import_totals(session, "2026H1", Component.field, {"donghe": 90, "qingshan": 80,
                                                             "yibao": 60})  # fmt: skip
    await _activate(session, "shuiwu")
    await import_totals(session, "2026H1", Component.third_party,
                        {"donghe": 70, "qingshan": 90, "yibao": 80, "shuiwu": 100})  # fmt: skip
    # 日常监测 2026H1 again for 市税务局 now active: replaces the first import entirely.
    await import_totals(session, "2026H1", Component.monitoring,
                        {"donghe": 80, "qingshan": 70, "yibao": 90, "shuiwu": 85})  # fmt: skip
    for component, scores in {
        Component.monitoring: {"donghe": 90, "qingshan": 80, "yibao": 70, "shuiwu": 60},
        Component.field: {"donghe": 80, "qingshan": 70, "yibao": 70, "shuiwu": 80},
        Component.third_party: {"donghe": 80, "qingshan": 60, "yibao": 70, "shuiwu": 100},
    }.items():
        await import_totals(session, "2026H2", component, scores)


async def _activate(session: AsyncSession, code: str) -> None:
    unit = (await session.exec(select(Unit).where(Unit.code == code))).one()
    unit.active = True
    session.add(unit)
    await session.flush()


@pytest.fixture
async def seeded(session: AsyncSession) -> AsyncSession:
    await seed(session)
    await seed_components(session)
    return session


def by_code(results: list[HalfResult]) -> dict[str, HalfResult]:
    return {r.unit.code: r for r in results}


class TestHandComputed:
    async def test_first_half(self, seeded: AsyncSession) -> None:
        report = await service.score_period(
            session=seeded, period="2026H1", method=load_method(), tz=TZ, computed_at=AT
        )
        r = by_code(report.halves["2026H1"])

        dh = r["donghe"]
        assert dh.sources[Source.rating].score == pytest.approx(75.0, abs=0.01)
        assert dh.sources[Source.rating].n == 4  # the upheld 申诉 is not counted
        assert dh.sources[Source.survey].score == pytest.approx(62.5, abs=0.01)
        assert dh.sources[Source.survey].n == 2  # the 07-02 answer is not counted
        assert dh.opinion is not None
        assert dh.opinion.score == pytest.approx((75 + 62.5) / 2, abs=0.01)  # 68.75
        assert dh.components[Component.monitoring] == pytest.approx(80)
        # 0.6 × 80 + 0.2 × 90 + 0.1 × 68.75 + 0.1 × 70 = 48 + 18 + 6.875 + 7 = 79.875
        assert dh.total is not None
        assert dh.total.score == pytest.approx(79.875, abs=0.01)
        # 0.6 × 70 + 0.2 × 80 + 0.1 × 75 + 0.1 × 90 = 42 + 16 + 7.5 + 9 = 74.5
        assert r["qingshan"].total is not None
        assert r["qingshan"].total.score == pytest.approx(74.5, abs=0.01)
        # 0.6 × 90 + 0.2 × 60 + 0.1 × 75 + 0.1 × 80 = 54 + 12 + 7.5 + 8 = 81.5
        assert r["yibao"].total is not None
        assert r["yibao"].total.score == pytest.approx(81.5, abs=0.01)
        sw = r["shuiwu"]
        assert sw.opinion is not None
        assert sw.opinion.score == pytest.approx(50.0, abs=0.01)
        assert sw.opinion.n == 2  # default and replaced ratings left out
        assert sw.components[Component.field] is None  # missing, never 0
        assert sw.total is None
        assert sw.missing == ("实地调研：未导入",)

        placings = {code: (x.placing.rank if x.placing else None) for code, x in r.items()}
        assert placings == {"donghe": 1, "qingshan": 2, "yibao": 1, "shuiwu": None}
        assert all(x.small_sample for x in r.values())  # far below 385 answers

    async def test_second_half(self, seeded: AsyncSession) -> None:
        report = await service.score_period(
            session=seeded, period="2026H2", method=load_method(), tz=TZ, computed_at=AT
        )
        r = by_code(report.halves["2026H2"])

        totals = {code: x.total.score if x.total else None for code, x in r.items()}
        assert totals == pytest.approx({
            "donghe": 54 + 16 + 10 + 8,  # 88.0: 民意 100
            "qingshan": 48 + 14 + 6.25 + 6,  # 74.25: 民意 (25 + 100) / 2 = 62.5
            "yibao": 42 + 14 + 5 + 7,  # 68.0: 民意 50
            "shuiwu": 36 + 16 + 7.5 + 10,  # 69.5: 民意 75
        }, abs=0.01)  # fmt: skip
        ranks = {code: x.placing.rank if x.placing else None for code, x in r.items()}
        assert ranks == {"donghe": 1, "qingshan": 2, "shuiwu": 1, "yibao": 2}

    async def test_year(self, seeded: AsyncSession) -> None:
        report = await service.score_year(
            session=seeded, year=2026, method=load_method(), tz=TZ, computed_at=AT
        )
        assert report.year is not None
        y: dict[str, YearResult] = {r.unit.code: r for r in report.year}

        annual = {code: r.annual.score if r.annual else None for code, r in y.items()}
        assert annual == pytest.approx({
            "donghe": (79.875 + 88) / 2,  # 83.9375
            "qingshan": (74.5 + 74.25) / 2,  # 74.375
            "yibao": (81.5 + 68) / 2,  # 74.75
            "shuiwu": None,  # 2026H1 is missing, so the year is too
        }, abs=0.01)  # fmt: skip
        assert y["shuiwu"].missing == ("2026H1：半年分缺失",)
        ranks = {code: r.placing.rank if r.placing else None for code, r in y.items()}
        assert ranks == {"donghe": 1, "qingshan": 2, "yibao": 1, "shuiwu": None}
