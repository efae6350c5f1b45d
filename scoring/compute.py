"""The pure arithmetic of the scores: per-source aggregates in, scores, intervals and ranks
out.

No database and no I/O, so hypothesis can test it. Inputs are sorted by unit code first,
so the order of the rows never changes a result (nor a float rounding).

n counts people (domain.md §5): survey respondents (each person's satisfaction answers are
averaged first), 好差评 per 办件 (latest round), 12345 回访 people who answered, and the n an
outside result states. The 民意 score is the weighted mean over the sources a unit has; its n
is the sum of the sources' n, which the 385 flag and the rank bands use.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from statistics import NormalDist
from typing import Any, TypeVar

from scoring.method import HotlineRate, Method, PointsMethod, Shrinkage, Source
from scoring.models import Component
from surveys.hotline.tally import HotlineTally
from surveys.questionnaire.definitions import Level

T = TypeVar("T")
Counts = Mapping[Level, int]
RANK_DIGITS = 2  # scores equal to 0.01 share a rank
MISSING_OPINION = "民意调查：无有效答卷或评价"
MISSING_IMPORT = "{component}：未导入"
MISSING_HALF = "{period}：半年分缺失"
# How each source's 95% interval is made, as the exports print it.
INTERVAL_METHODS: dict[Source, str] = {
    Source.survey: (
        "以受访者为单位的正态区间（每人先取平均；两端各加 z²/2 个虚拟受访者，小样本放宽）"
    ),
    Source.rating: (
        "以办件为单位：分值法为正态区间（两端各加 z²/2 个虚拟评价），比例法为 Wilson 区间"
    ),
    Source.hotline: "联系率、解决率、满意率各取 Wilson 区间半宽，按权重平方和开方合成",
    Source.outside: "按得分/100 与样本量 n 取 Wilson 区间（近似：外部结果的抽样设计未知）",
}
COMBINED_INTERVAL = "各来源区间半宽按权重平方和开方合成"


@dataclass(frozen=True)
class Estimate:
    """A score on 0..100 with its interval and the number of valid answers behind it."""

    score: float
    low: float
    high: float
    n: int
    # Variance of the answer-level mean with answers clustered by person (CR0) over the
    # variance treating answers as independent; None when nobody gave two answers or n < 2.
    design_effect: float | None = None


# The sums of person means are kept rounded, so that the same respondents summed in another
# order (a float sum's last bits, in SQL or here) give the same tally and fingerprint; the
# other sums are of the points themselves (whole numbers in the shipped methods) and exact.
MEAN_DIGITS = 6
MEAN_SQ_DIGITS = 3


@dataclass(frozen=True)
class SurveyTally:
    """One unit's survey answers summed per respondent, from one SQL aggregate.

    For respondent i with m_i valid satisfaction answers worth x_ij points each (the method's
    points, or 100/0 good/not under a share method): s_i = Σ_j x_ij and the person's mean
    y_i = s_i / m_i. The fields are the sums over the unit's respondents.
    """

    respondents: int  # R
    answers: int  # Σ m_i
    points: float  # Σ s_i
    person_points_sq: float  # Σ s_i²
    answers_sq: int  # Σ m_i²
    points_answers: float  # Σ s_i · m_i
    means: float  # Σ y_i
    means_sq: float  # Σ y_i²
    points_sq: float  # Σ_ij x_ij² (the answers' own spread, for the design effect)

    @classmethod
    def of_people(cls, people: Iterable[Sequence[float]]) -> SurveyTally | None:
        """The tally of respondents given as lists of their answers' points (a person with
        no answer is left out); None when nobody answered."""
        answered = [list(p) for p in people if len(p) > 0]
        if not answered:
            return None
        sums = [math.fsum(p) for p in answered]
        sizes = [len(p) for p in answered]
        means = [s / m for s, m in zip(sums, sizes, strict=True)]
        return cls(
            respondents=len(answered),
            answers=sum(sizes),
            points=math.fsum(sums),
            person_points_sq=math.fsum(s * s for s in sums),
            answers_sq=sum(m * m for m in sizes),
            points_answers=math.fsum(s * m for s, m in zip(sums, sizes, strict=True)),
            means=round(math.fsum(means), MEAN_DIGITS),
            means_sq=round(math.fsum(y * y for y in means), MEAN_SQ_DIGITS),
            points_sq=math.fsum(x * x for p in answered for x in p),
        )


@dataclass(frozen=True)
class OutsideInput:
    """One outside 民意 result of a unit (its source name, score 0..100 and people n)."""

    source: str
    score: float
    n: int


@dataclass(frozen=True)
class UnitRef:
    code: str
    name: str
    kind: str


@dataclass(frozen=True)
class UnitInput:
    """What one unit has for one half-year.

    ``counts``: level counts of the 好差评 ratings (one per 办件, latest round; the only
    source given as level counts); ``survey``: its respondents' tally; ``hotline``: its
    12345 回访 counts; ``outside``: its outside results; ``imported``: component scores.
    """

    unit: UnitRef
    counts: Mapping[Source, Counts] = field(default_factory=dict)
    imported: Mapping[Component, float] = field(default_factory=dict)
    survey: SurveyTally | None = None
    hotline: HotlineTally | None = None
    outside: tuple[OutsideInput, ...] = ()

    def __post_init__(self) -> None:
        other = [s.value for s in self.counts if s is not Source.rating]
        if other:
            raise ValueError(f"level counts are for ratings only, not {', '.join(other)}")


@dataclass(frozen=True)
class Placing:
    rank: int
    band: tuple[int, int]  # best and worst rank the intervals allow


@dataclass(frozen=True)
class HalfResult:
    unit: UnitRef
    sources: Mapping[Source, Estimate]
    opinion_raw: Estimate | None  # before shrinkage
    opinion: Estimate | None  # the value that enters the half-year score
    small_sample: bool
    components: Mapping[Component, float | None]
    total: Estimate | None
    missing: tuple[str, ...]
    placing: Placing | None = None
    opinion_placing: Placing | None = None
    group: str = ""  # the ranking group (method.ranking_groups) the unit is ranked in


@dataclass(frozen=True)
class YearResult:
    unit: UnitRef
    halves: tuple[Estimate | None, Estimate | None]
    annual: Estimate | None
    missing: tuple[str, ...]
    placing: Placing | None = None
    group: str = ""  # the ranking group of its half-years


def z_value(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def _clamp(value: float, low: float = 0.0, high: float = 100.0) -> float:
    return min(high, max(low, value))


def _estimate(
    score: float, low: float, high: float, n: int, design_effect: float | None = None
) -> Estimate:
    """An estimate on 0..100 whose interval holds its score, float noise included."""
    score = _clamp(score)
    return Estimate(score, min(_clamp(low), score), max(_clamp(high), score), n, design_effect)


# One source ---------------------------------------------------------------------------


def points_estimate(counts: Counts, points: Mapping[Level, float], z: float) -> Estimate | None:
    """Σ points × n / N, with a normal interval after Agresti–Coull pseudo-answers.

    z²/2 pseudo-answers at the lowest and at the highest points widen the interval of small
    samples (two equal answers would otherwise give a zero width) and vanish for large
    ones; for a two-level method this is the Agresti–Coull interval of a share.
    """
    n = sum(counts.values())
    if n == 0:
        return None
    mean = math.fsum(points[level] * count for level, count in counts.items()) / n
    lowest, highest = min(points.values()), max(points.values())
    pseudo = z * z / 2
    size = n + 2 * pseudo
    total = math.fsum(points[level] * count for level, count in counts.items())
    centre = (total + pseudo * (lowest + highest)) / size
    spread = math.fsum(count * (points[lv] - centre) ** 2 for lv, count in counts.items())
    spread += pseudo * ((lowest - centre) ** 2 + (highest - centre) ** 2)
    half = z * math.sqrt(spread / size / size)
    return _estimate(mean, max(lowest, centre - half), min(highest, centre + half), n)


def wilson(p: float, n: int, z: float) -> tuple[float, float]:
    """The Wilson interval (low, high) of a share ``p`` of ``n`` (0..1)."""
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(max(0.0, p * (1 - p)) / n + z * z / (4 * n * n)) / denominator
    return centre - half, centre + half


def share_estimate(good: int, n: int, z: float) -> Estimate | None:
    """The share of good answers × 100 with its Wilson interval."""
    if n == 0:
        return None
    p = good / n
    low, high = wilson(p, n, z)
    return _estimate(100 * p, 100 * low, 100 * high, n)


def design_effect(tally: SurveyTally) -> float | None:
    """Var_CR0(x̄) / Var_SRS(x̄) of the answer-level mean x̄ = Σs / M (M = Σm answers).

    Var_CR0 = Σ_i (s_i − x̄·m_i)² / M² = (Σs² − 2x̄·Σs·m + x̄²·Σm²) / M², respondents as
    clusters, no small-sample factor; Var_SRS = Σ_ij (x_ij − x̄)² / M² = (Σx² − M·x̄²) / M²,
    the answers as if independent (both with the same 1/M² so it cancels). None when
    n < 2, when every respondent gave one answer (it would be 1), or when all answers are
    equal (no spread to compare).
    """
    if tally.respondents < 2 or tally.answers == tally.respondents:
        return None
    mean = tally.points / tally.answers
    clustered = (
        tally.person_points_sq - 2 * mean * tally.points_answers + mean * mean * tally.answers_sq
    )
    naive = tally.points_sq - tally.answers * mean * mean
    if naive <= 1e-9 * max(1.0, tally.points_sq):
        return None
    return max(0.0, clustered) / naive


def survey_estimate(
    tally: SurveyTally | None, lowest: float, highest: float, z: float
) -> Estimate | None:
    """The survey score of a unit: the mean over respondents of each person's mean points.

    score = Σ y_i / R with y_i = s_i / m_i, n = R respondents. Interval: normal, with people
    as the unit (以受访者为单位的正态区间，每人先取平均); as for level counts, z²/2 pseudo-
    respondents at the lowest and at the highest points widen small samples: with
    p = z²/2, ñ = R + 2p, centre c = (Σy + p·(lowest + highest)) / ñ and
    S = Σ(y_i − c)² + p·((lowest − c)² + (highest − c)²) = Σy² − 2c·Σy + R·c² + p·(…),
    the interval is c ± z·√S / ñ, kept within lowest..highest. When every respondent gave
    one answer this is exactly the answer-level interval of :func:`points_estimate`.
    ``design_effect`` is :func:`design_effect`.
    """
    if tally is None or tally.respondents == 0:
        return None
    count = tally.respondents
    mean = tally.means / count
    pseudo = z * z / 2
    size = count + 2 * pseudo
    centre = (tally.means + pseudo * (lowest + highest)) / size
    spread = tally.means_sq - 2 * centre * tally.means + count * centre * centre
    spread = max(0.0, spread) + pseudo * ((lowest - centre) ** 2 + (highest - centre) ** 2)
    half = z * math.sqrt(spread) / size
    low, high = max(lowest, centre - half), min(highest, centre + half)
    return _estimate(mean, low, high, count, design_effect(tally))


def hotline_estimate(
    tally: HotlineTally | None, weights: Mapping[HotlineRate, float], z: float
) -> Estimate | None:
    """The 12345 回访 score: 100 × the weighted mean of 联系率 = contacted ÷ reached,
    解决率 = resolved ÷ answered and 满意率 = (满意 + 基本满意) ÷ answered, the weights
    renormalised over the rates that have a denominator (and a weight above 0).

    Interval: score ± 100 × √Σ (w_k · h_k)², h_k the half-width (high − low) / 2 of rate k's
    Wilson interval and w_k its renormalised weight. n = the people who answered.
    None when no rate has a denominator.
    """
    if tally is None:
        return None
    rates = [
        (HotlineRate.contact, tally.contacted, tally.reached),
        (HotlineRate.resolved, tally.resolved, tally.answered),
        (HotlineRate.satisfied, tally.satisfied + tally.basic, tally.answered),
    ]
    present = [(weights.get(r, 0.0), k, n) for r, k, n in rates if n > 0]
    present = [(w, k, n) for w, k, n in present if w > 0]
    if not present:
        return None
    total = math.fsum(w for w, _, _ in present)
    score = 100 * math.fsum(w / total * (k / n) for w, k, n in present)
    halves = []
    for w, k, n in present:
        low, high = wilson(k / n, n, z)
        halves.append((w / total * (high - low) / 2) ** 2)
    half = 100 * math.sqrt(math.fsum(halves))
    return _estimate(score, score - half, score + half, tally.answered)


def outside_estimate(results: Sequence[OutsideInput], z: float) -> Estimate | None:
    """The outside source: the n-weighted mean of the unit's outside results, n = Σ n.

    Interval: Wilson on score / 100 as a share with that n. An approximation: an outside
    result gives only its score and n (its design, weighting or scale is unknown), so its
    score is treated as a share of n people.
    """
    n = sum(r.n for r in results if r.n > 0)
    if n == 0:
        return None
    score = math.fsum(r.n * r.score for r in results if r.n > 0) / n
    low, high = wilson(_clamp(score) / 100, n, z)
    return _estimate(score, 100 * low, 100 * high, n)


def level_estimate(counts: Counts, method: Method) -> Estimate | None:
    """The score of one source of one unit under the selected method."""
    z = z_value(method.confidence)
    chosen = method.selected
    if isinstance(chosen, PointsMethod):
        return points_estimate(counts, chosen.points, z)
    good_levels = method.good_levels()
    good = sum(count for level, count in counts.items() if level in good_levels)
    return share_estimate(good, sum(counts.values()), z)


def combine(
    estimates: Mapping[Source, Estimate], weights: Mapping[Source, float], z: float
) -> Estimate | None:
    """The weighted mean over the sources a unit has, weights renormalised over those."""
    present = [(s, estimates[s]) for s in Source if s in estimates and weights.get(s, 0) > 0]
    if not present:
        return None
    if len(present) == 1:
        return present[0][1]
    total = math.fsum(weights[s] for s, _ in present)
    share = [(weights[s] / total, e) for s, e in present]
    score = _clamp(math.fsum(w * e.score for w, e in share))
    spread = math.sqrt(math.fsum((w * (e.high - e.low) / 2) ** 2 for w, e in share))
    n = sum(e.n for _, e in present)
    return _estimate(score, score - spread, score + spread, n)


def shrink(estimates: Mapping[str, Estimate], z: float) -> dict[str, Estimate]:
    """Empirical Bayes toward the mean of the group (method of moments for the spread).

    Each score moves toward the mean by the share of its variance in the total, so a
    small sample moves more; with fewer than two scores nothing moves.
    """
    if len(estimates) < 2:
        return dict(estimates)
    keys = sorted(estimates)
    scores = [estimates[k].score for k in keys]
    variances = [((estimates[k].high - estimates[k].low) / (2 * z)) ** 2 for k in keys]
    mean = math.fsum(scores) / len(keys)
    spread = math.fsum((s - mean) ** 2 for s in scores) / (len(keys) - 1)
    tau2 = max(0.0, spread - math.fsum(variances) / len(keys))
    shrunk = {}
    for key, score, variance in zip(keys, scores, variances, strict=True):
        factor = tau2 / (tau2 + variance) if tau2 + variance > 0 else 1.0
        value = _clamp(mean + factor * (score - mean))
        half = z * math.sqrt(factor * variance)
        shrunk[key] = _estimate(value, value - half, value + half, estimates[key].n)
    return shrunk


# Half-year and year -------------------------------------------------------------------


def source_estimates(item: UnitInput, method: Method) -> dict[Source, Estimate]:
    """Each source's estimate of one unit, in the order of :class:`Source`."""
    z = z_value(method.confidence)
    points = method.answer_points()
    found = {
        Source.survey: survey_estimate(item.survey, min(points.values()), max(points.values()), z),
        Source.rating: level_estimate(item.counts.get(Source.rating, {}), method),
        Source.hotline: hotline_estimate(item.hotline, method.hotline_rates, z),
        Source.outside: outside_estimate(item.outside, z),
    }
    return {source: e for source in Source if (e := found[source]) is not None}


