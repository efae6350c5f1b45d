"""The inputs of a score, counted in SQL: a few rows per unit, never one per answer.

Ratings are grouped by the database (GROUP BY unit, level); survey answers by respondent and
then by unit (:func:`survey_tallies`), so a half-year of millions of rows comes back as a few
hundred counts and sums. 12345 回访 counts and outside results come from their own modules.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import and_, false, func, or_, true
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scoring.compute import (
    MEAN_DIGITS,
    MEAN_SQ_DIGITS,
    OutsideInput,
    SurveyTally,
    UnitInput,
    UnitRef,
)
from scoring.method import Method, Source
from scoring.models import Component, MonitoringImport, MonitoringScore
from scoring.outside import outside_results
from scoring.periods import utc_bounds
from surveys.accounts.models import Unit, UnitKind
from surveys.haochaping.models import Rating, RatingSource
from surveys.hotline.tally import hotline_tallies
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
    """Valid 好差评 per unit and level: active (the latest round of each 办件, so one per
    办件), not system-default, not excluded on 申诉, and not the 差评 a 12345 回访 opened
    (``source = hotline``: that person counts in the 12345 source)."""
    statement = (
        select(Rating.unit_id, Rating.level, func.count())
        .where(Rating.period == period)
        .where(col(Rating.is_default) == false())
        .where(col(Rating.active) == true())
        .where(col(Rating.excluded) == false())
        .where(col(Rating.level).in_(LEVEL_CODES))
        .where(col(Rating.source) != RatingSource.hotline.value)
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


def _answers_where(
    statement: Any, questions: dict[int, list[str]], period: str, method: Method, tz: ZoneInfo
) -> Any:
    """The valid satisfaction answers of the period: counted questions of the period's
    survey versions, a level, answered within the half-year, of a unit's response (a
    completed one unless the method says otherwise)."""
    start, end = utc_bounds(period, tz)
    statement = (
        statement.where(Response.period == period)
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
    )
    if method.completed_responses_only:
        statement = statement.where(Response.status == ResponseStatus.completed)
    return statement


async def answer_counts(
    *, session: AsyncSession, period: str, method: Method, tz: ZoneInfo
) -> LevelCounts:
    """Satisfaction answers per unit and level, answered within the half-year."""
    questions = await _satisfaction_questions(session, period, method)
    if not questions:
        return {}
    statement = select(Response.unit_id, Answer.choice, func.count()).join(
        Response, col(Response.id) == col(Answer.response_id)
    )
    statement = _answers_where(statement, questions, period, method, tz).group_by(
        col(Response.unit_id), col(Answer.choice)
    )
    return _fold((await session.exec(statement)).all())


async def survey_tallies(
    *, session: AsyncSession, period: str, method: Method, tz: ZoneInfo
) -> dict[int, SurveyTally]:
    """Per unit, its respondents' answers summed per person (:class:`SurveyTally`).

    One statement: a sub-query groups the valid answers by response (per respondent: m =
    answers, s = Σ points, q = Σ points²; points of the method, 100/0 under a share method),
    the outer query groups those by unit (R, Σm, Σs, Σs², Σm², Σs·m, Σs/m, Σ(s/m)², Σq), so
    one row per unit comes back, never one per respondent.
    """
    questions = await _satisfaction_questions(session, period, method)
    if not questions:
        return {}
    points = method.answer_points()

    def worth(square: bool) -> sa.ColumnElement[float]:
        return sa.case(
            *(
                (col(Answer.choice) == level.value, sa.literal(value * value if square else value))
                for level, value in points.items()
            ),
            else_=sa.literal(0.0),
        )

    inner: Any = select(
        col(Response.unit_id).label("unit_id"),
        func.count().label("m"),
        func.sum(worth(False)).label("s"),
        func.sum(worth(True)).label("q"),
    ).join(Response, col(Response.id) == col(Answer.response_id))
    per_person = (
        _answers_where(inner, questions, period, method, tz)
        .group_by(col(Response.id), col(Response.unit_id))
        .subquery("per_person")
    )
    m = sa.cast(per_person.c.m, sa.Float)
    s = sa.cast(per_person.c.s, sa.Float)
    mean = s / m
    statement = sa.select(
        per_person.c.unit_id,
        func.count(),
        func.sum(per_person.c.m),
        func.sum(s),
        func.sum(s * s),
        func.sum(per_person.c.m * per_person.c.m),
        func.sum(s * m),
        func.sum(mean),
        func.sum(mean * mean),
        func.sum(sa.cast(per_person.c.q, sa.Float)),
    ).group_by(per_person.c.unit_id)
    connection = await session.connection()
    found = {}
    for row in (await connection.execute(statement)).all():
        unit_id, count, answers, total, total_sq, answers_sq, cross, means, means_sq, sq = row
        found[int(unit_id)] = SurveyTally(
            respondents=int(count),
            answers=int(answers),
            points=float(total),
            person_points_sq=float(total_sq),
            answers_sq=int(answers_sq),
            points_answers=float(cross),
            means=round(float(means), MEAN_DIGITS),
            means_sq=round(float(means_sq), MEAN_SQ_DIGITS),
            points_sq=float(sq),
        )
    return found


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
    surveys = await survey_tallies(session=session, period=period, method=method, tz=tz)
    hotline = await hotline_tallies(session=session, period=period)
    outside = await outside_results(session=session, period=period)
    imported = await imported_components(session=session, period=period)
    inputs = []
    for unit in units:
        uid = unit.id or 0
        counts = {Source.rating: ratings[uid]} if uid in ratings else {}
        ref = UnitRef(code=unit.code, name=unit.name, kind=UnitKind(unit.kind).value)
        results = sorted(
            (OutsideInput(r.source, float(r.score), int(r.n)) for r in outside.get(uid, [])),
            key=lambda r: (r.source, r.score, r.n),
        )
        inputs.append(
            UnitInput(
                unit=ref,
                counts=counts,
                imported=imported.get(uid, {}),
                survey=surveys.get(uid),
                hotline=hotline.get(uid),
                outside=tuple(results),
            )
        )
    return inputs
