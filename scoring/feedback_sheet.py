"""The 评估情况反馈单 of one unit and half-year (seed 000: Wuhan's feedback sheets): its scores
and ranks in its ranking group (with the band of ranks the intervals allow, as the score
export shows them), each 民意 source with its score, interval, n and weight for the unit (and
the survey's design effect), each component against the average of its ranking group, the
survey questions it scored lowest on, the top 差评 reasons and 事项, overdue cases, and
findings written from these.

Findings say only what the data bear out: tied reasons are named together, every share and
mean states how many it rests on, and a question answered by fewer than
:data:`MIN_QUESTION_ANSWERS` people is flagged as indicative only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from statistics import fmean
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scoring import service
from scoring.compute import HalfResult
from scoring.export import SourceLine, band_text, interval_text, source_lines, sources_text
from scoring.method import Method
from scoring.models import Component
from scoring.periods import check_period
from surveys.accounts.access import Actor, Perm
from surveys.accounts.models import Unit
from surveys.accounts.units import get_unit_or_raise, list_units
from surveys.cases import service as cases
from surveys.cases.models import FollowUpCase
from surveys.core.exceptions import UnknownSurvey
from surveys.core.i18n import N_, Msg
from surveys.core.models import pk
from surveys.core.periods import PERIOD_RE, chinese_date, period_label
from surveys.haochaping import indicators
from surveys.haochaping.models import Rating
from surveys.questionnaire import results
from surveys.questionnaire.models import Survey

LOWEST_QUESTIONS = 3
TOP_ITEMS = 3
OVERDUE_LISTED = 20  # cases listed on the paper; the total is always stated
BELOW_AVERAGE = 0.95  # a component under 95% of its group's average is named in the findings
# A question's mean on fewer answers than this is printed with a caveat (a ±18-point 95%
# interval on a 0-100 scale at n = 30, against ±5 for the 385 of a unit's score).
MIN_QUESTION_ANSWERS = 30
# The 文号's {seq}: half × 100 + the unit's place by id (a unit keeps its number when others
# are added); with 100 units or more the factor grows to 1000 and on, so numbers stay distinct.
SEQ_MIN_DIGITS = 2


@dataclass(frozen=True)
class ComponentLine:
    component: Component
    score: float | None
    kind_average: float | None


@dataclass(frozen=True)
class QuestionLine:
    survey: str
    text: str
    area: str | None
    score: float
    answered: int

    @property
    def few(self) -> bool:
        return self.answered < MIN_QUESTION_ANSWERS


@dataclass(frozen=True)
class ItemLine:
    name: str
    ratings: int
    bad: int


@dataclass(frozen=True)
class OverdueLine:
    case_id: int
    reference: str
    state: str
    missed: str  # catalogue key of the deadline missed: 核实 (1st contact) or 整改反馈
    due: date


@dataclass(frozen=True)
class Paper:
    """What makes the sheet an official paper: issuer, 文号 and seal line (settings)."""

    issuer: str
    number: str
    seal: str


@dataclass(frozen=True)
class FeedbackSheet:
    unit: Unit
    period: str
    result: HalfResult
    kind_size: int  # units of the ranking group
    ranked: int  # of them, those with a half-year score (the rank's denominator)
    components: list[ComponentLine]
    total_average: float | None
    lowest_questions: list[QuestionLine]
    top_reasons: list[tuple[str, int]]
    top_items: list[ItemLine]
    ratings: int
    bad: int
    bad_rate: float | None
    rectify_rate: float | None
    overdue: list[OverdueLine]
    overdue_total: int
    place: int = 1  # the unit's place among all units, by id (the 文号's {seq})
    units: int = 1
    findings: list[Msg] = field(default_factory=list)
    method: str = ""  # the method version
    min_sample: int = 385
    fingerprint: str = ""
    computed_at: datetime | None = None
    tz: ZoneInfo = ZoneInfo("Asia/Shanghai")
    # The 民意 sources the unit has, each with its weight for the unit; the method in words.
    sources: tuple[SourceLine, ...] = ()
    sources_text: str = ""
    interval_text: str = ""
    confidence: float = 0.95

    @property
    def group(self) -> str:
        """The ranking group the unit is ranked in (旗县区和高新区, 市直部门)."""
        return self.result.group

    @property
    def level(self) -> str:
        """The confidence of the intervals in percent: 95."""
        return f"{self.confidence * 100:g}"

    @property
    def period_text(self) -> str:
        return period_label(self.period)

    @property
    def band(self) -> str | None:
        return band_text(self.result.placing)

    @property
    def issued_on(self) -> date:
        assert self.computed_at is not None
        return self.computed_at.astimezone(self.tz).date()

    @property
    def issued_text(self) -> str:
        return chinese_date(self.issued_on)

    @property
    def as_of_text(self) -> str:
        """数据截止: the local time the data were read, to the minute."""
        assert self.computed_at is not None
        local = self.computed_at.astimezone(self.tz)
        return f"{chinese_date(local.date())} {local:%H:%M}"

    @property
    def small_sample_n(self) -> int:
        return self.result.opinion_raw.n if self.result.opinion_raw else 0


def seq(sheet: FeedbackSheet) -> int:
    """The 文号's running number of the sheet: half × 100 + the unit's place (see SEQ_*)."""
    match = PERIOD_RE.match(sheet.period)
    assert match is not None
    factor = int(10 ** max(SEQ_MIN_DIGITS, len(str(sheet.units))))
    return int(match.group(2)) * factor + sheet.place


def paper(sheet: FeedbackSheet, *, issuer: str, number: str, seal: str) -> Paper:
    """The letterhead of ``sheet``; ``number`` is a pattern of {year}, {half}, {seq}, {unit}."""
    match = PERIOD_RE.match(sheet.period)
    assert match is not None
    text = number.format(
        year=match.group(1), half=match.group(2), seq=seq(sheet), unit=sheet.unit.code
    )
    return Paper(issuer=issuer, number=text, seal=seal)


def _average(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(fmean(present), 2) if present else None


async def _lowest_questions(
    session: AsyncSession, actor: Actor, unit_id: int, period: str
) -> list[QuestionLine]:
    lines = []
    for survey in (await session.exec(select(Survey).order_by(col(Survey.code)))).all():
        try:
            found = await results.question_results(
                session=session, actor=actor, survey_code=survey.code, unit_id=unit_id,
                period=period,
            )  # fmt: skip
        except UnknownSurvey:
            continue
        lines += [
            QuestionLine(found.title, q.text, q.area, round(q.mean_points, 2), q.answered)
            for q in found.questions
            if q.mean_points is not None and q.answered
        ]
    return sorted(lines, key=lambda q: (q.score, q.text))[:LOWEST_QUESTIONS]


def missed_deadline(case: FollowUpCase) -> str:
    """The catalogue key of the deadline an overdue case missed: 核实 or 整改反馈."""
    if case.state in cases.AWAITING_CONTACT:
        return N_("feedback.missed.contact")
    return N_("feedback.missed.rectify")


async def overdue_cases(
    *, session: AsyncSession, actor: Actor, unit_id: int, today: date
) -> tuple[list[OverdueLine], int]:
    """The unit's cases overdue on ``today`` whose rating counts (not 系统默认评价, not
    excluded by an upheld 申诉, as the indicators count them): the first ones and the total."""
    conditions = [
        *cases.filter_conditions(actor, cases.CaseFilter(unit_id=unit_id, overdue_on=today)),
        col(Rating.excluded).is_(False),
        col(Rating.is_default).is_(False),
    ]
    joined = select(FollowUpCase).join(Rating, col(Rating.id) == col(FollowUpCase.rating_id))
    statement = joined.where(*conditions)
    total = (await session.exec(select(sa.func.count()).select_from(statement.subquery()))).one()
    ordered = statement.order_by(col(FollowUpCase.rectify_due), col(FollowUpCase.id))
    found = (await session.exec(ordered.limit(OVERDUE_LISTED))).all()
    lines = [
        OverdueLine(pk(c), cases.masked_reference(c), str(c.state), missed_deadline(c), due)
        for c in found
        if (due := cases.current_due(c)) is not None
    ]
    return sorted(lines, key=lambda line: (line.due, line.case_id)), int(total)


async def _unit_place(session: AsyncSession, unit: Unit) -> tuple[int, int]:
    everyone = [u.id for u in await list_units(session=session)]
    return everyone.index(unit.id) + 1, len(everyone)


async def _ratings(
    session: AsyncSession, actor: Actor, unit_id: int, period: str, today: date, tz: ZoneInfo
) -> tuple[indicators.Indicators | None, list[ItemLine]]:
    found = {
        group_by: await indicators.indicators_for(
            session=session,
            actor=actor,
            period=period,
            unit_id=unit_id,
            group_by=group_by,
            today=today,
            tz=tz,
        )  # fmt: skip
        for group_by in ("unit", "item")
    }
    items = sorted(
        (ItemLine(i.item_name or i.item_code or "—", i.ratings, i.bad) for i in found["item"]),
        key=lambda i: (-i.bad, i.name),
    )
    return (found["unit"][0] if found["unit"] else None), [i for i in items if i.bad][:TOP_ITEMS]


async def build(
    *, session: AsyncSession, actor: Actor, unit_code: str, period: str, method: Method,
    tz: ZoneInfo, today: date, computed_at: datetime,
) -> FeedbackSheet:  # fmt: skip
    """The sheet of ``unit_code`` for ``period``; another unit's sheet is NotFound."""
    actor.require(Perm.view)
    check_period(period)
    unit = await get_unit_or_raise(session=session, code=unit_code)
    actor.require_unit(unit.id, unit=unit_code)
    report = await service.score_period(
        session=session, period=period, method=method, tz=tz, computed_at=computed_at
    )
    everyone = report.halves[period]
    mine = next(r for r in everyone if r.unit.code == unit.code)
    peers = [r for r in everyone if r.group == mine.group]
    unit_id = pk(unit)
    summary, items = await _ratings(session, actor, unit_id, period, today, tz)
    overdue, overdue_total = await overdue_cases(
        session=session, actor=actor, unit_id=unit_id, today=today
    )
    place, units = await _unit_place(session, unit)
    sheet = FeedbackSheet(
        unit=unit,
        period=period,
        result=mine,
        kind_size=len(peers),
        ranked=sum(1 for p in peers if p.placing is not None),
        components=[
            ComponentLine(
                c, mine.components.get(c), _average([p.components.get(c) for p in peers])
            )
            for c in Component
        ],
        total_average=_average([p.total.score if p.total else None for p in peers]),
        lowest_questions=await _lowest_questions(session, actor, unit_id, period),
        top_reasons=list(summary.top_reasons) if summary else [],
        top_items=items,
        ratings=summary.ratings if summary else 0,
        bad=summary.bad if summary else 0,
        bad_rate=summary.bad_rate if summary else None,
        rectify_rate=summary.rectify_rate if summary else None,
        overdue=overdue,
        overdue_total=overdue_total,
        place=place,
        units=units,
        method=method.version,
        min_sample=method.min_sample,
        fingerprint=report.fingerprint,
        computed_at=computed_at,
        tz=tz,
        sources=source_lines(mine, method),
        sources_text=sources_text(method),
        interval_text=interval_text(method),
        confidence=method.confidence,
    )
    sheet.findings.extend(findings(sheet, method))
    return sheet


