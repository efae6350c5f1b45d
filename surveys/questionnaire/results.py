"""Survey results for staff: distributions per question, free text, responses, exports.

Every read needs :attr:`Perm.view`, every export :attr:`Perm.export`. Results cover the
responses of the units the actor sees (an actor with units: those units; admin and
city-wide readers: all); asking for another unit explicitly is :class:`NotFound`.

Only **completed** responses count in distributions, free text and exports, so a half-done
questionnaire does not move the numbers; :func:`list_responses` shows both states.
Questions come from the survey's latest version; answers of every version are matched by
question key. Staff never see who answered: rows carry the response id, never a respondent,
chat id or name, and free text is masked (:func:`surveys.masking.mask_text`).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal, TypeVarTuple

import sqlalchemy as sa
from sqlalchemy import Select
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.access import Actor, Perm
from surveys.accounts.models import Unit
from surveys.accounts.units import list_units
from surveys.core.clock import as_utc
from surveys.core.exceptions import BadCursor, NotFound, UnknownSurvey
from surveys.core.i18n import N_, Translator
from surveys.core.masking import mask_text
from surveys.core.models import pk
from surveys.questionnaire import catalog, engine, exports
from surveys.questionnaire.definitions import Level, Question, QuestionType
from surveys.questionnaire.models import Answer, Response, ResponseStatus, Survey, SurveyVersion

Ts = TypeVarTuple("Ts")
# Method A of domain.md §5: equal-interval points per level.
LEVEL_POINTS: dict[str, int] = {
    Level.very_satisfied.value: 100,
    Level.satisfied.value: 75,
    Level.neutral.value: 50,
    Level.dissatisfied.value: 25,
    Level.very_dissatisfied.value: 0,
}
# Where a response was answered (Response.channel): the bot, or the mobile web chat.
CHANNELS = ("telegram", "web")
ExportFormat = Literal["csv", "xlsx"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("csv", "xlsx")


@dataclass(frozen=True)
class OptionCount:
    code: str
    label: str
    count: int
    share: float  # of the question's answers, 0..1; a multi question's shares may sum above 1


@dataclass(frozen=True)
class QuestionResult:
    key: str
    type: QuestionType
    text: str
    area: str | None
    answered: int  # answers given (not skipped)
    skipped: int
    options: tuple[OptionCount, ...]  # empty for text questions
    mean_points: float | None = None  # satisfaction: mean of 100/75/50/25/0 over `answered`
    mean: float | None = None  # scale questions (0-10)
    minimum: int | None = None
    maximum: int | None = None


@dataclass(frozen=True)
class SurveyResults:
    code: str
    title: str
    version: int
    period: str | None  # the filter, None for every period
    unit_id: int | None  # the filter, None for every unit the actor sees
    responses: int  # completed responses in scope
    questions: tuple[QuestionResult, ...]
    channel: str | None = None  # the filter, None for both channels
    # Completed responses per channel within the other filters, every channel listed.
    by_channel: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class FreeTextRow:
    response_id: int
    unit_id: int | None
    unit_name: str | None
    question_key: str
    question_text: str
    text: str  # masked
    answered_at: datetime


@dataclass(frozen=True)
class ResponseRow:
    """A response as staff see it: its own id and state, never who answered."""

    id: int  # the response's own id: it names no respondent
    survey: str  # the survey's code
    version: int
    period: str
    unit_id: int | None
    status: ResponseStatus
    channel: str  # "telegram" or "web"
    started_at: datetime
    completed_at: datetime | None


@dataclass(frozen=True)
class _Scope:
    survey: Survey
    version: SurveyVersion
    units: frozenset[int] | None
    unit_id: int | None
    period: str | None
    channel: str | None = None

    def conditions(self, *, any_channel: bool = False) -> list[sa.ColumnElement[bool]]:
        """Completed responses of this survey within the actor's units, the period and the
        channel (every channel with ``any_channel``)."""
        found = [
            col(Response.survey_id) == pk(self.survey),
            col(Response.status) == ResponseStatus.completed.value,
        ]
        if self.units is not None:
            found.append(col(Response.unit_id).in_(self.units))
        if self.period:
            found.append(col(Response.period) == self.period)
        if self.channel and not any_channel:
            found.append(col(Response.channel) == self.channel)
        return found


async def _survey(session: AsyncSession, code: str) -> tuple[Survey, SurveyVersion]:
    version = await catalog.get_latest_version_or_raise(session=session, code=code)
    survey = await session.get(Survey, version.survey_id)
    if survey is None:  # pragma: no cover - the version points at it
        raise UnknownSurvey(code=code)
    return survey, version


async def _scope(
    session: AsyncSession,
    actor: Actor,
    perm: Perm,
    survey_code: str,
    unit_id: int | None,
    period: str | None,
    channel: str | None = None,
) -> _Scope:
    actor.require(perm)
    survey, version = await _survey(session, survey_code)
    units = actor.unit_filter(unit_id)
    return _Scope(survey, version, units, unit_id, period or None, parse_channel(channel))


def parse_channel(raw: str | None) -> str | None:
    """A channel filter: "" or None for both; anything but a known channel is NotFound."""
    if raw is None or not raw.strip():
        return None
    if raw.strip() not in CHANNELS:
        raise NotFound(channel=raw[:20])
    return raw.strip()


async def _by_channel(
    session: AsyncSession, scope: _Scope
) -> tuple[int, tuple[tuple[str, int], ...]]:
    """Completed responses in scope, and per channel within the other filters: one GROUP BY."""
    statement = (
        select(col(Response.channel), func.count(col(Response.id)))
        .where(*scope.conditions(any_channel=True))
        .group_by(col(Response.channel))
    )
    counts = {str(channel): int(n) for channel, n in (await session.exec(statement)).all()}
    total = counts.get(scope.channel, 0) if scope.channel else sum(counts.values())
    return total, tuple((channel, counts.get(channel, 0)) for channel in CHANNELS)


def _label(question: Question, code: str, t: Translator) -> str:
    if code not in question.codes():
        return code  # an option of an earlier version
    return t.label(engine.label_of(question, code))


def _options(question: Question, counts: Counter[str], answered: int) -> tuple[OptionCount, ...]:
    t = Translator()
    codes = question.codes() + sorted(c for c in counts if c not in question.codes())
    return tuple(
        OptionCount(
            code=code,
            label=_label(question, code, t),
            count=counts[code],
            share=counts[code] / answered if answered else 0.0,
        )
        for code in codes
    )


def _result(
    question: Question, counts: Counter[str], answered: int, skipped: int
) -> QuestionResult:
    kind = question.type
    base = QuestionResult(
        key=question.key,
        type=kind,
        text=question.text,
        area=question.area,
        answered=answered,
        skipped=skipped,
        options=() if kind is QuestionType.text else _options(question, counts, answered),
    )
    if kind is QuestionType.satisfaction:
        scored = {code: n for code, n in counts.items() if code in LEVEL_POINTS}
        n = sum(scored.values())
        points = sum(LEVEL_POINTS[code] * k for code, k in scored.items())
        return replace(base, mean_points=points / n if n else None)
    if kind is QuestionType.scale:
        values = {int(code): n for code, n in counts.items() if n}
        n = sum(values.values())
        if not n:
            return base
        mean = sum(v * k for v, k in values.items()) / n
        return replace(base, mean=mean, minimum=min(values), maximum=max(values))
    return base


_ON_RESPONSE = col(Answer.response_id) == col(Response.id)


async def _all(session: AsyncSession, statement: Select[*Ts]) -> Sequence[sa.Row[*Ts]]:
    """The rows of a select of more columns than ``session.exec`` types; flushed first, as
    ``exec`` does."""
    await session.flush()
    return (await (await session.connection()).execute(statement)).all()


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind else "sqlite"


def _ticked(session: AsyncSession) -> sa.TableValuedAlias:
    """One row per option ticked in a multi answer (``value``), as a table joined laterally;
    anything but a JSON array (a skipped answer's null) ticks nothing."""
    choices = col(Answer.choices)
    if _dialect(session) == "postgresql":
        array = sa.case(
            (func.json_typeof(choices) == "array", choices),
            else_=sa.cast(sa.literal("[]"), sa.JSON),
        )
        return func.json_array_elements_text(array).table_valued("value").alias("ticked")
    array = sa.case((func.json_type(choices) == "array", choices), else_=sa.literal("[]"))
    return func.json_each(array).table_valued("value").alias("ticked")


async def _tally(
    session: AsyncSession, scope: _Scope, kinds: dict[str, QuestionType]
) -> tuple[dict[str, Counter[str]], Counter[str], Counter[str]]:
    """Per question key: counts per answer code, answers given, answers skipped.

    Counted by the database: one GROUP BY (question, skipped, choice, number), read from
    the covering index ``ix_answer_tally``, and one over the options ticked in multi answers
    (each option once per answer, however often the array holds it).
    """
    counts: dict[str, Counter[str]] = {key: Counter() for key in kinds}
    answered: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    if not kinds:
        return counts, answered, skipped
    grouped = (
        sa.select(
            col(Answer.question_key),
            col(Answer.skipped),
            col(Answer.choice),
            col(Answer.number),
            func.count(),
        )
        .join(Response, _ON_RESPONSE)
        .where(*scope.conditions())
        .group_by(
            col(Answer.question_key), col(Answer.skipped), col(Answer.choice), col(Answer.number)
        )
    )
    for key, was_skipped, choice, number, n in await _all(session, grouped):
        if key not in kinds:
            continue  # a question of an earlier version only
        if was_skipped:
            skipped[key] += n
            continue
        answered[key] += n
        if kinds[key] is QuestionType.scale and number is not None:
            counts[key][str(number)] += n
        elif kinds[key] in (QuestionType.single, QuestionType.satisfaction) and choice:
            counts[key][choice] += n
    multi = [key for key, kind in kinds.items() if kind is QuestionType.multi]
    if multi:
        ticked = _ticked(session)
        options = (
            select(
                col(Answer.question_key), ticked.c.value, func.count(sa.distinct(col(Answer.id)))
            )
            .select_from(Answer)
            .join(Response, _ON_RESPONSE)
            .join(ticked, sa.true())
            .where(
                *scope.conditions(),
                col(Answer.question_key).in_(multi),
                col(Answer.skipped).is_(False),
                ticked.c.value.is_not(None),
            )
            .group_by(col(Answer.question_key), ticked.c.value)
        )
        for key, code, n in (await session.exec(options)).all():
            counts[key][str(code)] += n
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
    total, by_channel = await _by_channel(session, scope)
    return SurveyResults(
        code=scope.survey.code,
        title=scope.version.title,
        version=scope.version.version,
        period=scope.period,
        unit_id=unit_id,
        responses=total,
        questions=tuple(
            _result(q, counts[q.key], answered[q.key], skipped[q.key])
            for q in definition.questions
        ),
        channel=scope.channel,
        by_channel=by_channel,
    )


# Paging: an ``after=`` cursor is the id of the last row shown (an answer's for free text, a
# response's for responses); the list continues below it, newest first, by one index seek.
ID_CURSOR_PATTERN = r"^[1-9]\d{0,18}$"
_CHUNK = 5000  # text answers masked at a time when a search cannot be narrowed in SQL


def parse_id_cursor(after: str) -> int:
    """The id in an ``after=`` cursor; a text this code never hands out is :class:`BadCursor`."""
    if not re.fullmatch(ID_CURSOR_PATTERN, after) or int(after) >= 2**63:
        raise BadCursor(cursor=after[:40])
    return int(after)


@dataclass(frozen=True)
class FreeTextPage:
    rows: list[FreeTextRow]
    total: int  # every match, not only this page
    next: str | None = None  # ``after=`` this for the next page; None on the last one


def narrows_in_sql(needle: str) -> bool:
    """Whether a search for ``needle`` in the masked, case-folded text may be narrowed first by
    a plain substring match on the stored text, without losing a match.

    True when every character is a letter without case (漢字, kana, hangul …: Unicode's "Lo",
    which no character case-folds into). Masking only replaces digits, ``X`` and e-mail and
    separator characters, never such a letter, and keeps the rest as typed, so each match in
    the masked text is a match in the stored one; the masked text is still checked after.
    """
    return bool(needle) and all(unicodedata.category(ch) == "Lo" for ch in needle)


def _texts_of(scope: _Scope) -> dict[str, str]:
    definition = catalog.definition_of(scope.version)
    return {q.key: q.text for q in definition.questions if q.type is QuestionType.text}


_TextAnswers = Select[int | None, int, str, str | None, datetime, int | None]


def _text_answers(scope: _Scope, texts: dict[str, str]) -> _TextAnswers:
    """Text answers in scope (the columns a row shows), unordered."""
    return (
        sa.select(
            col(Answer.id),
            col(Answer.response_id),
            col(Answer.question_key),
            col(Answer.text),
            col(Answer.answered_at),
            col(Response.unit_id),
        )
        .join(Response, _ON_RESPONSE)
        .where(*scope.conditions())
        .where(
            col(Answer.question_key).in_(list(texts)),
            col(Answer.skipped).is_(False),
            col(Answer.text).is_not(None),
        )
    )


_Found = tuple[int, int, str, str, datetime, int | None]  # answer id … unit id, text masked


def _stored_id(answer_id: int | None) -> int:
    return answer_id or 0  # a stored row always has its id


async def _rows_of(
    session: AsyncSession, found: Sequence[_Found], texts: dict[str, str]
) -> list[FreeTextRow]:
    unit_ids = {row[5] for row in found if row[5] is not None}
    names: dict[int, str] = {}
    if unit_ids:
        units = await session.exec(select(Unit).where(col(Unit.id).in_(unit_ids)))
        names = {u.id: u.name for u in units.all() if u.id is not None}
    return [
        FreeTextRow(
            response_id=response_id,
            unit_id=unit_id,
            unit_name=names.get(unit_id) if unit_id is not None else None,
            question_key=key,
            question_text=texts[key],
            text=text,
            answered_at=as_utc(answered_at),
        )
        for _, response_id, key, text, answered_at, unit_id in found
    ]


async def _matches(
    session: AsyncSession, statement: _TextAnswers, needle: str
) -> AsyncIterator[_Found]:
    """Rows of ``statement`` newest first, masked, whose masked text holds ``needle`` (every
    row without one), read a chunk at a time so memory stays bounded."""
    if needle and narrows_in_sql(needle):
        statement = statement.where(col(Answer.text).contains(needle, autoescape=True))
    below: int | None = None
    while True:
        chunk = statement.order_by(col(Answer.id).desc()).limit(_CHUNK)
        if below is not None:
            chunk = chunk.where(col(Answer.id) < below)
        found = await _all(session, chunk)
        for answer_id, response_id, key, text, answered_at, unit_id in found:
            # Search the masked text, so a search cannot confirm a hidden phone or ID number.
            masked = mask_text(text or "")
            if not needle or needle in masked.casefold():
                yield _stored_id(answer_id), response_id, key, masked, answered_at, unit_id
        if len(found) < _CHUNK:
            return
        below = found[-1][0]


async def _free_text(session: AsyncSession, scope: _Scope, query: str | None) -> list[FreeTextRow]:
    """Every masked text answer in scope, newest first, matching ``query`` if given."""
    texts = _texts_of(scope)
    if not texts:
        return []
    needle = (query or "").strip().casefold()
    found = [row async for row in _matches(session, _text_answers(scope, texts), needle)]
    return await _rows_of(session, found, texts)


async def _free_text_page(
    session: AsyncSession,
    scope: _Scope,
    query: str | None,
    offset: int,
    limit: int,
    after: str | None,
) -> FreeTextPage:
    below = parse_id_cursor(after) if after is not None else None
    texts = _texts_of(scope)
    if not texts:
        return FreeTextPage([], 0)
    statement = _text_answers(scope, texts)
    needle = (query or "").strip().casefold()
    if not needle:
        # Counted and paged by the database; only the rows shown are read and masked.
        counted = select(func.count()).select_from(statement.subquery())
        total = int((await session.exec(counted)).one())
        page = statement.order_by(col(Answer.id).desc())
        if below is not None:
            page = page.where(col(Answer.id) < below)
        found = await _all(session, page.offset(offset).limit(limit + 1))
        shown = [
            (_stored_id(answer_id), response_id, key, mask_text(text or ""), answered_at, unit)
            for answer_id, response_id, key, text, answered_at, unit in found[:limit]
        ]
        more = len(found) > limit
    else:
        # The search is on the masked text: every match is counted, the page kept.
        total, skip, shown, more = 0, offset, [], False
        async for row in _matches(session, statement, needle):
            total += 1
            if below is not None and row[0] >= below:
                continue
            if skip:
                skip -= 1
            elif len(shown) < limit:
                shown.append(row)
            else:
                more = True
    rows = await _rows_of(session, shown, texts)
    return FreeTextPage(rows, total, str(shown[-1][0]) if shown and more else None)


async def free_text_page(
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
    after: str | None = None,
) -> FreeTextPage:
    """One page of masked text answers (newest first), the number of matches and the cursor
    of the next page. ``after`` (a ``next`` handed out before) continues below that row."""
    scope = await _scope(session, actor, Perm.view, survey_code, unit_id, period, channel)
    return await _free_text_page(session, scope, query, offset, limit, after)


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
    after: str | None = None,
) -> tuple[list[FreeTextRow], int]:
    """One page of masked text answers (newest first) and the number of matches."""
    page = await free_text_page(
        session=session, actor=actor, survey_code=survey_code, query=query, unit_id=unit_id,
        period=period, offset=offset, limit=limit, channel=channel, after=after,
    )  # fmt: skip
    return page.rows, page.total