def _opinion(item: UnitInput, method: Method) -> tuple[dict[Source, Estimate], Estimate | None]:
    sources = source_estimates(item, method)
    return sources, combine(sources, method.source_weights, z_value(method.confidence))


def _half(
    item: UnitInput,
    method: Method,
    opinion: Estimate | None,
    raw: Estimate | None,
    sources: Mapping[Source, Estimate],
) -> HalfResult:
    components: dict[Component, float | None] = {}
    missing = []
    for component in Component:
        value = opinion.score if component is Component.opinion and opinion else None
        if component is not Component.opinion:
            value = item.imported.get(component)
        components[component] = value
        if value is None:
            reason = MISSING_OPINION if component is Component.opinion else MISSING_IMPORT
            missing.append(reason.format(component=component.value))
    total = None
    if opinion is not None and not missing:
        weight = method.components[Component.opinion]
        score = math.fsum(method.components[c] * (v or 0.0) for c, v in components.items())
        low = score - weight * (opinion.score - opinion.low)
        high = score + weight * (opinion.high - opinion.score)
        total = _estimate(score, low, high, opinion.n)
    small = raw is None or raw.n < method.min_sample
    return HalfResult(item.unit, sources, raw, opinion, small, components, total, tuple(missing))


def score_half(inputs: Iterable[UnitInput], method: Method) -> list[HalfResult]:
    """Scores of one half-year for every unit given, ranked within each ranking group
    (``method.ranking_groups``); shrinkage, when on, pulls toward the group's mean."""
    items = sorted(inputs, key=lambda item: item.unit.code)
    groups = {item.unit.code: method.group_of(item.unit.kind) for item in items}
    opinions = {item.unit.code: _opinion(item, method) for item in items}
    final = {code: combined for code, (_, combined) in opinions.items() if combined}
    if method.shrinkage == Shrinkage.empirical_bayes:
        z = z_value(method.confidence)
        for name in sorted(set(groups.values())):
            members = {code: final[code] for code in final if groups[code] == name}
            final.update(shrink(members, z))
    results = [
        replace(
            _half(item, method, final.get(code), opinions[code][1], opinions[code][0]),
            group=groups[code],
        )
        for item in items
        for code in [item.unit.code]
    ]
    totals = place(results, lambda r: r.total, lambda r: r.group)
    by_opinion = place(results, lambda r: r.opinion, lambda r: r.group)
    return [
        replace(r, placing=p, opinion_placing=o)
        for r, p, o in zip(results, totals, by_opinion, strict=True)
    ]


