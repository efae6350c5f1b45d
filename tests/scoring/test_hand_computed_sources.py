"""A half-year of all of 民意 worked out by hand: surveys counted in people, 好差评 with one
re-rated 办件, 12345 回访 and an outside poll, ranked in the configured groups.

Every input enters through the path the office uses (the rating push, the 回访 ingestion, the
outside results import, the component imports), then ``scoring.service.score_period``.

The method file as shipped: method A (100/75/50/25/0), equal weights over the sources a unit
has, 12345 score = 30% 联系率 + 35% 解决率 + 35% 满意率, half-year score = 日常监测 × 0.6 +
实地调研 × 0.2 + 民意调查 × 0.1 + 第三方评估 × 0.1, 旗县区 and 高新区 ranked together.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scoring import service
from scoring.compute import HalfResult
from scoring.method import Source, load_method
from scoring.models import Component
from scoring.outside import store_table
from surveys.accounts.access import Actor, StaffRole
from surveys.accounts.models import Unit, UnitKind
from surveys.cases import service as cases
from surveys.cases import workdays
from surveys.cases.models import FollowUpCase
from surveys.core.models import pk
from surveys.haochaping import ratings
from surveys.haochaping.models import Rating, RatingSource, ServiceEvent
from surveys.haochaping.ratings import RatingIn
from surveys.hotline import visits
from surveys.hotline.models import VisitSource
from surveys.questionnaire.definitions import Level
from surveys.questionnaire.models import (
    Answer,
    Respondent,
    Response,
    ResponseStatus,
    SurveyVersion,
)

from .helpers import TZ, add_unit, import_totals, survey_version

VS, S, N, D, VD = Level  # very_satisfied … very_dissatisfied
PERIOD = "2026H2"
NOW = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)
AT = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)
ADMIN = Actor(name="admin", role=StaffRole.admin, units=None)
POLICY = workdays.DeadlinePolicy(contact_days=1, rectify_days=5)
_ids = itertools.count(1)


async def person(
    session: AsyncSession, version: SurveyVersion, unit: Unit, answers: dict[str, Level]
) -> None:
    """One respondent's finished survey with ``answers`` (question key → level)."""
    respondent = Respondent(pseudonym=f"hand{next(_ids)}")
    session.add(respondent)
    await session.flush()
    response = Response(
        respondent_id=pk(respondent), survey_id=version.survey_id,
        survey_version_id=pk(version), period=PERIOD, unit_id=pk(unit),
        status=ResponseStatus.completed,
    )  # fmt: skip
    session.add(response)
    await session.flush()
    for key, level in answers.items():
        session.add(Answer(response_id=pk(response), question_key=key, choice=level.value,
                           answered_at=datetime(2026, 10, 15, 2, tzinfo=UTC)))  # fmt: skip
    await session.flush()


async def push(session: AsyncSession, *items: dict[str, Any]) -> None:
    """``POST /api/v1/ratings``' domain path: ingestion, then a case per counted 差评."""
    result = await ratings.ingest(
        session=session, items=[RatingIn.model_validate(i) for i in items],
        source=RatingSource.api, tz=TZ, now=NOW, grace_days=15,
    )  # fmt: skip
    calendar = await workdays.load_calendar(session=session, tz=TZ)
    for rating in result.created:
        await cases.open_case(session=session, rating=rating, calendar=calendar, policy=POLICY)


def rating(source_id: str, unit: str, level: str, **fields: Any) -> dict[str, Any]:
    return {"source_id": source_id, "unit": unit, "level": level, "channel": 4,
            "rated_at": "2026-11-02T10:00:00+08:00", **fields}  # fmt: skip


async def hotline(session: AsyncSession, *records: dict[str, Any]) -> visits.Ingested:
    return await visits.ingest_visits(
        session=session, rows=list(records), source=VisitSource.api, actor=ADMIN, tz=TZ,
        now=NOW, grace_days=15, policy=POLICY, locate=str, name="test",
    )  # fmt: skip


# 2026-11-20 is a Friday; 11-23 and 11-24 are working days.
ANSWERED_CALLS = [
    {"at": "2026-11-23T09:10:00+08:00", "outcome": "无人接听"},
    {"at": "2026-11-23T15:40:00+08:00", "outcome": "接通"},
]


def visit(ticket: str, unit: str, **answers: Any) -> dict[str, Any]:
    return {"ticket_no": ticket, "unit": unit, "item_name": "供暖不热",
            "finished_at": "2026-11-20T16:30:00+08:00", "attempts": ANSWERED_CALLS,
            **answers}  # fmt: skip


