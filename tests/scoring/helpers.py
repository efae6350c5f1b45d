"""Builders of scoring inputs: units, ratings, survey answers and component imports."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlmodel import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scoring.models import Component, MonitoringImport, MonitoringScore
from scoring.monitoring import TOTAL_COLUMN, import_monitoring
from surveys.accounts.models import Unit, UnitKind
from surveys.core.models import pk
from surveys.haochaping.models import Rating, RatingSource
from surveys.questionnaire.definitions import Level
from surveys.questionnaire.models import (
    Answer,
    Respondent,
    Response,
    ResponseStatus,
    Survey,
    SurveyVersion,
)

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)
_ids = itertools.count(1)


def mid(period: str) -> datetime:
    """A moment well inside the half-year."""
    year, half = int(period[:4]), period[-1]
    return datetime(year, 3 if half == "1" else 9, 15, 4, 0, tzinfo=UTC)


async def add_unit(
    session: AsyncSession, code: str, name: str, kind: UnitKind, *, active: bool = True
) -> Unit:
    unit = Unit(code=code, name=name, kind=kind, active=active)
    session.add(unit)
    await session.flush()
    return unit


async def add_ratings(
    session: AsyncSession, unit: Unit, period: str, levels: Mapping[Level, int], **flags: object
) -> None:
    """``levels[level]`` ratings of ``unit``; flags set is_default, active, excluded, source_id."""
    prefix = str(flags.pop("source_prefix", "r"))
    for level, count in levels.items():
        for _ in range(count):
            session.add(
                Rating(
                    source=RatingSource.api,
                    source_id=f"{prefix}-{next(_ids)}",
                    unit_id=pk(unit),
                    channel=1,
                    level=level.value,
                    period=period,
                    rated_at=mid(period),
                    **flags,
                )  # fmt: skip
            )
    await session.flush()


async def survey_version(
    session: AsyncSession, period: str, *, code: str = "szzf", keys: tuple[str, ...] = ("overall",)
) -> SurveyVersion:
    """A survey of ``period`` with satisfaction questions ``keys`` and one text question."""
    survey = Survey(code=f"{code}-{period.lower()}")
    session.add(survey)
    await session.flush()
    questions = [
        {"key": key, "type": "satisfaction", "text": f"{key}?", "area": "一网通办"} for key in keys
    ] + [{"key": "comment", "type": "text", "text": "建议？", "required": False}]
    start = date(int(period[:4]), 1 if period.endswith("1") else 7, 1)
    end = date(start.year, 6 if period.endswith("1") else 12, 30 if period.endswith("1") else 31)
    definition = {
        "code": survey.code, "title": "满意度调查", "period": period, "opens_on": str(start),
        "closes_on": str(end), "questions": questions,
    }  # fmt: skip
    version = SurveyVersion(
        survey_id=pk(survey), version=1, title="满意度调查", period=period, opens_on=start,
        closes_on=end, definition=definition, digest=f"d{next(_ids)}",
    )  # fmt: skip
    session.add(version)
    await session.flush()
    return version


async def add_answers(
    session: AsyncSession, version: SurveyVersion, unit: Unit, levels: Mapping[Level, int], *,
    key: str = "overall", status: ResponseStatus = ResponseStatus.completed,
    answered_at: datetime | None = None,
) -> None:  # fmt: skip
    """One response per answer, each by its own respondent, answering ``key``."""
    for level, count in levels.items():
        for _ in range(count):
            respondent = Respondent(pseudonym=f"p{next(_ids)}")
            session.add(respondent)
            await session.flush()
            response = Response(
                respondent_id=pk(respondent), survey_id=version.survey_id,
                survey_version_id=pk(version), period=version.period, unit_id=pk(unit),
                status=status,
            )  # fmt: skip
            session.add(response)
            await session.flush()
            moment = answered_at or mid(version.period)
            session.add(Answer(response_id=pk(response), question_key=key, choice=level.value,
                               answered_at=moment))  # fmt: skip
            session.add(Answer(response_id=pk(response), question_key="comment", text="好"))
    await session.flush()


async def import_totals(
    session: AsyncSession, period: str, component: Component, scores: Mapping[str, float]
) -> MonitoringImport:
    """A component import in the 总分 layout, names taken from the stored units."""
    names = {u.code: u.name for u in (await session.exec(select(Unit))).all()}
    rows = [["单位编码", "单位名称", TOTAL_COLUMN]]
    rows += [[code, names[code], str(score)] for code, score in scores.items()]
    return await import_monitoring(
        session=session, rows=rows, period=period, component=component, actor="test", now=NOW
    )


async def import_rows(
    session: AsyncSession, rows: list[list[str]], *, period: str = "2026H1",
    component: Component = Component.monitoring,
) -> MonitoringImport:  # fmt: skip
    return await import_monitoring(
        session=session, rows=rows, period=period, component=component, actor="test", now=NOW
    )


async def stored_counts(session: AsyncSession) -> tuple[int, int]:
    imports = (await session.exec(select(func.count()).select_from(MonitoringImport))).one()
    scores = (await session.exec(select(func.count()).select_from(MonitoringScore))).one()
    return imports, scores
