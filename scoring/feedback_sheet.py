"""The 评估情况反馈单 of one unit and half-year (seed 000: Wuhan's feedback sheets): its scores
and ranks, each component against the average of its kind, the survey questions it scored
lowest on, the top 差评 reasons and 事项, overdue cases, and findings written from these."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from statistics import fmean
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scoring import service
from scoring.compute import HalfResult
from scoring.method import Method
from scoring.models import Component
from scoring.periods import check_period
from surveys.accounts.access import Actor, Perm
from surveys.accounts.models import Unit
from surveys.accounts.units import get_unit_or_raise, list_units
from surveys.cases import service as cases
from surveys.core.exceptions import UnknownSurvey
from surveys.core.i18n import N_, Msg
from surveys.core.models import pk
from surveys.haochaping import indicators
from surveys.questionnaire import results
from surveys.questionnaire.models import Survey

LOWEST_QUESTIONS = 3
TOP_ITEMS = 3
BELOW_AVERAGE = 0.95  # a component under 95% of its kind's average is named in the findings


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
    due: date


@dataclass(frozen=True)
class FeedbackSheet:
    unit: Unit
    period: str
    result: HalfResult
    kind_size: int
    components: list[ComponentLine]
    total_average: float | None
    lowest_questions: list[QuestionLine]
    top_reasons: list[tuple[str, int]]
    top_items: list[ItemLine]
    bad_rate: float | None
    rectify_rate: float | None
    overdue: list[OverdueLine]
    findings: list[Msg] = field(default_factory=list)
    method: str = ""
    fingerprint: str = ""
    computed_at: datetime | None = None


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
    peers = [r for r in everyone if r.unit.kind == mine.unit.kind]
    components = [
        ComponentLine(c, mine.components.get(c), _average([p.components.get(c) for p in peers]))
        for c in Component
    ]
    total_average = _average([p.total.score if p.total else None for p in peers])
    unit_id = pk(unit)
    by_unit = await indicators.indicators_for(
        session=session, actor=actor, period=period, unit_id=unit_id, group_by="unit",
        today=today, tz=tz,
    )  # fmt: skip
    by_item = await indicators.indicators_for(
        session=session, actor=actor, period=period, unit_id=unit_id, group_by="item",
        today=today, tz=tz,
    )  # fmt: skip
    items = sorted(
        (ItemLine(i.item_name or i.item_code or "—", i.ratings, i.bad) for i in by_item if i.bad),
        key=lambda i: (-i.bad, i.name),
    )[:TOP_ITEMS]
    overdue_cases, _ = await cases.list_cases(
        session=session, actor=actor,
        where=cases.CaseFilter(unit_id=unit_id, overdue_on=today), limit=20,
    )  # fmt: skip
    overdue = [
        OverdueLine(pk(c), cases.masked_reference(c), str(c.state), c.rectify_due)
        for c in overdue_cases
    ]
    summary = by_unit[0] if by_unit else None
    sheet = FeedbackSheet(
        unit=unit,
        period=period,
        result=mine,
        kind_size=len(peers),
        components=components,
        total_average=total_average,
        lowest_questions=await _lowest_questions(session, actor, unit_id, period),
        top_reasons=list(summary.top_reasons) if summary else [],
        top_items=items,
        bad_rate=summary.bad_rate if summary else None,
        rectify_rate=summary.rectify_rate if summary else None,
        overdue=overdue,
        method=f"{method.name} {method.version}",
        fingerprint=report.fingerprint,
        computed_at=computed_at,
    )
    sheet.findings.extend(findings(sheet, method))
    return sheet


def findings(sheet: FeedbackSheet, method: Method) -> list[Msg]:
    """Short, concrete findings, most telling first."""
    found: list[Msg] = []
    if sheet.top_reasons:
        reason = sheet.top_reasons[0][0]
        items = "、".join(i.name for i in sheet.top_items) or "—"
        found.append(Msg(N_("feedback.finding.reasons"), {"reason": reason, "items": items}))
    for line in sheet.components:
        if (
            line.score is not None
            and line.kind_average
            and line.score < line.kind_average * BELOW_AVERAGE
        ):
            found.append(
                Msg(
                    N_("feedback.finding.below_average"),
                    {
                        "component": line.component.value,
                        "score": f"{line.score:.2f}",
                        "average": f"{line.kind_average:.2f}",
                    },
                )
            )
    for missing in sheet.result.missing:
        found.append(Msg(N_("feedback.finding.missing"), {"what": missing}))
    if sheet.result.small_sample:
        n = sheet.result.opinion_raw.n if sheet.result.opinion_raw else 0
        found.append(Msg(N_("feedback.finding.small_sample"), {"n": n, "min": method.min_sample}))
    if sheet.lowest_questions:
        q = sheet.lowest_questions[0]
        found.append(
            Msg(
                N_("feedback.finding.lowest_question"), {"text": q.text, "score": f"{q.score:.2f}"}
            )
        )
    if sheet.overdue:
        found.append(Msg(N_("feedback.finding.overdue"), {"n": len(sheet.overdue)}))
    if not found:
        found.append(Msg(N_("feedback.finding.none"), {}))
    return found


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