def score_year(
    first: Sequence[HalfResult], second: Sequence[HalfResult], periods: tuple[str, str]
) -> list[YearResult]:
    """年度分 = (上半年 + 下半年) / 2, missing when a half is missing; ranked within the
    ranking group of the half-years (the second half's when both have the unit)."""
    halves = [{r.unit.code: r for r in results} for results in (first, second)]
    units = {r.unit.code: r.unit for results in (first, second) for r in results}
    groups = {r.unit.code: r.group or r.unit.kind for results in (first, second) for r in results}
    results = []
    for code in sorted(units):
        totals = tuple(h[code].total if code in h else None for h in halves)
        h1, h2 = totals[0], totals[1]
        missing = tuple(
            MISSING_HALF.format(period=period)
            for period, total in zip(periods, totals, strict=True)
            if total is None
        )
        annual = None
        if h1 is not None and h2 is not None:
            annual = _estimate(
                (h1.score + h2.score) / 2,
                (h1.low + h2.low) / 2,
                (h1.high + h2.high) / 2,
                h1.n + h2.n,
            )
        results.append(YearResult(units[code], (h1, h2), annual, missing, group=groups[code]))
    placings = place(results, lambda r: r.annual, lambda r: r.group)
    return [replace(r, placing=p) for r, p in zip(results, placings, strict=True)]


