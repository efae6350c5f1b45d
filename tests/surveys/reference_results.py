"""The previous implementations of the pages rewritten for a city's year of data (issue 14),
kept verbatim as the oracle: the rewritten pages must give the same numbers and rows.

Survey results and responses, the 差评 case queue (with the list query it used) and the
考评结果 page, as they were before they were computed in SQL, paged by cursor or cached.
Only the helpers they call are imported from the live modules; nothing here is used by
the application.
"""

# ruff: noqa

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import date, timedelta

from sqlalchemy import ColumnElement, not_, or_
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scoring.monitoring import list_imports
from scoring.periods import recent
from scoring.service import (
    TREND_PERIODS,
    ScoreReport,
    ScoringPage,
    Setup,
    charts,
    default_period,
    score_scope,
)
from surveys.accounts.access import Actor, Perm
from surveys.accounts.models import Unit
from surveys.cases import service as cases
from surveys.cases.models import FollowUpCase
from surveys.cases.queries import (
    QueueFilters,
    QueuePage,
    QueueRow,
    UnitChoice,
    _visible_units,
    summarize,
)
from surveys.cases.service import AWAITING_CONTACT, AWAITING_RECTIFY, CaseFilter, _day_start
from surveys.core.clock import as_utc
from surveys.core.exceptions import DomainError
from surveys.core.masking import mask_text
from surveys.core.models import pk
from surveys.haochaping.models import Rating
from surveys.questionnaire import catalog
from surveys.questionnaire.definitions import QuestionType
from surveys.questionnaire.models import Answer, Response, ResponseStatus, Survey, SurveyVersion
from surveys.questionnaire.results import (
    CHANNELS,
    FreeTextRow,
    ResponseRow,
    SurveyResults,
    _Scope,
    _result,
    _scope,
    _survey,
    parse_channel,
)

_ON_RESPONSE = col(Answer.response_id) == col(Response.id)


async def _by_channel(session: AsyncSession, scope: _Scope) -> tuple[tuple[str, int], ...]:
    statement = (
        select(col(Response.channel), func.count(col(Response.id)))
        .where(*scope.conditions(any_channel=True))
        .group_by(col(Response.channel))
    )
    counts = {str(channel): int(n) for channel, n in (await session.exec(statement)).all()}
    return tuple((channel, counts.get(channel, 0)) for channel in CHANNELS)


async def _tally(
    session: AsyncSession, scope: _Scope, kinds: dict[str, QuestionType]
) -> tuple[dict[str, Counter[str]], Counter[str], Counter[str]]:
    """Per question key: counts per answer code, answers given, answers skipped."""
    counts: dict[str, Counter[str]] = {key: Counter() for key in kinds}
    answered: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    given = (
        select(col(Answer.question_key), col(Answer.choice), col(Answer.number), func.count())
        .join(Response, _ON_RESPONSE)
        .where(*scope.conditions(), col(Answer.skipped).is_(False))
        .group_by(col(Answer.question_key), col(Answer.choice), col(Answer.number))
    )
    for key, choice, number, n in (await session.exec(given)).all():
        if key not in kinds:
            continue  # a question of an earlier version only
        answered[key] += n
        if kinds[key] is QuestionType.scale and number is not None:
            counts[key][str(number)] += n
        elif kinds[key] in (QuestionType.single, QuestionType.satisfaction) and choice:
            counts[key][choice] += n
    left_out = (
        select(col(Answer.question_key), func.count())
        .join(Response, _ON_RESPONSE)
        .where(*scope.conditions(), col(Answer.skipped).is_(True))
        .group_by(col(Answer.question_key))
    )
    for key, n in (await session.exec(left_out)).all():
        skipped[key] += n
    multi = [key for key, kind in kinds.items() if kind is QuestionType.multi]
    if multi:
        ticked = (
            select(col(Answer.question_key), col(Answer.choices))
            .join(Response, _ON_RESPONSE)
            .where(
                *scope.conditions(),
                col(Answer.question_key).in_(multi),
                col(Answer.skipped).is_(False),
            )
        )
        for key, choices in (await session.exec(ticked)).all():
            counts[key].update(set(choices or []))
    return counts, answered, skipped


async def question_results(
    *,
    session: AsyncSession,
    actor: Actor,
    survey_code: str,
    unit_id: int | None = None,
    period: str | None = None,
    channel: str | None = None,
) -> SurveyResults:
    """Per question of the latest version: counts per option or level, and the means;
    ``channel`` ("telegram" or "web") keeps that channel's responses only."""
    scope = await _scope(session, actor, Perm.view, survey_code, unit_id, period, channel)
    definition = catalog.definition_of(scope.version)
    kinds = {q.key: q.type for q in definition.questions}
    counts, answered, skipped = await _tally(session, scope, kinds)
    total = (
        await session.exec(select(func.count(col(Response.id))).where(*scope.conditions()))
    ).one()
    return SurveyResults(
        code=scope.survey.code,
        title=scope.version.title,
        version=scope.version.version,
        period=scope.period,
        unit_id=unit_id,
        responses=int(total),
        questions=tuple(
            _result(q, counts[q.key], answered[q.key], skipped[q.key])
            for q in definition.questions
        ),
        channel=scope.channel,
        by_channel=await _by_channel(session, scope),
    )