UNREACHABLE_CALLS = [  # 3 calls over 2 working days: 无法联系 as domain.md §6 allows
    {"at": "2026-11-23T09:00:00+08:00", "outcome": "no_answer"},
    {"at": "2026-11-23T16:00:00+08:00", "outcome": "busy"},
    {"at": "2026-11-24T10:00:00+08:00", "outcome": "关机"},
]


async def seed(session: AsyncSession) -> None:
    dh = await add_unit(session, "donghe", "东河区", UnitKind.district)
    qs = await add_unit(session, "qingshan", "青山区", UnitKind.district)
    xt = await add_unit(session, "xitu", "稀土高新区", UnitKind.hightech)
    yb = await add_unit(session, "yibao", "市医保局", UnitKind.department)
    for n in (1, 2):
        session.add(ServiceEvent(
            case_no=f"BJ-{n}", item_code="11150200MB", item_name="不动产登记", unit_id=pk(dh),
            channel=4, finished_at=datetime(2026, 10, 30, 2, tzinfo=UTC), link_token=f"hand-{n}",
        ))  # fmt: skip
    await session.flush()
    version = await survey_version(session, PERIOD, keys=("overall", "speed", "staff"))

    # 东河区 -------------------------------------------------------------------------------
    # Survey, three people, six answers; each person's answers are averaged first:
    #   P1 非常满意 + 基本满意 = (100 + 50) / 2 = 75;  P2 非常不满意 = 0;
    #   P3 满意 + 满意 + 非常满意 = (75 + 75 + 100) / 3 = 83.333
    #   score = (75 + 0 + 83.333) / 3 = 52.778, n = 3 people (answers alone: 400 / 6 = 66.67).
    await person(session, version, dh, {"overall": VS, "speed": N})
    await person(session, version, dh, {"overall": VD})
    await person(session, version, dh, {"overall": S, "speed": S, "staff": VS})
    # 好差评: 办件 BJ-1 rated 不满意 (25), re-rated 满意 (75) after 整改 as round 2; BJ-2
    # 非常满意 (100). The latest round counts: (75 + 100) / 2 = 87.5, n = 2 办件.
    await push(session, rating("R-1", "donghe", "dissatisfied", case_no="BJ-1"))
    await push(session, rating("R-2", "donghe", "satisfied", case_no="BJ-1", round=2,
                               rated_at="2026-11-12T10:00:00+08:00"))  # fmt: skip
    await push(session, rating("R-3", "donghe", "very_satisfied", case_no="BJ-2"))
    # 12345 回访, four 工单: three reached, one 无法联系 after 3 calls on 2 working days.
    #   联系率 = 联系 2 / 接通 3;  解决率 = 解决 1 / 作答 3;  满意率 = (满意 1 + 基本满意 1) / 3
    #   score = 100 × (0.30 × 2/3 + 0.35 × 1/3 + 0.35 × 2/3) = 20 + 11.667 + 23.333 = 55.0
    #   n = 3 people who answered.
    await hotline(
        session,
        visit("GD-1", "donghe", contacted=True, resolved=True, satisfaction="满意"),
        visit("GD-2", "donghe", contacted=True, resolved=False, satisfaction="基本满意"),
        visit("GD-3", "donghe", contacted=False, resolved=False, satisfaction="不满意"),
        visit("GD-4", "donghe", attempts=UNREACHABLE_CALLS, outcome="无法联系"),
    )
    # Outside poll (蒙速办): 80 with 100 people.

    # 青山区: 好差评 2 × 满意 = 75 (n 2); outside poll 90 (n 50).
    await push(session, rating("R-4", "qingshan", "satisfied"),
               rating("R-5", "qingshan", "satisfied"))  # fmt: skip

    # 稀土高新区: 好差评 非常满意 + 基本满意 = (100 + 50) / 2 = 75 (n 2); one 回访, all yes and
    # 满意: 100 (n 1).
    await push(session, rating("R-6", "xitu", "very_satisfied"), rating("R-7", "xitu", "neutral"))
    await hotline(session, visit("GD-5", "xitu", contacted=True, resolved=True,
                                 satisfaction="满意"))  # fmt: skip

    # 市医保局: one person's survey 基本满意 = 50 (n 1); 好差评 不满意 = 25 (n 1).
    await person(session, version, yb, {"overall": N})
    await push(session, rating("R-8", "yibao", "dissatisfied"))

    await store_table(
        session=session,
        rows=[["单位编码", "得分", "样本量"], ["donghe", "80", "100"], ["qingshan", "90", "50"]],
        period=PERIOD, source_name="蒙速办满意度", method_note="蒙速办评价页满意度，百分制",
        actor="test", now=NOW,
    )  # fmt: skip
    # The other three components: 80 for every unit, so a half-year score = 72 + 民意 / 10.
    for component in (Component.monitoring, Component.field, Component.third_party):
        scores = {"donghe": 80.0, "qingshan": 80.0, "xitu": 80.0, "yibao": 80.0}
        await import_totals(session, PERIOD, component, scores)
    del qs, xt