def reason_finding(sheet: FeedbackSheet) -> Msg | None:
    """The most frequent 差评 reason, or every reason tied for it (never one picked of them)."""
    if not sheet.top_reasons:
        return None
    most = sheet.top_reasons[0][1]
    tied = [reason for reason, n in sheet.top_reasons if n == most]
    items = "、".join(f"{i.name}（{i.bad} 条）" for i in sheet.top_items) or "—"
    params = {"reasons": "、".join(f"“{r}”" for r in tied), "n": most, "bad": sheet.bad}
    if len(tied) == 1:
        key = N_("feedback.finding.reasons")
    elif len(tied) == indicators.TOP_REASONS:
        # Only the first TOP_REASONS reasons are known: when all of them tie, more may too.
        key = N_("feedback.finding.reason_tied_more")
    else:
        key = N_("feedback.finding.reason_tied")
    return Msg(key, {**params, "items": items})


def question_finding(sheet: FeedbackSheet) -> Msg | None:
    """The lowest question with its n, and a caveat when few answered it."""
    if not sheet.lowest_questions:
        return None
    q = sheet.lowest_questions[0]
    params = {"text": q.text, "score": f"{q.score:.2f}", "n": q.answered}
    if q.few:
        params["min"] = MIN_QUESTION_ANSWERS
        return Msg(N_("feedback.finding.lowest_question_few"), params)
    return Msg(N_("feedback.finding.lowest_question"), params)