async def _free_text(session: AsyncSession, scope: _Scope, query: str | None) -> list[FreeTextRow]:
    """Every masked text answer in scope, newest first, matching ``query`` if given."""
    definition = catalog.definition_of(scope.version)
    texts = {q.key: q.text for q in definition.questions if q.type is QuestionType.text}
    if not texts:
        return []
    statement = (
        select(Answer, col(Response.unit_id))
        .join(Response, _ON_RESPONSE)
        .where(*scope.conditions())
        .where(
            col(Answer.question_key).in_(list(texts)),
            col(Answer.skipped).is_(False),
            col(Answer.text).is_not(None),
        )
    )
    found = (await session.exec(statement.order_by(col(Answer.id).desc()))).all()
    # Search the masked text, so a search cannot confirm a hidden phone or ID number.
    needle = (query or "").strip().casefold()
    masked = [(answer, unit_id, mask_text(answer.text or "")) for answer, unit_id in found]
    if needle:
        masked = [row for row in masked if needle in row[2].casefold()]
    unit_ids = {unit_id for _, unit_id, _ in masked if unit_id is not None}
    names: dict[int, str] = {}
    if unit_ids:
        units = await session.exec(select(Unit).where(col(Unit.id).in_(unit_ids)))
        names = {u.id: u.name for u in units.all() if u.id is not None}
    return [
        FreeTextRow(
            response_id=answer.response_id,
            unit_id=unit_id,
            unit_name=names.get(unit_id) if unit_id is not None else None,
            question_key=answer.question_key,
            question_text=texts[answer.question_key],
            text=text,
            answered_at=as_utc(answer.answered_at),
        )
        for answer, unit_id, text in masked
    ]


async def free_text(
    *,
    session: AsyncSession,
    actor: Actor,
    survey_code: str,
    query: str | None = None,
    unit_id: int | None = None,
    period: str | None = None,
    offset: int = 0,
    limit: int = 50,
    channel: str | None = None,
) -> tuple[list[FreeTextRow], int]:
    """One page of masked text answers (newest first) and the number of matches."""
    scope = await _scope(session, actor, Perm.view, survey_code, unit_id, period, channel)
    rows = await _free_text(session, scope, query)
    return rows[offset : offset + limit], len(rows)


async def list_responses(
    *,
    session: AsyncSession,
    actor: Actor,
    survey_code: str | None = None,
    unit_id: int | None = None,
    period: str | None = None,
    status: ResponseStatus | None = None,
    offset: int = 0,
    limit: int = 50,
    channel: str | None = None,
) -> tuple[list[ResponseRow], int]:
    """Responses of the actor's units, newest first: ids and states, never who answered."""
    actor.require(Perm.view)
    statement = (
        select(Response, Survey.code, SurveyVersion.version)
        .join(Survey, col(Response.survey_id) == col(Survey.id))
        .join(SurveyVersion, col(Response.survey_version_id) == col(SurveyVersion.id))
    )
    if survey_code is not None:
        survey, _ = await _survey(session, survey_code)
        statement = statement.where(Response.survey_id == survey.id)
    units = actor.unit_filter(unit_id)
    if units is not None:
        statement = statement.where(col(Response.unit_id).in_(units))
    if period:
        statement = statement.where(Response.period == period)
    if status is not None:
        statement = statement.where(Response.status == status.value)
    if (channel := parse_channel(channel)) is not None:
        statement = statement.where(Response.channel == channel)
    total = (await session.exec(select(func.count()).select_from(statement.subquery()))).one()
    page = statement.order_by(col(Response.id).desc()).offset(offset).limit(limit)
    rows = [
        ResponseRow(
            id=response.id or 0,
            survey=code,
            version=version,
            period=response.period,
            unit_id=response.unit_id,
            status=ResponseStatus(response.status),
            channel=response.channel,
            started_at=as_utc(response.started_at),
            completed_at=as_utc(response.completed_at) if response.completed_at else None,
        )
        for response, code, version in (await session.exec(page)).all()
    ]
    return rows, int(total)