@pytest.fixture
async def seeded(session: AsyncSession) -> AsyncSession:
    await seed(session)
    return session


def by_code(results: list[HalfResult]) -> dict[str, HalfResult]:
    return {r.unit.code: r for r in results}


def sources(result: HalfResult) -> dict[Source, tuple[float, int]]:
    return {s: (round(e.score, 2), e.n) for s, e in result.sources.items()}


class TestAllOfOpinionByHand:
    @pytest.fixture
    async def results(self, seeded: AsyncSession) -> dict[str, HalfResult]:
        report = await service.score_period(
            session=seeded, period=PERIOD, method=load_method(), tz=TZ, computed_at=AT
        )
        return by_code(report.halves[PERIOD])

    async def test_each_source_of_each_unit(self, results: dict[str, HalfResult]) -> None:
        assert sources(results["donghe"]) == {
            Source.survey: (52.78, 3),  # people, not 6 answers
            Source.rating: (87.5, 2),  # BJ-1's round 2 only
            Source.hotline: (55.0, 3),
            Source.outside: (80.0, 100),
        }
        assert sources(results["qingshan"]) == {Source.rating: (75.0, 2),
                                                Source.outside: (90.0, 50)}  # fmt: skip
        assert sources(results["xitu"]) == {Source.rating: (75.0, 2), Source.hotline: (100.0, 1)}
        assert sources(results["yibao"]) == {Source.survey: (50.0, 1), Source.rating: (25.0, 1)}

    async def test_opinion_is_the_equal_weight_mean_over_the_sources_a_unit_has(
        self, results: dict[str, HalfResult]
    ) -> None:
        opinion = {code: (round(r.opinion.score, 2), r.opinion.n)
                   for code, r in results.items() if r.opinion}  # fmt: skip
        assert opinion == {
            # (52.778 + 87.5 + 55 + 80) / 4 = 275.278 / 4 = 68.82; n = 3 + 2 + 3 + 100
            "donghe": (68.82, 108),
            "qingshan": (82.5, 52),  # (75 + 90) / 2
            "xitu": (87.5, 3),  # (75 + 100) / 2
            "yibao": (37.5, 2),  # (50 + 25) / 2
        }
        assert all(r.small_sample for r in results.values())  # every n is below 385

    async def test_half_year_scores_and_ranks_in_the_configured_groups(
        self, results: dict[str, HalfResult]
    ) -> None:
        totals = {code: round(r.total.score, 2) for code, r in results.items() if r.total}
        assert totals == {
            "donghe": 78.88,  # 72 + 6.882
            "qingshan": 80.25,  # 72 + 8.25
            "xitu": 80.75,  # 72 + 8.75
            "yibao": 75.75,  # 72 + 3.75
        }
        # 稀土高新区 is ranked with the 旗县区 (seed 000), 市医保局 apart.
        placed = {code: (r.group, r.placing.rank if r.placing else None)
                  for code, r in results.items()}  # fmt: skip
        assert placed == {
            "xitu": ("旗县区和高新区", 1),
            "qingshan": ("旗县区和高新区", 2),
            "donghe": ("旗县区和高新区", 3),
            "yibao": ("市直部门", 1),
        }

    async def test_the_rerated_banjian_keeps_its_first_round_as_history(
        self, seeded: AsyncSession
    ) -> None:
        statement = select(Rating.source_id, Rating.round, Rating.active).where(
            col(Rating.source_id).in_(["R-1", "R-2"])
        )
        found = sorted((await seeded.exec(statement)).all())
        assert found == [("R-1", 1, False), ("R-2", 2, True)]

    async def test_the_dissatisfied_visit_opened_a_case(self, seeded: AsyncSession) -> None:
        statement = (
            select(Rating.source_id, Rating.source)
            .join(FollowUpCase, col(FollowUpCase.rating_id) == col(Rating.id))
            .order_by(col(Rating.source_id))
        )
        opened = (await seeded.exec(statement)).all()
        # R-1 (BJ-1's first round) and R-8 from ratings, GD-3 from the 回访.
        assert [(source_id, str(source)) for source_id, source in opened] == [
            ("GD-3#1", RatingSource.hotline.value),
            ("R-1", RatingSource.api.value),
            ("R-8", RatingSource.api.value),
        ]
