"""Demo activity and demo monitoring files: coverage, idempotence, determinism, no identities."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import SQLModel, col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scoring.demo import activity as demo_scores
from scoring.demo import generate as demo_data
from scoring.demo import survey as demo
from scoring.demo.generate import (
    AREA_HEADER,
    DEMO_PREFIX,
    DEMO_SOURCE,
    MONITORING_COMPONENTS,
    TOTAL_HEADER,
    DemoActivity,
    demo_monitoring_csv,
    demo_monitoring_files,
    demo_monitoring_rows,
    demo_periods,
    load_demo_activity,
)
from surveys.accounts import units
from surveys.accounts.models import StaffUser, Unit, UnitKind
from surveys.cases.models import CaseEvent, FollowUpCase
from surveys.cases.workdays import DeadlinePolicy
from surveys.core.db import SessionMaker, create_engine, create_sessionmaker, unit_of_work
from surveys.core.settings import DEFAULT_RATING_REASONS
from surveys.haochaping.models import Rating
from surveys.questionnaire.definitions import AREAS, Level, QuestionType
from surveys.questionnaire.engine import visible
from surveys.questionnaire.models import (
    Answer,
    Identity,
    Respondent,
    Response,
    ResponseStatus,
    Survey,
)

TODAY = date(2026, 11, 23)
NOW = datetime(2026, 11, 23, 2, tzinfo=UTC)
TZ = ZoneInfo("Asia/Shanghai")
PERIODS = ("2026H1", "2026H2")
BAD = {Level.dissatisfied.value, Level.very_dissatisfied.value}


async def _load_units(sessionmaker: SessionMaker) -> None:
    parsed = units.parse_units_csv(demo.UNITS_CSV.read_text("utf-8"), source="units.csv")
    async with unit_of_work(sessionmaker) as session:
        await units.upsert_units(session=session, units=parsed)


async def _load(sessionmaker: SessionMaker, seed: int = 7) -> DemoActivity:
    async with unit_of_work(sessionmaker) as session:
        return await load_demo_activity(session=session, today=TODAY, seed=seed)


async def _count(session: AsyncSession, model: type) -> int:
    return (await session.exec(select(func.count()).select_from(model))).one()


@pytest.fixture
async def loaded(sessionmaker: SessionMaker) -> DemoActivity:
    await _load_units(sessionmaker)
    return await _load(sessionmaker)


class TestPeriods:
    @pytest.mark.parametrize(
        ("today", "expected"),
        [
            (date(2026, 11, 23), ("2026H1", "2026H2")),
            (date(2026, 7, 1), ("2026H1", "2026H2")),
            (date(2026, 6, 30), ("2025H2", "2026H1")),
            (date(2027, 1, 1), ("2026H2", "2027H1")),
        ],
    )
    def test_previous_and_current_half(self, today: date, expected: tuple[str, str]) -> None:
        assert demo_periods(today) == expected


class TestLoadDemoActivity:
    async def test_reports_what_it_added(
        self, loaded: DemoActivity, session: AsyncSession
    ) -> None:
        assert loaded.periods == PERIODS
        assert loaded.units == 35
        assert loaded.ratings == await _count(session, Rating)
        assert loaded.respondents == loaded.responses == await _count(session, Response)
        assert loaded.answers == await _count(session, Answer)

    async def test_every_active_unit_has_ratings_in_both_halves(
        self, loaded: DemoActivity, session: AsyncSession
    ) -> None:
        counts = await _counted_ratings(session)
        unit_ids = (await session.exec(select(Unit.id))).all()
        for period in PERIODS:
            per_unit = [counts.get((period, unit_id), 0) for unit_id in unit_ids]
            assert min(per_unit) >= 50, period
            assert max(per_unit) <= 420, period

    async def test_every_active_unit_has_completed_responses_in_both_halves(
        self, loaded: DemoActivity, session: AsyncSession
    ) -> None:
        rows = (
            await session.exec(
                select(Response.period, Response.unit_id, func.count())
                .where(Response.status == ResponseStatus.completed)
                .group_by(col(Response.period), col(Response.unit_id))
            )
        ).all()
        unit_ids = set((await session.exec(select(Unit.id))).all())
        for period in PERIODS:
            assert {u for p, u, n in rows if p == period and n >= 20} == unit_ids

    async def test_inactive_units_get_nothing(self, sessionmaker: SessionMaker) -> None:
        await _load_units(sessionmaker)
        async with unit_of_work(sessionmaker) as session:
            unit = (await session.exec(select(Unit).where(Unit.code == "xcb"))).one()
            unit.active = False
            session.add(unit)
        activity = await _load(sessionmaker)
        async with sessionmaker() as session:
            assert activity.units == 34
            assert not (await session.exec(select(Rating).where(Rating.unit_id == unit.id))).all()

    async def test_units_differ_clearly(self, loaded: DemoActivity, session: AsyncSession) -> None:
        rows = (
            await session.exec(
                select(Rating.unit_id, Rating.level).where(
                    Rating.period == "2026H1",
                    col(Rating.active).is_(True),
                    col(Rating.is_default).is_(False),
                    col(Rating.excluded).is_(False),
                )
            )
        ).all()
        points = {lv.value: 100 - 25 * i for i, lv in enumerate(Level)}
        by_unit: dict[int, list[int]] = {}
        for unit_id, level in rows:
            by_unit.setdefault(unit_id, []).append(points[level])
        means = sorted(sum(v) / len(v) for v in by_unit.values())
        assert means[-1] - means[0] >= 10

    async def test_ratings_fit_their_period(
        self, loaded: DemoActivity, session: AsyncSession
    ) -> None:
        ratings = (await session.exec(select(Rating))).all()
        for rating in ratings:
            assert rating.source == DEMO_SOURCE
            assert rating.source_id.startswith(f"{DEMO_PREFIX}")
            assert f"-{rating.period}-" in rating.source_id
            assert rating.level in {lv.value for lv in Level}
            assert 1 <= rating.channel <= 7
        assert all(r.period in PERIODS for r in ratings)
        h2 = [r.rated_at for r in ratings if r.period == "2026H2"]
        assert max(h2).date() < TODAY  # nothing rated after yesterday

    async def test_special_ratings_are_present(
        self, loaded: DemoActivity, session: AsyncSession
    ) -> None:
        ratings = (await session.exec(select(Rating))).all()
        defaults = [r for r in ratings if r.is_default]
        bad = [r for r in ratings if r.level in BAD and not r.is_default]
        # Appeals are only planned here: a rating is excluded by its case (test_demo_story).
        assert not [r for r in ratings if r.excluded]
        by_source = {r.source_id: r for r in ratings}
        assert loaded.appeals
        assert all(by_source[s].level in BAD and by_source[s].round == 1 for s in loaded.appeals)
        per_unit = Counter((by_source[s].unit_id, by_source[s].period) for s in loaded.appeals)
        assert max(per_unit.values()) <= demo_data.MAX_EXCLUDED
        assert defaults
        assert all(r.channel == 7 for r in defaults)
        assert len(defaults) < 0.05 * len(ratings)
        assert bad
        assert all(r.reasons for r in bad)
        assert {reason for r in bad for reason in r.reasons} <= set(DEFAULT_RATING_REASONS)
        assert all(r.item_name for r in ratings)

    async def test_a_rerated_case_keeps_the_first_round_inactive(
        self, loaded: DemoActivity, session: AsyncSession
    ) -> None:
        ratings = {r.source_id: r for r in (await session.exec(select(Rating))).all()}
        second = [r for r in ratings.values() if r.round == 2]
        assert second
        for rating in second:
            first = ratings[rating.source_id.removesuffix("-2")]
            assert (first.round, first.active, first.level in BAD) == (1, False, True)
            assert rating.active
            assert rating.period == first.period
            assert rating.rated_at >= first.rated_at

    async def test_answers_follow_the_survey(
        self, loaded: DemoActivity, session: AsyncSession
    ) -> None:
        for period in PERIODS:
            survey = (
                await session.exec(select(Survey).where(Survey.code == f"szzf-{period.lower()}"))
            ).one()
            responses = (
                await session.exec(select(Response).where(Response.survey_id == survey.id))
            ).all()
            assert responses
            assert all(r.period == period for r in responses)
        definition = demo.demo_survey(TODAY)
        answers = (await session.exec(select(Answer))).all()
        by_response: dict[int, dict[str, Answer]] = {}
        for answer in answers:
            by_response.setdefault(answer.response_id, {})[answer.question_key] = answer
        for rows in list(by_response.values())[:300]:
            given = {k: _value(a) for k, a in rows.items()}
            shown = {}
            for question in definition.questions:
                if visible(question, shown):
                    shown[question.key] = given[question.key]
            assert shown == given
        satisfaction = {q.key for q in definition.questions if q.type is QuestionType.satisfaction}
        for answer in answers:
            if answer.question_key in satisfaction:
                assert answer.number == Level(answer.choice or "").score

    async def test_no_personal_data(self, loaded: DemoActivity, session: AsyncSession) -> None:
        assert await _count(session, Identity) == 0
        names = (await session.exec(select(Respondent.pseudonym))).all()
        assert all(len(name) == 64 and int(name, 16) >= 0 for name in names)
        ratings = (await session.exec(select(Rating))).all()
        assert all(r.respondent_id is None for r in ratings)
        texts = await session.exec(select(Answer.text).where(col(Answer.text).is_not(None)))
        assert set(texts.all()) <= set(demo_data.SUGGESTIONS)

    async def test_second_call_adds_nothing(
        self, loaded: DemoActivity, sessionmaker: SessionMaker
    ) -> None:
        again = await _load(sessionmaker)
        assert again == DemoActivity(PERIODS, 35, 0, 0, 0, 0)
        async with sessionmaker() as session:
            assert await _count(session, Rating) == loaded.ratings
            assert await _count(session, Answer) == loaded.answers
            assert await _count(session, Survey) == 2

    async def test_service_does_not_commit(self, sessionmaker: SessionMaker) -> None:
        await _load_units(sessionmaker)
        async with sessionmaker() as session:
            await load_demo_activity(session=session, today=TODAY)
            await session.rollback()
        async with sessionmaker() as session:
            assert await _count(session, Rating) == 0


async def _counted_ratings(session: AsyncSession) -> dict[tuple[str, int], int]:
    rows = (
        await session.exec(
            select(Rating.period, Rating.unit_id, func.count())
            .where(col(Rating.active).is_(True), col(Rating.is_default).is_(False))
            .group_by(col(Rating.period), col(Rating.unit_id))
        )
    ).all()
    return {(period, unit_id): n for period, unit_id, n in rows}


def _value(answer: Answer) -> object:
    if answer.skipped:
        return None
    if answer.choices is not None:
        return list(answer.choices)
    if answer.text is not None:
        return answer.text
    if answer.choice is not None:
        return answer.choice
    return answer.number


async def _snapshot(sessionmaker: SessionMaker, seed: int) -> list[tuple[object, ...]]:
    """The demo's ratings, answers, cases and their timelines, with the cases' staff."""
    await _load_units(sessionmaker)
    async with unit_of_work(sessionmaker) as session:
        await demo_scores.load(session=session, today=TODAY, now=NOW, tz=TZ,
                               policy=DeadlinePolicy(), seed=seed)  # fmt: skip
    async with sessionmaker() as session:
        ratings = await session.exec(
            select(
                Rating.source_id,
                Rating.unit_id,
                Rating.level,
                Rating.channel,
                Rating.rated_at,
                Rating.excluded,
                Rating.is_default,
                Rating.active,
            ).order_by(col(Rating.source_id))
        )
        rows: list[tuple[object, ...]] = [tuple(r) for r in ratings.all()]
        answers = (
            await session.exec(
                select(Respondent.pseudonym, Answer.question_key, Answer.choice, Answer.number)
                .join(Response, col(Response.respondent_id) == col(Respondent.id))
                .join(Answer, col(Answer.response_id) == col(Response.id))
                .order_by(col(Respondent.pseudonym), col(Answer.question_key))
            )
        ).all()
        cases = (
            await session.exec(
                select(Rating.source_id, FollowUpCase, StaffUser.username)
                .join(FollowUpCase, col(FollowUpCase.rating_id) == col(Rating.id))
                .outerjoin(StaffUser, col(StaffUser.id) == col(FollowUpCase.assignee_id))
                .order_by(col(Rating.source_id))
            )
        ).all()
        events = (
            await session.exec(
                select(Rating.source_id, CaseEvent)
                .join(FollowUpCase, col(FollowUpCase.rating_id) == col(Rating.id))
                .join(CaseEvent, col(CaseEvent.case_id) == col(FollowUpCase.id))
                .order_by(col(Rating.source_id), col(CaseEvent.id))
            )
        ).all()
        return [
            *rows,
            *(tuple(a) for a in answers),
            *((source, _fields(case, "id", "rating_id"), who) for source, case, who in cases),
            *((source, _fields(event, "id", "case_id")) for source, event in events),
        ]


def _fields(row: SQLModel, *leave_out: str) -> tuple[object, ...]:
    names = [name for name in type(row).model_fields if name not in leave_out]
    return tuple(getattr(row, name) for name in names)


class TestDeterminism:
    async def test_same_seed_same_data(self, sessionmaker: SessionMaker, tmp_path: Path) -> None:
        first = await _snapshot(sessionmaker, seed=7)
        second = await _snapshot_in_fresh_db(tmp_path, seed=7)
        assert first == second

    def test_other_seed_other_data(self) -> None:
        unit = Unit(id=1, code="kundulun", name="昆都仑区", kind=UnitKind.district)
        days = (date(2026, 1, 1), date(2026, 6, 30))
        definition = demo.demo_survey(days[0])

        def made(seed: int) -> tuple[object, object]:
            return (
                demo_data._rating_rows(unit, "2026H1", days, seed),
                [r.answers for r in demo_data._responses(unit, "2026H1", days, definition, seed)],
            )

        assert made(7) == made(7)
        assert made(7) != made(8)


async def _snapshot_in_fresh_db(tmp_path: Path, seed: int) -> list[tuple[object, ...]]:
    engine = create_engine(f"sqlite+aiosqlite:///{(tmp_path / 'other.db').as_posix()}")
    async with engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.create_all)
    try:
        return await _snapshot(create_sessionmaker(engine), seed)
    finally:
        await engine.dispose()


class TestMonitoring:
    @pytest.mark.parametrize("period", PERIODS)
    @pytest.mark.parametrize("component", list(MONITORING_COMPONENTS))
    def test_packaged_files_match_the_generator(self, period: str, component: str) -> None:
        path = demo_data.DATA_DIR / f"demo_{component}_{period}.csv"
        assert path.read_text("utf-8") == demo_monitoring_csv(period, component)

    def test_both_layouts_are_used(self) -> None:
        headers = {tuple(demo_monitoring_rows("2026H1", c)[0]) for c in MONITORING_COMPONENTS}
        assert headers == {AREA_HEADER, TOTAL_HEADER}
        assert AREA_HEADER[2:] == tuple(AREAS)

    @pytest.mark.parametrize("component", list(MONITORING_COMPONENTS))
    def test_every_demo_unit_once_with_scores_in_range(self, component: str) -> None:
        rows = demo_monitoring_rows("2026H2", component)
        codes = [row["单位编码"] for row in rows]
        assert codes == [u.code for u in demo_data.demo_units()]
        for row in rows:
            if "总分" in row:
                assert 0 <= float(row["总分"]) <= 100
                continue
            for area, points in AREAS.items():
                assert 0 <= float(row[area]) <= points
            assert sum(float(row[a]) for a in AREAS) <= 100

    def test_scores_are_plausible_and_spread(self) -> None:
        totals = [
            sum(float(v) for k, v in row.items() if k in AREAS)
            for row in demo_monitoring_rows("2026H1", "daily")
        ]
        assert min(totals) >= 55
        assert max(totals) <= 100
        assert max(totals) - min(totals) >= 10

    def test_deterministic_and_seeded(self) -> None:
        assert demo_monitoring_rows("2026H1", "third") == demo_monitoring_rows("2026H1", "third")
        assert demo_monitoring_rows("2026H1", "third") != demo_monitoring_rows("2026H2", "third")
        assert demo_monitoring_rows("2026H1", "third", seed=8) != demo_monitoring_rows(
            "2026H1", "third"
        )

    def test_unknown_component(self) -> None:
        with pytest.raises(ValueError, match="unknown monitoring component"):
            demo_monitoring_rows("2026H1", "yearly")

    def test_files_for_2026_are_the_packaged_ones(self) -> None:
        files = demo_monitoring_files(TODAY)
        assert [(p.name, period, c) for p, period, c in files] == [
            (f"demo_{code}_{period}.csv", period, chinese)
            for period in PERIODS
            for code, chinese in MONITORING_COMPONENTS.items()
        ]
        assert all(p.parent == demo_data.DATA_DIR for p, _, _ in files)

    def test_files_for_other_periods_are_written(self, tmp_path: Path) -> None:
        files = demo_monitoring_files(date(2027, 3, 1), out_dir=tmp_path)
        assert Counter(period for _, period, _ in files) == {"2026H2": 3, "2027H1": 3}
        written = [p for p, period, _ in files if period == "2027H1"]
        assert all(p.parent == tmp_path for p in written)
        for path in written:
            rows = list(csv.DictReader(io.StringIO(path.read_text("utf-8"))))
            assert len(rows) == 35

    def test_rows_for_other_units(self) -> None:
        extra = [Unit(code="bench01", name="基准测试单位01", kind=UnitKind.department)]
        (row,) = demo_monitoring_rows("2026H1", "field", units=extra)
        assert row["单位编码"] == "bench01"
        assert 0 <= float(row["总分"]) <= 100