def response_cursor(row: ResponseRow) -> str:
    """The ``after=`` cursor that continues the responses after ``row``."""
    return str(row.id)


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
    after: str | None = None,
) -> tuple[list[ResponseRow], int]:
    """Responses of the actor's units, newest first: ids and states, never who answered.

    ``after`` (a :func:`response_cursor` of the last row shown) continues below that response
    by an index seek however deep; the count is exact, every match.
    """
    actor.require(Perm.view)
    below = parse_id_cursor(after) if after is not None else None
    statement = (
        select(Response, Survey.code, SurveyVersion.version)
        .join(Survey, col(Response.survey_id) == col(Survey.id))
        .join(SurveyVersion, col(Response.survey_version_id) == col(SurveyVersion.id))
    )
    counted = select(func.count(col(Response.id)))
    conditions: list[sa.ColumnElement[bool]] = []
    if survey_code is not None:
        survey, _ = await _survey(session, survey_code)
        conditions.append(col(Response.survey_id) == pk(survey))
    units = actor.unit_filter(unit_id)
    if units is not None:
        conditions.append(col(Response.unit_id).in_(units))
    if period:
        conditions.append(col(Response.period) == period)
    if status is not None:
        conditions.append(col(Response.status) == status.value)
    if (channel := parse_channel(channel)) is not None:
        conditions.append(col(Response.channel) == channel)
    # Every response has its survey and version (foreign keys): counted without the joins.
    total = (await session.exec(counted.where(*conditions))).one()
    page = statement.where(*conditions).order_by(col(Response.id).desc())
    if below is not None:
        page = page.where(col(Response.id) < below)
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
        for response, code, version in (await session.exec(page.offset(offset).limit(limit))).all()
    ]
    return rows, int(total)


