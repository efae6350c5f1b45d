"""The inputs of a score, counted in SQL: one row per (unit, level), never one per answer.

Ratings and answers are grouped by the database (GROUP BY unit, level), so a half-year of
millions of rows comes back as a few hundred counts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import and_, false, func, or_, true
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scoring.compute import UnitInput, UnitRef
from scoring.method import Method, Source
from scoring.models import Component, MonitoringImport, MonitoringScore
from scoring.periods import utc_bounds
from surveys.accounts.models import Unit, UnitKind
from surveys.haochaping.models import Rating
from surveys.questionnaire.catalog import definition_of
from surveys.questionnaire.definitions import Level, QuestionType
from surveys.questionnaire.models import Answer, Response, ResponseStatus, Survey, SurveyVersion

LEVEL_CODES = [level.value for level in Level]
LevelCounts = dict[int, dict[Level, int]]


async def scored_units(*, session: AsyncSession, method: Method) -> list[Unit]:
    """The active units, less those the method lists as test data, by code."""
    statement = (
        select(Unit)
        .where(col(Unit.active).is_(True))
        .where(col(Unit.code).not_in(method.test_data.unit_codes))
        .order_by(col(Unit.code))
    )
    return list((await session.exec(statement)).all())


async def rating_counts(*, session: AsyncSession, period: str, method: Method) -> LevelCounts:
    """Valid 好差评 per unit and level: active, not system-default, not excluded on 申诉."""
    statement = (
        select(Rating.unit_id, Rating.level, func.count())
        .where(Rating.period == period)
        .where(col(Rating.is_default) == false())
        .where(col(Rating.active) == true())
        .where(col(Rating.excluded) == false())
        .where(col(Rating.level).in_(LEVEL_CODES))
        .group_by(col(Rating.unit_id), col(Rating.level))
    )
    for prefix in method.test_data.rating_source_id_prefixes:
        statement = statement.where(~col(Rating.source_id).startswith(prefix, autoescape=True))
    return _fold((await session.exec(statement)).all())


async def _satisfaction_questions(
    session: AsyncSession, period: str, method: Method
) -> dict[int, list[str]]:
    """Per survey version of the period, the keys of the questions that count."""
    statement = (
        select(SurveyVersion, Survey.code)
        .join(Survey, col(Survey.id) == col(SurveyVersion.survey_id))
        .where(SurveyVersion.period == period)
        .where(col(Survey.code).not_in(method.test_data.survey_codes))
    )
    counted: dict[int, list[str]] = {}
    for version, _code in (await session.exec(statement)).all():
        keys = [
            q.key
            for q in definition_of(version).questions
            if q.type is QuestionType.satisfaction
            and (method.questions == "all" or q.key in method.questions)
        ]
        if keys and version.id is not None:
            counted[version.id] = keys
    return counted


async def answer_counts(
    *, session: AsyncSession, period: str, method: Method, tz: ZoneInfo
) -> LevelCounts:
    """Satisfaction answers per unit and level, answered within the half-year."""
    questions = await _satisfaction_questions(session, period, method)
    if not questions:
        return {}
    start, end = utc_bounds(period, tz)
    statement = (
        select(Response.unit_id, Answer.choice, func.count())
        .join(Response, col(Response.id) == col(Answer.response_id))
        .where(Response.period == period)
        .where(col(Response.unit_id).is_not(None))
        .where(col(Answer.choice).in_(LEVEL_CODES))
        .where(col(Answer.answered_at) >= start, col(Answer.answered_at) < end)
        .where(
            or_(
                *(
                    and_(
                        col(Response.survey_version_id) == version_id,
                        col(Answer.question_key).in_(keys),
                    )
                    for version_id, keys in sorted(questions.items())
                )
            )
        )
        .group_by(col(Response.unit_id), col(Answer.choice))
    )
    if method.completed_responses_only:
        statement = statement.where(Response.status == ResponseStatus.completed)
    return _fold((await session.exec(statement)).all())


def _fold(rows: Sequence[tuple[int | None, str | None, int]]) -> LevelCounts:
    counts: LevelCounts = defaultdict(dict)
    for unit_id, level, count in rows:
        if unit_id is not None and level is not None:
            counts[unit_id][Level(level)] = int(count)
    return dict(counts)


async def imported_components(
    *, session: AsyncSession, period: str
) -> dict[int, dict[Component, float]]:
    """Per unit, the current imported component scores (areas summed to the total)."""
    statement = (
        select(
            MonitoringImport.component, MonitoringScore.unit_id, func.sum(MonitoringScore.score)
        )
        .join(MonitoringImport, col(MonitoringImport.id) == col(MonitoringScore.import_id))
        .where(MonitoringImport.period == period)
        .where(col(MonitoringImport.superseded_at).is_(None))
        .group_by(col(MonitoringImport.component), col(MonitoringScore.unit_id))
    )
    found: dict[int, dict[Component, float]] = defaultdict(dict)
    for component, unit_id, total in (await session.exec(statement)).all():
        found[unit_id][Component(component)] = float(total)
    return dict(found)


async def gather_inputs(
    *, session: AsyncSession, period: str, method: Method, tz: ZoneInfo
) -> list[UnitInput]:
    """Everything :func:`scoring.compute.score_half` needs for one half-year."""
    units = await scored_units(session=session, method=method)
    ratings = await rating_counts(session=session, period=period, method=method)
    answers = await answer_counts(session=session, period=period, method=method, tz=tz)
    imported = await imported_components(session=session, period=period)
    inputs = []
    for unit in units:
        uid = unit.id or 0
        counts = {
            source: by_unit[uid]
            for source, by_unit in ((Source.survey, answers), (Source.rating, ratings))
            if uid in by_unit
        }
        ref = UnitRef(code=unit.code, name=unit.name, kind=UnitKind(unit.kind).value)
        inputs.append(UnitInput(unit=ref, counts=counts, imported=imported.get(uid, {})))
    return inputs
