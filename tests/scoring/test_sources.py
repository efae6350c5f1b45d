"""n counts people: the survey per respondent, 12345 回访, outside results, their combination,
the design effect, and ranking groups; each case computed by hand in its comments."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from scoring import service
from scoring.aggregate import gather_inputs, rating_counts, survey_tallies
from scoring.compute import (
    Estimate,
    OutsideInput,
    SurveyTally,
    UnitInput,
    UnitRef,
    design_effect,
    hotline_estimate,
    outside_estimate,
    score_half,
    score_year,
    survey_estimate,
    z_value,
)
from scoring.method import HotlineRate, Source, load_method, parse_method
from scoring.models import OutsideImport, OutsideScore
from surveys.accounts.models import Unit, UnitKind
from surveys.core.exceptions import InvalidFile
from surveys.core.models import pk
from surveys.haochaping.models import Rating, RatingSource
from surveys.hotline.models import HotlineVisit, VisitOutcome, VisitSatisfaction, VisitSource
from surveys.hotline.tally import HotlineTally
from surveys.questionnaire.definitions import Level
from surveys.questionnaire.models import (
    Answer,
    Respondent,
    Response,
    ResponseStatus,
    SurveyVersion,
)

from .helpers import TZ, add_ratings, add_unit, mid, survey_version

Z = z_value(0.95)  # 1.959964
BASE = load_method()
SHIPPED = Path(load_method.__code__.co_filename).with_name("method.yaml").read_text("utf-8")
RATES = {HotlineRate.contact: 0.30, HotlineRate.resolved: 0.35, HotlineRate.satisfied: 0.35}
VS, S, N, D, VD = Level
_ids = itertools.count(1)

# Three respondents under method A: 甲 answers 100 and 50 (mean 75), 乙 0, 丙 100 and 100.
PEOPLE = [[100.0, 50.0], [0.0], [100.0, 100.0]]


class TestSurveyPerPerson:
    def test_the_tally_sums_per_person(self) -> None:
        tally = SurveyTally.of_people(PEOPLE)
        # R = 3; m = 2, 1, 2; s = 150, 0, 200; y = s / m = 75, 0, 100.
        assert tally == SurveyTally(
            respondents=3, answers=5, points=350, person_points_sq=150**2 + 200**2,
            answers_sq=4 + 1 + 4, points_answers=150 * 2 + 0 + 200 * 2, means=175,
            means_sq=75**2 + 100**2, points_sq=100**2 * 3 + 50**2,
        )  # fmt: skip

    def test_score_is_the_mean_of_person_means_and_n_counts_people(self) -> None:
        estimate = survey_estimate(SurveyTally.of_people(PEOPLE), 0, 100, Z)
        assert estimate is not None
        # (75 + 0 + 100) / 3 = 58.33, not the answers' mean 350 / 5 = 70.
        assert estimate.score == pytest.approx(58.333, abs=0.01)
        assert estimate.n == 3
        # Interval with people as the unit: p = z²/2 = 1.92073 pseudo-people at 0 and at 100,
        # ñ = 3 + 2p = 6.84146, centre c = (175 + 100p) / ñ = 53.654;
        # S = (75 − c)² + (0 − c)² + (100 − c)² + p(c² + (100 − c)²) = 15137.29;
        # half = z·√S / ñ = 35.247, so 18.41 .. 88.90.
        assert estimate.low == pytest.approx(18.41, abs=0.01)
        assert estimate.high == pytest.approx(88.90, abs=0.01)

    def test_one_answer_each_is_the_answer_level_interval(self) -> None:
        from scoring.compute import points_estimate

        points = {VS: 100.0, S: 75.0, N: 50.0, D: 25.0, VD: 0.0}
        by_person = survey_estimate(SurveyTally.of_people([[100], [100], [75], [25]]), 0, 100, Z)
        by_answer = points_estimate({VS: 2, S: 1, D: 1}, points, Z)
        assert by_person is not None
        assert by_answer is not None
        assert (by_person.score, by_person.n) == (by_answer.score, by_answer.n)
        assert by_person.low == pytest.approx(by_answer.low)
        assert by_person.high == pytest.approx(by_answer.high)
        assert by_person.design_effect is None  # nobody gave two answers

    def test_design_effect_by_hand(self) -> None:
        # x̄ = 350 / 5 = 70 (answers). Clustered: Σ (s_i − x̄·m_i)² = (150 − 140)² + (0 − 70)²
        # + (200 − 140)² = 100 + 4900 + 3600 = 8600. Independent: Σ (x − x̄)² = 30² + 20²
        # + 70² + 30² + 30² = 8000. The 1/M² cancels: 8600 / 8000 = 1.075.
        tally = SurveyTally.of_people(PEOPLE)
        assert tally is not None
        assert design_effect(tally) == pytest.approx(1.075)
        estimate = survey_estimate(tally, 0, 100, Z)
        assert estimate is not None
        assert estimate.design_effect == pytest.approx(1.075)

    def test_people_who_answer_alike_have_a_large_design_effect(self) -> None:
        # Two people, four answers each, all 100 or all 0: x̄ = 50; clustered
        # (400 − 200)² + (0 − 200)² = 80000, independent 8 × 50² = 20000: 4, the answers
        # per person, as for perfectly correlated answers.
        tally = SurveyTally.of_people([[100.0] * 4, [0.0] * 4])
        assert tally is not None
        assert design_effect(tally) == pytest.approx(4.0)

    def test_no_design_effect_for_one_person_or_equal_answers(self) -> None:
        one = SurveyTally.of_people([[100.0, 50.0]])
        same = SurveyTally.of_people([[75.0, 75.0], [75.0]])
        assert one is not None
        assert same is not None
        assert design_effect(one) is None
        assert design_effect(same) is None


class TestHotline:
    def test_weighted_rates_by_hand(self) -> None:
        # reached 40, contacted 36, answered 30, resolved 24, 满意 18 + 基本满意 6.
        tally = HotlineTally(visits=45, reached=40, contacted=36, answered=30, resolved=24,
                             satisfied=18, basic=6, dissatisfied=6, short_attempts=0)  # fmt: skip
        estimate = hotline_estimate(tally, RATES, Z)
        assert estimate is not None
        # 100 × (0.30 × 36/40 + 0.35 × 24/30 + 0.35 × 24/30) = 27 + 28 + 28 = 83
        assert estimate.score == pytest.approx(83.0)
        assert estimate.n == 30  # people who answered
        # Wilson half-widths: 0.9 of 40 → (0.96042 − 0.76948) / 2 = 0.095469; 0.8 of 30 →
        # (0.90495 − 0.62694) / 2 = 0.139003 (twice). 100 × √((0.30 × 0.095469)²
        # + 2 × (0.35 × 0.139003)²) = 7.4526: 75.55 .. 90.45.
        assert estimate.low == pytest.approx(75.55, abs=0.01)
        assert estimate.high == pytest.approx(90.45, abs=0.01)

    def test_rates_without_a_denominator_are_left_out(self) -> None:
        # Nobody answered: only 联系率 = 4/5 has a denominator; its weight becomes 1.
        tally = HotlineTally(6, 5, 4, 0, 0, 0, 0, 0, 0)
        estimate = hotline_estimate(tally, RATES, Z)
        assert estimate is not None
        assert estimate.score == pytest.approx(80.0)
        assert estimate.n == 0
        assert hotline_estimate(HotlineTally(3, 0, 0, 0, 0, 0, 0, 0, 0), RATES, Z) is None

    def test_the_weights_come_from_the_method_file(self) -> None:
        text = SHIPPED.replace(
            "hotline_rates: {contact: 0.30, resolved: 0.35, satisfied: 0.35}",
            "hotline_rates: {contact: 0, resolved: 0, satisfied: 1}",
        )
        method = parse_method(text)
        tally = HotlineTally(45, 40, 36, 30, 24, 18, 6, 6, 0)
        item = UnitInput(UnitRef("u", "u", "旗县区"), hotline=tally)
        result = score_half([item], method)[0]
        assert result.sources[Source.hotline].score == pytest.approx(80.0)  # 24 / 30


class TestOutside:
    def test_n_weighted_mean_and_wilson_by_hand(self) -> None:
        results = [OutsideInput("甲", 80, 300), OutsideInput("乙", 90, 100)]
        estimate = outside_estimate(results, Z)
        assert estimate is not None
        # (300 × 80 + 100 × 90) / 400 = 82.5, n = 400; Wilson of 0.825 with n = 400:
        # centre (0.825 + z²/800) / (1 + z²/400) = 0.81911, half 0.03719: 78.47 .. 85.91.
        assert estimate.score == pytest.approx(82.5)
        assert estimate.n == 400
        assert estimate.low == pytest.approx(78.47, abs=0.01)
        assert estimate.high == pytest.approx(85.91, abs=0.01)


class TestCombined:
    def test_weights_over_the_sources_a_unit_has_and_n_in_people(self) -> None:
        text = SHIPPED.replace(
            "source_weights: {survey: 1, rating: 1, hotline: 1, outside: 1}",
            "source_weights: {survey: 2, rating: 1, hotline: 1, outside: 0}",
        )
        method = parse_method(text)
        item = UnitInput(
            UnitRef("u", "u", "旗县区"),
            counts={Source.rating: {VS: 1, N: 1}},
            survey=SurveyTally.of_people(PEOPLE),
            hotline=HotlineTally(45, 40, 36, 30, 24, 18, 6, 6, 0),
            outside=(OutsideInput("甲", 80, 300), OutsideInput("乙", 90, 100)),
        )
        result = score_half([item], method)[0]
        assert set(result.sources) == set(Source)  # every source scored and shown
        assert result.opinion is not None
        # survey 58.333 (n 3), rating (100 + 50) / 2 = 75 (n 2), 12345 83 (n 30); outside
        # weight 0: (2 × 58.333 + 75 + 83) / 4 = 68.667; n = 3 + 2 + 30 = 35 people.
        assert result.opinion.score == pytest.approx(68.667, abs=0.01)
        assert result.opinion.n == 35
        assert result.small_sample  # 35 < 385

    def test_equal_default_weights_over_present_sources(self) -> None:
        item = UnitInput(UnitRef("u", "u", "旗县区"), survey=SurveyTally.of_people(PEOPLE),
                         outside=(OutsideInput("甲", 82.5, 400),))  # fmt: skip
        result = score_half([item], BASE)[0]
        assert result.opinion is not None
        # (58.333 + 82.5) / 2 = 70.417, n = 3 + 400 = 403: not a small sample.
        assert result.opinion.score == pytest.approx(70.417, abs=0.01)
        assert result.opinion.n == 403
        assert not result.small_sample

    def test_level_counts_are_for_ratings_only(self) -> None:
        with pytest.raises(ValueError, match="ratings only"):
            UnitInput(UnitRef("u", "u", "旗县区"), counts={Source.survey: {VS: 1}})


def _rated(code: str, kind: str, levels: dict[Level, int]) -> UnitInput:
    return UnitInput(UnitRef(code, code, kind), counts={Source.rating: levels})


UNITS = [
    _rated("xitu", "高新区", {VS: 40}),  # 100
    _rated("donghe", "旗县区", {S: 40}),  # 75
    _rated("kundu", "旗县区", {N: 40}),  # 50
    _rated("yibao", "市直部门", {D: 40}),  # 25
]


class TestRankingGroups:
    def test_a_development_zone_is_ranked_with_the_districts_by_default(self) -> None:
        results = {r.unit.code: r for r in score_half(UNITS, BASE)}
        ranks = {code: (r.group, r.opinion_placing.rank if r.opinion_placing else None)
                 for code, r in results.items()}  # fmt: skip
        assert ranks == {
            "xitu": ("旗县区和高新区", 1), "donghe": ("旗县区和高新区", 2),
            "kundu": ("旗县区和高新区", 3), "yibao": ("市直部门", 1),
        }  # fmt: skip

    def test_a_grouping_of_the_method_file(self) -> None:
        text = SHIPPED.replace(
            "  旗县区和高新区: [旗县区, 高新区]\n  市直部门: [市直部门]\n",
            "  全市: [市直部门, 旗县区]\n  开发区: [高新区]\n",
        )
        method = parse_method(text)
        results = {r.unit.code: r for r in score_half(UNITS, method)}
        ranks = {code: (r.group, r.opinion_placing.rank if r.opinion_placing else None)
                 for code, r in results.items()}  # fmt: skip
        assert ranks == {
            "xitu": ("开发区", 1), "donghe": ("全市", 1), "kundu": ("全市", 2),
            "yibao": ("全市", 3),
        }  # fmt: skip
        assert method.ranking_groups == {
            "全市": [UnitKind.district, UnitKind.department], "开发区": [UnitKind.hightech],
        }  # fmt: skip

    def test_the_year_is_ranked_in_the_same_groups(self) -> None:
        half = score_half(UNITS, BASE)
        year = {r.unit.code: r for r in score_year(half, half, ("2026H1", "2026H2"))}
        assert year["xitu"].group == "旗县区和高新区"
        # No components imported, so no 年度分 and no rank; the group is still named.
        assert year["xitu"].placing is None

    def test_a_kind_in_no_group_is_refused_by_name(self) -> None:
        text = SHIPPED.replace("  旗县区和高新区: [旗县区, 高新区]\n", "  旗县区: [旗县区]\n")
        with pytest.raises(InvalidFile) as caught:
            parse_method(text, source="m.yaml")
        problems = caught.value.problems
        assert len(problems) == 1
        assert problems[0].startswith("ranking_groups:")
        assert "in no group: 高新区" in problems[0]

    def test_a_kind_in_two_groups_is_refused(self) -> None:
        text = SHIPPED.replace("  市直部门: [市直部门]\n", "  市直部门: [市直部门, 高新区]\n")
        with pytest.raises(InvalidFile) as caught:
            parse_method(text, source="m.yaml")
        assert "高新区 is in both 旗县区和高新区 and 市直部门" in caught.value.problems[0]


# From the database --------------------------------------------------------------------------


async def _person(
    session: AsyncSession, version: SurveyVersion, unit: Unit, answers: dict[str, Level]
) -> None:
    respondent = Respondent(pseudonym=f"sp{next(_ids)}")
    session.add(respondent)
    await session.flush()
    response = Response(respondent_id=pk(respondent), survey_id=version.survey_id,
                        survey_version_id=pk(version), period=version.period, unit_id=pk(unit),
                        status=ResponseStatus.completed)  # fmt: skip
    session.add(response)
    await session.flush()
    for key, level in answers.items():
        session.add(Answer(response_id=pk(response), question_key=key, choice=level.value,
                           answered_at=mid(version.period)))  # fmt: skip
    await session.flush()


async def _visit(session: AsyncSession, unit: Unit, **fields: object) -> None:
    session.add(HotlineVisit(unit_id=pk(unit), ticket_no=f"T{next(_ids)}", item_name="供暖",
                             finished_at=mid("2026H1"), period="2026H1",
                             source=VisitSource.api, **fields))  # type: ignore[arg-type]  # fmt: skip
    await session.flush()


class TestFromTheDatabase:
    async def test_survey_tally_in_sql_equals_the_tally_of_people(
        self, session: AsyncSession
    ) -> None:
        unit = await add_unit(session, "donghe", "东河区", UnitKind.district)
        version = await survey_version(session, "2026H1", keys=("overall", "speed", "staff"))
        await _person(session, version, unit, {"overall": VS, "speed": N})  # 100, 50
        await _person(session, version, unit, {"overall": VD})  # 0
        await _person(session, version, unit, {"overall": VS, "speed": VS, "staff": S})

        found = await survey_tallies(session=session, period="2026H1", method=BASE, tz=TZ)

        expected = SurveyTally.of_people([[100, 50], [0], [100, 100, 75]])
        assert found == {pk(unit): expected}
        # (75 + 0 + 91.667) / 3 = 55.56 with n = 3 people (6 answers).
        estimate = survey_estimate(found[pk(unit)], 0, 100, Z)
        assert estimate is not None
        assert (round(estimate.score, 2), estimate.n) == (55.56, 3)

    async def test_a_share_method_counts_good_answers_as_100(self, session: AsyncSession) -> None:
        unit = await add_unit(session, "donghe", "东河区", UnitKind.district)
        version = await survey_version(session, "2026H1", keys=("overall", "speed"))
        await _person(session, version, unit, {"overall": VS, "speed": N})  # C: 100, 0
        method_c = BASE.model_copy(update={"method": "C"})

        found = await survey_tallies(session=session, period="2026H1", method=method_c, tz=TZ)

        assert found == {pk(unit): SurveyTally.of_people([[100, 0]])}

    async def test_ratings_a_hotline_visit_opened_count_in_the_hotline_source(
        self, session: AsyncSession
    ) -> None:
        unit = await add_unit(session, "donghe", "东河区", UnitKind.district)
        await add_ratings(session, unit, "2026H1", {VS: 2})
        session.add(Rating(source=RatingSource.hotline, source_id="T1", unit_id=pk(unit),
                           channel=6, level=VD.value, period="2026H1",
                           rated_at=mid("2026H1")))  # fmt: skip
        await session.flush()

        counts = await rating_counts(session=session, period="2026H1", method=BASE)

        assert counts == {pk(unit): {VS: 2}}

    async def test_every_source_reaches_the_score(self, session: AsyncSession) -> None:
        unit = await add_unit(session, "donghe", "东河区", UnitKind.district)
        await add_unit(session, "xitu", "稀土高新区", UnitKind.hightech)
        version = await survey_version(session, "2026H1", keys=("overall", "speed"))
        await _person(session, version, unit, {"overall": VS, "speed": N})  # 75
        await _person(session, version, unit, {"overall": S})  # 75
        await add_ratings(session, unit, "2026H1", {S: 1, N: 1})  # 62.5
        answered = {"outcome": VisitOutcome.answered, "contacted": True}
        await _visit(session, unit, **answered, resolved=True,
                     satisfaction=VisitSatisfaction.satisfied)  # fmt: skip
        await _visit(session, unit, **answered, resolved=False,
                     satisfaction=VisitSatisfaction.dissatisfied)  # fmt: skip
        await _visit(session, unit, outcome=VisitOutcome.unreachable)
        stored = OutsideImport(period="2026H1", source_name="蒙速办", method_note="满意度",
                               file_name="a.xlsx", sha256="0" * 64, rows=1,
                               imported_by="test")  # fmt: skip
        session.add(stored)
        await session.flush()
        session.add(OutsideScore(import_id=pk(stored), unit_id=pk(unit), score=90.0, n=200))
        await session.flush()

        inputs = await gather_inputs(session=session, period="2026H1", method=BASE, tz=TZ)
        at = datetime(2027, 1, 1, tzinfo=UTC)
        report = await service.score_period(
            session=session, period="2026H1", method=BASE, tz=TZ, computed_at=at
        )

        assert inputs[0].hotline is not None
        assert inputs[0].outside == (OutsideInput("蒙速办", 90.0, 200),)
        result = next(r for r in report.halves["2026H1"] if r.unit.code == "donghe")
        sources = {s: (round(e.score, 2), e.n) for s, e in result.sources.items()}
        # 12345: 联系率 2/2, 解决率 1/2, 满意率 1/2: 30 + 17.5 + 17.5 = 65, n = 2 answered.
        assert sources == {
            Source.survey: (75.0, 2), Source.rating: (62.5, 2), Source.hotline: (65.0, 2),
            Source.outside: (90.0, 200),
        }  # fmt: skip
        assert result.opinion is not None
        # (75 + 62.5 + 65 + 90) / 4 = 73.125; n = 2 + 2 + 2 + 200 = 206.
        assert (round(result.opinion.score, 3), result.opinion.n) == (73.125, 206)
        assert result.group == "旗县区和高新区"
        assert isinstance(result.sources[Source.survey], Estimate)