# Exports --------------------------------------------------------------------------------

DISTRIBUTION_COLUMNS = (
    N_("console.results.col.question_key"),
    N_("console.results.col.question"),
    N_("console.results.col.type"),
    N_("console.results.col.area"),
    N_("console.results.col.code"),
    N_("console.results.col.option"),
    N_("console.results.col.count"),
    N_("console.results.col.share"),
    N_("console.results.col.answered"),
    N_("console.results.col.skipped"),
    N_("console.results.col.mean_points"),
    N_("console.results.col.mean"),
    N_("console.results.col.min"),
    N_("console.results.col.max"),
)
FREE_TEXT_COLUMNS = (
    N_("console.results.col.response"),
    N_("console.results.col.unit"),
    N_("console.results.col.question_key"),
    N_("console.results.col.question"),
    N_("console.results.col.text"),
    N_("console.results.col.answered_at"),
)


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def distribution_rows(results: SurveyResults) -> list[list[exports.Cell]]:
    """One row per question and option (one row for a text question), stats repeated."""
    rows: list[list[exports.Cell]] = []
    for q in results.questions:
        stats: list[exports.Cell] = [
            q.answered,
            q.skipped,
            _round(q.mean_points),
            _round(q.mean),
            q.minimum,
            q.maximum,
        ]
        head: list[exports.Cell] = [q.key, q.text, q.type.value, q.area or ""]
        if not q.options:
            rows.append([*head, "", "", q.answered, None, *stats])
        for option in q.options:
            share = round(option.share * 100, 2)
            rows.append([*head, option.code, option.label, option.count, share, *stats])
    return rows


