"""The pure arithmetic: hand-checked formulas and hypothesis properties."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from scoring.compute import (
    Estimate,
    OutsideInput,
    SurveyTally,
    UnitInput,
    UnitRef,
    combine,
    place,
    points_estimate,
    score_half,
    share_estimate,
    shrink,
    z_value,
)
from scoring.method import Method, PointsMethod, Shrinkage, Source, load_method
from scoring.models import Component
from surveys.hotline.tally import HotlineTally
from surveys.questionnaire.definitions import Level

BASE = load_method()
METHODS = {name: BASE.model_copy(update={"method": name}) for name in "ABCD"}
Z = z_value(0.95)
KINDS = ("旗县区", "高新区", "市直部门")
# The sources whose inputs are level counts (12345 回访 and outside results are not).
LEVEL_SOURCES = [Source.survey, Source.rating]


def counts() -> st.SearchStrategy[dict[Level, int]]:
    return st.dictionaries(st.sampled_from(list(Level)), st.integers(0, 50), max_size=5)


def people() -> st.SearchStrategy[list[list[Level]]]:
    """Survey respondents, each with the levels of their satisfaction answers."""
    return st.lists(st.lists(st.sampled_from(list(Level)), min_size=1, max_size=6), max_size=12)


def tally(answers: list[list[Level]], method: Method) -> SurveyTally | None:
    points = method.answer_points()
    return SurveyTally.of_people([[points[level] for level in person] for person in answers])


@dataclass(frozen=True)
class Drawn:
    """A unit as drawn, before its survey answers are tallied with a method's points."""

    unit: UnitRef
    ratings: dict[Level, int]
    people: list[list[Level]]
    imported: dict[Component, float]
    hotline: HotlineTally | None = None
    outside: tuple[OutsideInput, ...] = ()

    def input(self, method: Method) -> UnitInput:
        counts = {Source.rating: self.ratings} if self.ratings else {}
        return UnitInput(self.unit, counts, self.imported, tally(self.people, method),
                         self.hotline, self.outside)  # fmt: skip


@st.composite
def hotline_tallies(draw: st.DrawFn) -> HotlineTally:
    reached = draw(st.integers(0, 30))
    contacted = draw(st.integers(0, reached))
    answered = draw(st.integers(0, reached))
    resolved = draw(st.integers(0, answered))
    satisfied = draw(st.integers(0, answered))
    basic = draw(st.integers(0, answered - satisfied))
    visits = reached + draw(st.integers(0, 5))
    return HotlineTally(visits, reached, contacted, answered, resolved, satisfied, basic,
                        answered - satisfied - basic, 0)  # fmt: skip


@st.composite
def unit_drafts(draw: st.DrawFn) -> list[Drawn]:
    size = draw(st.integers(1, 6))
    items = []
    for index in range(size):
        imported = draw(st.dictionaries(
            st.sampled_from([Component.monitoring, Component.field, Component.third_party]),
            st.floats(0, 100), max_size=3,
        ))  # fmt: skip
        kind = draw(st.sampled_from(KINDS))
        outside = draw(st.lists(
            st.builds(OutsideInput, st.sampled_from(["甲", "乙"]), st.floats(0, 100),
                      st.integers(1, 2000)), max_size=2,
        ))  # fmt: skip
        items.append(
            Drawn(
                UnitRef(f"u{index}", f"单位{index}", kind),
                draw(counts()),
                draw(people()),
                imported,
                draw(st.none() | hotline_tallies()),
                tuple(outside),
            )  # fmt: skip
        )
    return items


def build(drafts: list[Drawn], method: Method) -> list[UnitInput]:
    return [d.input(method) for d in drafts]


def opinion_of(items: list[UnitInput], method: Method, code: str = "u0") -> float | None:
    result = next(r for r in score_half(items, method) if r.unit.code == code)
    return result.opinion.score if result.opinion else None