# Ranks --------------------------------------------------------------------------------


def place(
    items: Sequence[T], estimate: Callable[[T], Estimate | None], kind: Callable[[T], str]
) -> list[Placing | None]:
    """Rank within each group that ``kind`` names (ties share a rank) and the band of ranks
    the intervals allow; the scores pass the ranking group as ``kind``.

    Best rank: one more than the units whose whole interval is above this one's; worst:
    the units ranked, less those whose whole interval is below. None when unscored.
    """
    placings: list[Placing | None] = []
    for item in items:
        own = estimate(item)
        if own is None:
            placings.append(None)
            continue
        group = [
            e for other in items if kind(other) == kind(item) if (e := estimate(other)) is not None
        ]
        mine = round(own.score, RANK_DIGITS)
        rank = 1 + sum(1 for e in group if round(e.score, RANK_DIGITS) > mine)
        best = 1 + sum(1 for e in group if e.low > own.high)
        worst = len(group) - sum(1 for e in group if e.high < own.low)
        placings.append(Placing(rank, (min(best, rank), max(worst, rank))))
    return placings


# Fingerprint --------------------------------------------------------------------------


def canonical_inputs(inputs: Mapping[str, Iterable[UnitInput]]) -> dict[str, Any]:
    """The aggregates a score depends on, per period, as plain sorted JSON data."""
    return {
        period: [
            {
                "unit": item.unit.code,
                "name": item.unit.name,
                "kind": item.unit.kind,
                "counts": {
                    source.value: {lv.value: item.counts[source].get(lv, 0) for lv in Level}
                    for source in Source
                    if source in item.counts
                },
                "survey": asdict(item.survey) if item.survey else None,
                "hotline": asdict(item.hotline) if item.hotline else None,
                "outside": sorted([r.source, r.score, r.n] for r in item.outside),
                "imported": {c.value: item.imported[c] for c in Component if c in item.imported},
            }
            for item in sorted(items, key=lambda item: item.unit.code)
        ]
        for period, items in sorted(inputs.items())
    }


def fingerprint(inputs: Mapping[str, Iterable[UnitInput]], method: Method) -> str:
    """sha256 over the canonical input aggregates and the method parameters."""
    payload = {"inputs": canonical_inputs(inputs), "method": method.parameters()}
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