def free_text_rows(rows: Sequence[FreeTextRow]) -> list[list[exports.Cell]]:
    return [
        [
            row.response_id,
            row.unit_name or "",
            row.question_key,
            row.question_text,
            row.text,
            row.answered_at.isoformat(timespec="seconds"),
        ]
        for row in rows
    ]


async def export_results(
    *,
    session: AsyncSession,
    actor: Actor,
    survey_code: str,
    unit_id: int | None = None,
    period: str | None = None,
    fmt: ExportFormat = "csv",
    channel: str | None = None,
) -> bytes:
    """The distributions and the masked free text as one CSV (two blocks) or XLSX (two sheets).

    The download is recorded by the flow that calls this (:mod:`surveys.flows.exports`).
    """
    actor.require(Perm.export)
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    results = await question_results(
        session=session, actor=actor, survey_code=survey_code, unit_id=unit_id, period=period,
        channel=channel,
    )  # fmt: skip
    scope = await _scope(session, actor, Perm.export, survey_code, unit_id, period, channel)
    texts = await _free_text(session, scope, None)
    t = Translator()
    distribution: list[list[exports.Cell]] = [
        [t(k) for k in DISTRIBUTION_COLUMNS],
        *distribution_rows(results),
    ]
    comments: list[list[exports.Cell]] = [
        [t(k) for k in FREE_TEXT_COLUMNS],
        *free_text_rows(texts),
    ]
    if fmt == "xlsx":
        return exports.xlsx_bytes(
            [
                (t(N_("console.results.sheet.distribution")), distribution),
                (t(N_("console.results.sheet.free_text")), comments),
            ]
        )
    return exports.csv_bytes([*distribution, [], *comments])