async def case_queue(
    session: AsyncSession, actor: Actor, filters: QueueFilters | None, on: date
) -> QueuePage:
    """The actor's cases by deadline, earliest first, with the units they may filter by.

    ``filters`` None: only the choices (the adapter found the typed filters invalid).
    """
    actor.require(Perm.view)
    visible = await _visible_units(session, actor)
    choices = [UnitChoice(pk(u), u.code, u.name) for u in visible]
    if filters is None:
        return QueuePage(choices)
    unit_id = filters.unit_id
    if filters.unit_code:
        chosen = next((u for u in choices if u.code == filters.unit_code), None)
        if chosen is None:
            return QueuePage(choices, unknown_unit=True)
        unit_id = chosen.id
    where = cases.CaseFilter(
        unit_id=unit_id,
        state=filters.state,
        overdue_on=on if filters.overdue is True else None,
        on_time_on=on if filters.overdue is False else None,
        opened_from=filters.opened_from,
        opened_to=filters.opened_to,
    )
    found, total = await list_cases(
        session=session, actor=actor, where=where, offset=filters.offset, limit=filters.limit
    )
    return QueuePage(choices, await _rows(session, found, choices, on), total)


async def _rows(
    session: AsyncSession, found: Sequence[FollowUpCase], choices: list[UnitChoice], on: date
) -> list[QueueRow]:
    items = await _item_names(session, found)
    by_id = {u.id: u for u in choices}
    rows = []
    for case in found:
        unit = by_id.get(case.unit_id)
        rows.append(
            QueueRow(
                **vars(summarize(case, on)),
                unit_code=unit.code if unit else "",
                unit_name=unit.name if unit else "",
                item=items.get(case.rating_id),
            )
        )
    return rows


async def case_rows(
    session: AsyncSession, actor: Actor, case_ids: Sequence[int], on: date
) -> list[QueueRow]:
    """These cases as queue rows, in the order given; those the actor may not see left out."""
    actor.require(Perm.view)
    if not case_ids:
        return []
    statement = select(FollowUpCase).where(col(FollowUpCase.id).in_(case_ids))
    found = {pk(case): case for case in (await session.exec(statement)).all()}
    visible = [found[i] for i in case_ids if i in found and actor.sees(found[i].unit_id)]
    choices = [UnitChoice(pk(u), u.code, u.name) for u in await _visible_units(session, actor)]
    return await _rows(session, visible, choices, on)


async def _item_names(
    session: AsyncSession, found: Sequence[FollowUpCase]
) -> dict[int, str | None]:
    ids = [case.rating_id for case in found]
    if not ids:
        return {}
    rows = await session.exec(select(Rating.id, Rating.item_name).where(col(Rating.id).in_(ids)))
    return {
        int(rating_id): mask_text(name) if name else name
        for rating_id, name in rows.all()
        if rating_id is not None
    }


async def list_cases(
    *,
    session: AsyncSession,
    actor: Actor,
    where: CaseFilter = CaseFilter(),
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[FollowUpCase], int]:
    """The actor's cases by deadline, earliest first, one page of them and the total."""
    actor.require(Perm.view)
    statement = select(FollowUpCase)
    units = actor.unit_filter(where.unit_id)
    if units is not None:
        statement = statement.where(col(FollowUpCase.unit_id).in_(units))
    if where.state is not None:
        statement = statement.where(FollowUpCase.state == where.state.value)
    if where.opened_from is not None:
        statement = statement.where(col(FollowUpCase.opened_at) >= _day_start(where.opened_from))
    if where.opened_to is not None:
        statement = statement.where(
            col(FollowUpCase.opened_at) < _day_start(where.opened_to + timedelta(days=1))
        )
    if where.overdue_on is not None:
        statement = statement.where(_overdue(where.overdue_on))
    if where.on_time_on is not None:
        statement = statement.where(not_(_overdue(where.on_time_on)))
    total = (await session.exec(select(func.count()).select_from(statement.subquery()))).one()
    statement = statement.order_by(col(FollowUpCase.rectify_due), col(FollowUpCase.id))
    found = (await session.exec(statement.offset(offset).limit(limit))).all()
    return list(found), int(total)


async def scoring_page(
    *, session: AsyncSession, actor: Actor, setup: Setup, period: str | None = None
) -> ScoringPage:
    """Every unit's scores of a half-year (default: the current one), the trend of the last
    half-years that can be scored, and the monitoring imports (administrators only)."""
    actor.require(Perm.manage)
    chosen = default_period(setup, period)
    report = await score_scope(session=session, setup=setup, period=chosen)
    trend: dict[str, ScoreReport] = {}
    for earlier in recent(chosen, TREND_PERIODS):
        try:
            trend[earlier] = (
                report
                if earlier == chosen
                else await score_scope(session=session, setup=setup, period=earlier)
            )
        except DomainError:
            continue
    return ScoringPage(
        report=report,
        period=chosen,
        rows=report.halves[chosen],
        charts=charts(report, trend),
        imports=await list_imports(session=session),
    )


def _overdue(on: date) -> ColumnElement[bool]:
    """The previous ``surveys.cases.service._overdue``, verbatim."""
    return or_(
        (col(FollowUpCase.state).in_([s.value for s in AWAITING_CONTACT]))
        & (col(FollowUpCase.contact_due) < on),
        (col(FollowUpCase.state).in_([s.value for s in AWAITING_RECTIFY]))
        & (col(FollowUpCase.rectify_due) < on),
    )