def _below_average(sheet: FeedbackSheet) -> list[Msg]:
    return [
        Msg(
            N_("feedback.finding.below_average"),
            {
                "component": line.component.value,
                "score": f"{line.score:.2f}",
                "average": f"{line.kind_average:.2f}",
            },
        )
        for line in sheet.components
        if line.score is not None
        and line.kind_average
        and line.score < line.kind_average * BELOW_AVERAGE
    ]


def findings(sheet: FeedbackSheet, method: Method) -> list[Msg]:
    """Short, concrete findings, most telling first, each true against the data."""
    found: list[Msg] = []
    if (reasons := reason_finding(sheet)) is not None:
        found.append(reasons)
    found += _below_average(sheet)
    found += [Msg(N_("feedback.finding.missing"), {"what": m}) for m in sheet.result.missing]
    if sheet.result.small_sample:
        found.append(
            Msg(
                N_("feedback.finding.small_sample"),
                {"n": sheet.small_sample_n, "min": method.min_sample},
            )
        )
    if (question := question_finding(sheet)) is not None:
        found.append(question)
    if sheet.overdue_total:
        found.append(Msg(N_("feedback.finding.overdue"), {"n": sheet.overdue_total}))
    return found or [Msg(N_("feedback.finding.none"), {})]


async def sheet_for(
    *, session: AsyncSession, actor: Actor, unit_code: str, period: str | None,
    setup: service.Setup,
) -> FeedbackSheet:  # fmt: skip
    """The sheet the console shows: ``period`` or the current half-year."""
    return await build(
        session=session, actor=actor, unit_code=unit_code,
        period=service.default_period(setup, period), method=setup.method, tz=setup.tz,
        today=setup.today, computed_at=setup.computed_at,
    )  # fmt: skip


async def sheet_units(
    *, session: AsyncSession, actor: Actor, unit_codes: Sequence[str] = ()
) -> list[str]:
    """The units to write sheets for: those asked for, else every active unit the actor sees."""
    actor.require(Perm.view)
    if unit_codes:
        return list(dict.fromkeys(unit_codes))
    units = await list_units(session=session, active_only=True)
    return [u.code for u in units if actor.sees(u.id)]