def export_filename(survey_code: str, fmt: ExportFormat, period: str | None = None) -> str:
    """An ASCII file name: ``results-<survey>[-<period>].<fmt>``, safe in a header."""
    stem = "-".join(part for part in ("results", survey_code, period) if part)
    return re.sub(r"[^A-Za-z0-9-]", "_", stem) + f".{fmt}"


async def survey_periods(*, session: AsyncSession, survey_code: str) -> list[str]:
    """The periods a survey ran in (any version) or has responses for, newest first."""
    survey, _ = await _survey(session, survey_code)
    versions = await session.exec(
        select(col(SurveyVersion.period)).where(col(SurveyVersion.survey_id) == pk(survey))
    )
    answered = await session.exec(
        select(col(Response.period)).where(col(Response.survey_id) == pk(survey)).distinct()
    )
    return sorted(set(versions.all()) | set(answered.all()), reverse=True)


# The console's results page -------------------------------------------------------------


@dataclass(frozen=True)
class ResultsPage:
    """What the console's results page shows for the chosen survey, unit and period."""

    surveys: list[catalog.SurveySummary]
    survey: str | None  # the survey shown: the one asked for, else the latest period's
    unit_id: int | None
    channel: str | None  # "telegram", "web", or None for both
    units: list[Unit]  # the units the actor may pick
    found: SurveyResults | None = None
    periods: list[str] = field(default_factory=list)
    charts: list[dict[str, object]] = field(default_factory=list)
    texts: list[FreeTextRow] = field(default_factory=list)
    total: int = 0  # free-text matches, not only this page
    next: str | None = None  # ``after=`` for the free text's next page; None on the last