def with_added(item: Drawn, source: Source, level: Level) -> Drawn:
    """One more rating, or one more respondent answering once, at ``level``."""
    if source is Source.rating:
        ratings = dict(item.ratings)
        ratings[level] = ratings.get(level, 0) + 1
        return replace(item, ratings=ratings)
    return replace(item, people=[*item.people, [level]])


class TestFormulas:
    def test_method_a_points(self) -> None:
        # (2 × 100 + 75 + 25) / 4 = 75. Interval: z²/2 = 1.9207 pseudo-answers at 0 and at
        # 100 give ñ = 7.8415 and centre (300 + 192.07) / 7.8415 = 62.75; Σ (x − centre)²
        # = 2·37.25² + 12.25² + 37.75² + 1.9207·(62.75² + 37.25²) = 14578.4, so the half
        # width is z·√14578.4 / 7.8415 = 30.18: 32.57..92.93.
        points = METHODS["A"].selected
        assert isinstance(points, PointsMethod)
        counts = {Level.very_satisfied: 2, Level.satisfied: 1, Level.dissatisfied: 1}

        estimate = points_estimate(counts, points.points, Z)

        assert estimate is not None
        assert estimate.score == pytest.approx(75)
        assert (estimate.low, estimate.high) == pytest.approx((32.57, 92.93), abs=0.01)

    def test_two_equal_answers_still_have_an_interval(self) -> None:
        points = METHODS["A"].selected
        assert isinstance(points, PointsMethod)

        estimate = points_estimate({Level.very_satisfied: 2}, points.points, Z)

        assert estimate is not None
        assert (estimate.score, estimate.high) == (100, 100)
        assert estimate.low < 70

    def test_wilson_interval(self) -> None:
        # 8 of 10: Wilson 95% is 49.0%..94.3%
        estimate = share_estimate(8, 10, Z)
        assert estimate is not None
        assert (estimate.score, round(estimate.low, 1), round(estimate.high, 1)) == (
            80,
            49.0,
            94.3,
        )

    def test_method_c_is_top_two_box_and_d_counts_basic_satisfied(self) -> None:
        item = UnitInput(UnitRef("u0", "x", "旗县区"), {
            Source.rating: {Level.very_satisfied: 1, Level.satisfied: 1, Level.neutral: 2}
        })  # fmt: skip
        assert opinion_of([item], METHODS["C"]) == pytest.approx(50)
        assert opinion_of([item], METHODS["D"]) == pytest.approx(100)
        strict = METHODS["D"].model_copy(update={"basic_satisfied_counts_as_good": False})
        assert opinion_of([item], strict) == pytest.approx(50)
        # B: (100 + 80 + 2 × 60) / 4 = 75
        assert opinion_of([item], METHODS["B"]) == pytest.approx(75)

    def test_source_weights_are_renormalised_over_present_sources(self) -> None:
        survey = Estimate(60, 50, 70, 10)
        rating = Estimate(90, 85, 95, 100)
        weights = {Source.survey: 1.0, Source.rating: 3.0}

        both = combine({Source.survey: survey, Source.rating: rating}, weights, Z)
        alone = combine({Source.survey: survey}, weights, Z)

        assert both is not None
        assert both.score == pytest.approx(0.25 * 60 + 0.75 * 90)
        assert both.n == 110
        assert alone == survey

    def test_shrinkage_pulls_small_samples_further(self) -> None:
        estimates = {"big": Estimate(90, 89, 91, 1000), "small": Estimate(40, 10, 70, 5),
                     "mid": Estimate(70, 65, 75, 200)}  # fmt: skip
        shrunk = shrink(estimates, Z)
        mean = (90 + 40 + 70) / 3

        assert abs(shrunk["small"].score - estimates["small"].score) > abs(
            shrunk["big"].score - estimates["big"].score
        )
        assert all(min(e.score, mean) - 1e-9 <= shrunk[k].score <= max(e.score, mean) + 1e-9
                   for k, e in estimates.items())  # fmt: skip

    def test_shrinkage_is_named_and_applied_per_kind(self) -> None:
        method = BASE.model_copy(update={"shrinkage": Shrinkage.empirical_bayes})
        items = [
            UnitInput(UnitRef("a", "a", "旗县区"), {Source.rating: {Level.very_satisfied: 2}}),
            UnitInput(UnitRef("b", "b", "旗县区"), {Source.rating: {Level.neutral: 300}}),
            UnitInput(UnitRef("c", "c", "市直部门"), {Source.rating: {Level.satisfied: 1}}),
        ]
        results = {r.unit.code: r for r in score_half(items, method)}

        assert results["a"].opinion_raw is not None
        assert results["a"].opinion_raw.score == 100
        assert results["a"].opinion is not None
        assert results["a"].opinion.score < 100  # pulled toward 旗县区's mean
        assert results["c"].opinion == results["c"].opinion_raw  # alone in its kind

    def test_rank_bands_for_overlapping_intervals(self) -> None:
        estimates = [Estimate(90, 85, 95, 1), Estimate(88, 80, 96, 1), Estimate(50, 45, 55, 1),
                     Estimate(88, 87, 89, 1), None]  # fmt: skip
        placings = place(estimates, lambda e: e, lambda _e: "k")

        assert [(p.rank, p.band) if p else None for p in placings] == [
            (1, (1, 3)), (2, (1, 3)), (4, (4, 4)), (2, (1, 3)), None,
        ]  # fmt: skip