def parse_unit(raw: str | None) -> int | None:
    """A form's unit filter: "" for every unit; anything but an id is NotFound."""
    if raw is None or not raw.strip():
        return None
    if not raw.strip().isdigit():
        raise NotFound(unit=raw[:20])
    return int(raw)


async def chosen_survey(
    *, session: AsyncSession, asked: str | None
) -> tuple[str | None, list[catalog.SurveySummary]]:
    """The survey asked for, else the one of the latest period; and every survey."""
    surveys = await catalog.list_surveys(session=session)
    if asked:
        return asked, surveys
    latest = max(surveys, key=lambda s: (s.period, s.opens_on, s.code), default=None)
    return (latest.code if latest else None), surveys


def chart_data(found: SurveyResults) -> list[dict[str, object]]:
    """What the bar charts draw: one per question with options."""
    return [
        {
            "id": f"chart-q-{q.key}",
            "title": q.text,
            "labels": [o.label for o in q.options],
            "counts": [o.count for o in q.options],
        }
        for q in found.questions
        if q.options
    ]


async def results_page(
    *,
    session: AsyncSession,
    actor: Actor,
    survey: str | None = None,
    unit: str | None = None,
    period: str | None = None,
    query: str | None = None,
    offset: int = 0,
    limit: int = 20,
    channel: str | None = None,
    after: str | None = None,
) -> ResultsPage:
    """Distributions, charts and one page of masked free text of the actor's units."""
    actor.require(Perm.view)
    unit_id = parse_unit(unit)
    channel = parse_channel(channel)
    actor.unit_filter(unit_id)  # another unit's id is NotFound, as an unknown one
    code, surveys = await chosen_survey(session=session, asked=survey)
    units = [u for u in await list_units(session=session) if actor.sees(u.id)]
    page = ResultsPage(surveys=surveys, survey=code, unit_id=unit_id, channel=channel, units=units)
    if code is None:
        return page
    found = await question_results(
        session=session, actor=actor, survey_code=code, unit_id=unit_id, period=period,
        channel=channel,
    )  # fmt: skip
    texts = await free_text_page(
        session=session, actor=actor, survey_code=code, query=query, unit_id=unit_id,
        period=period, offset=offset, limit=limit, channel=channel, after=after,
    )  # fmt: skip
    return replace(
        page,
        found=found,
        periods=await survey_periods(session=session, survey_code=code),
        charts=chart_data(found),
        texts=texts.rows,
        total=texts.total,
        next=texts.next,
    )