class TestMethodFile:
    def test_component_weights_must_sum_to_one(self) -> None:
        weights = {"日常监测": 0.6, "实地调研": 0.2, "民意调查": 0.1, "第三方评估": 0.2}
        data = BASE.parameters() | {"components": weights}
        with pytest.raises(ValidationError, match="sum to 1"):
            Method.model_validate(data)

    @given(st.lists(st.integers(1, 1000), min_size=4, max_size=4))
    def test_accepted_weights_sum_to_one(self, raw: list[int]) -> None:
        weights = {c.value: w / sum(raw) for c, w in zip(Component, raw, strict=True)}
        try:
            method = Method.model_validate(BASE.parameters() | {"components": weights})
        except ValidationError:
            return  # a float sum a hair off 1 is refused, never silently accepted
        assert math.fsum(method.components.values()) == pytest.approx(1, abs=1e-9)
        assert set(method.components) == set(Component)


class TestProperties:
    @settings(max_examples=150, deadline=None)
    @given(unit_drafts(), st.sampled_from("ABCD"), st.sampled_from(LEVEL_SOURCES))
    def test_a_very_satisfied_answer_never_lowers_the_score(
        self, drafts: list[Drawn], name: str, source: Source
    ) -> None:
        method = METHODS[name]
        before = opinion_of(build(drafts, method), method)
        better = [with_added(drafts[0], source, Level.very_satisfied), *drafts[1:]]
        after = opinion_of(build(better, method), method)

        assert after is not None
        assert before is None or after >= before - 1e-9

    @settings(max_examples=150, deadline=None)
    @given(unit_drafts(), st.sampled_from("ABCD"), st.sampled_from(LEVEL_SOURCES))
    def test_a_very_dissatisfied_answer_never_raises_the_score(
        self, drafts: list[Drawn], name: str, source: Source
    ) -> None:
        """Once its source counts for the unit. A first answer brings the source in with its
        weight, which can raise the 民意 score when the other sources are lower still (see
        the next test)."""
        method = METHODS[name]
        items = build(drafts, method)
        first = next(r for r in score_half(items, method) if r.unit.code == "u0")
        assume(source in first.sources)
        before = opinion_of(items, method)
        worse = [with_added(drafts[0], source, Level.very_dissatisfied), *drafts[1:]]
        after_result = next(
            r for r in score_half(build(worse, method), method) if r.unit.code == "u0"
        )
        after = opinion_of(build(worse, method), method)

        assert after is not None
        assert after_result.sources[source].score <= first.sources[source].score + 1e-9
        assert before is None or after <= before + 1e-9

    def test_a_first_answer_brings_its_source_in_even_above_the_others(self) -> None:
        # An outside poll of 0 alone, then one respondent answering 非常不满意: the survey
        # source now counts, with its weight, at what 非常不满意 is worth under the method.
        method = METHODS["B"]
        alone = Drawn(
            UnitRef("u0", "单位0", KINDS[0]), {}, [], {}, None, (OutsideInput("甲", 0.0, 1),)
        )
        worse = with_added(alone, Source.survey, Level.very_dissatisfied)
        before = opinion_of(build([alone], method), method)
        result = next(r for r in score_half(build([worse], method), method))
        assert before == 0.0
        assert Source.survey in result.sources
        assert result.opinion is not None
        assert result.opinion.score > before
        assert result.opinion.score <= result.sources[Source.survey].score

    @settings(max_examples=150, deadline=None)
    @given(unit_drafts(), st.sampled_from("ABCD"), st.integers(1, 5))
    def test_a_person_answering_very_satisfied_never_lowers_the_score(
        self, drafts: list[Drawn], name: str, answers: int
    ) -> None:
        method = METHODS[name]
        before = opinion_of(build(drafts, method), method)
        person = [Level.very_satisfied] * answers
        better = [replace(drafts[0], people=[*drafts[0].people, person]), *drafts[1:]]
        after = opinion_of(build(better, method), method)

        assert after is not None
        assert before is None or after >= before - 1e-9

    @settings(max_examples=150, deadline=None)
    @given(unit_drafts(), st.sampled_from("ABCD"), st.data())
    def test_duplicating_a_respondents_answers_changes_neither_n_nor_the_score(
        self, drafts: list[Drawn], name: str, data: st.DataObject
    ) -> None:
        first = drafts[0]
        if not first.people:
            first = replace(first, people=[[Level.satisfied, Level.neutral]])
        who = data.draw(st.integers(0, len(first.people) - 1))
        times = data.draw(st.integers(2, 4))
        people = list(first.people)
        people[who] = people[who] * times  # each of their answers given again, times over
        method = METHODS[name]
        once = score_half(build([first, *drafts[1:]], method), method)[0]
        again = score_half(build([replace(first, people=people), *drafts[1:]], method), method)[0]

        assert again.sources[Source.survey].n == once.sources[Source.survey].n
        assert again.sources[Source.survey].score == pytest.approx(
            once.sources[Source.survey].score, abs=1e-9
        )
        assert once.opinion is not None
        assert again.opinion is not None
        assert again.opinion.n == once.opinion.n

    @settings(max_examples=150, deadline=None)
    @given(unit_drafts(), st.sampled_from("ABCD"), st.booleans())
    def test_scores_and_intervals_stay_in_0_100(
        self, drafts: list[Drawn], name: str, shrinkage: bool
    ) -> None:
        method = METHODS[name].model_copy(
            update={"shrinkage": Shrinkage.empirical_bayes if shrinkage else Shrinkage.off}
        )
        for result in score_half(build(drafts, method), method):
            estimates = [result.opinion, result.opinion_raw, result.total,
                         *result.sources.values()]  # fmt: skip
            for e in estimates:
                if e is not None:
                    assert 0 <= e.low <= e.score <= e.high <= 100
                    assert e.design_effect is None or e.design_effect >= 0

    @settings(max_examples=100, deadline=None)
    @given(unit_drafts(), st.sampled_from("ABCD"), st.randoms(use_true_random=False))
    def test_permuting_input_rows_changes_nothing(
        self, drafts: list[Drawn], name: str, rng: random.Random
    ) -> None:
        items = build(drafts, METHODS[name])
        shuffled = list(items)
        rng.shuffle(shuffled)

        assert score_half(shuffled, METHODS[name]) == score_half(items, METHODS[name])
