"""Survey definitions in the database: versions, availability and summaries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.models import Unit, UnitKind
from surveys.core.exceptions import DefinitionInvalid, SurveyClosed, UnknownSurvey
from surveys.core.models import pk
from surveys.questionnaire.definitions import SurveyDefinition
from surveys.questionnaire.models import Response, ResponseStatus, Survey, SurveyVersion


@dataclass(frozen=True)
class LoadResult:
    version: SurveyVersion
    created: bool


@dataclass(frozen=True)
class SurveySummary:
    code: str
    title: str
    version: int
    period: str
    opens_on: date
    closes_on: date
    responses: int
    completed: int


async def load_survey(
    *, session: AsyncSession, definition: SurveyDefinition, source: str
) -> LoadResult:
    """Store a definition: a new version when it differs from the latest, else nothing."""
    await _check_units(session, definition, source)
    survey = (await session.exec(select(Survey).where(Survey.code == definition.code))).first()
    if survey is None:
        survey = Survey(code=definition.code)
        session.add(survey)
        await session.flush()
    latest = await _latest_version(session, survey)
    digest = definition.digest()
    if latest is not None and latest.digest == digest:
        return LoadResult(latest, created=False)
    version = SurveyVersion(
        survey_id=pk(survey),
        version=(latest.version + 1) if latest else 1,
        title=definition.title,
        period=definition.period,
        opens_on=definition.opens_on,
        closes_on=definition.closes_on,
        anonymous=definition.anonymous,
        definition=definition.model_dump(mode="json", by_alias=True),
        digest=digest,
    )
    session.add(version)
    await session.flush()
    return LoadResult(version, created=True)


async def _check_units(session: AsyncSession, definition: SurveyDefinition, source: str) -> None:
    if not definition.units:
        return
    known = set((await session.exec(select(Unit.code))).all())
    problems = [
        f"units[{i}]: unknown unit {code!r} (load it with `minyi units load`)"
        for i, code in enumerate(definition.units)
        if code not in known
    ]
    if problems:
        raise DefinitionInvalid(source, problems)


async def _latest_version(session: AsyncSession, survey: Survey) -> SurveyVersion | None:
    statement = (
        select(SurveyVersion)
        .where(SurveyVersion.survey_id == survey.id)
        .order_by(col(SurveyVersion.version).desc())
    )
    return (await session.exec(statement)).first()


async def get_latest_version_or_raise(*, session: AsyncSession, code: str) -> SurveyVersion:
    survey = (await session.exec(select(Survey).where(Survey.code == code))).first()
    version = await _latest_version(session, survey) if survey else None
    if version is None:
        raise UnknownSurvey(code=code)
    return version


def is_open(version: SurveyVersion, today: date) -> bool:
    return version.closed_at is None and version.opens_on <= today <= version.closes_on


def ensure_open(version: SurveyVersion, today: date) -> None:
    if not is_open(version, today):
        raise SurveyClosed(
            title=version.title, opens_on=str(version.opens_on), closes_on=str(version.closes_on)
        )


async def open_surveys(*, session: AsyncSession, today: date) -> list[SurveyVersion]:
    """The latest version of every survey open today, oldest survey first."""
    latest = (
        select(SurveyVersion.survey_id, func.max(SurveyVersion.version).label("v"))
        .group_by(col(SurveyVersion.survey_id))
        .subquery()
    )
    statement = (
        select(SurveyVersion)
        .join(
            latest,
            (col(SurveyVersion.survey_id) == latest.c.survey_id)
            & (col(SurveyVersion.version) == latest.c.v),
        )
        .order_by(col(SurveyVersion.survey_id))
    )
    versions = (await session.exec(statement)).all()
    return [v for v in versions if is_open(v, today)]


async def list_surveys(*, session: AsyncSession) -> list[SurveySummary]:
    """Every survey's latest version with its response counts over all versions."""
    counts: dict[tuple[int, str], int] = {
        (survey_id, status): n
        for survey_id, status, n in (
            await session.exec(
                select(Response.survey_id, Response.status, func.count()).group_by(
                    col(Response.survey_id), col(Response.status)
                )
            )
        ).all()
    }
    summaries = []
    for survey in (await session.exec(select(Survey).order_by(col(Survey.id)))).all():
        version = await _latest_version(session, survey)
        if version is None:
            continue
        done = counts.get((pk(survey), ResponseStatus.completed), 0)
        started = counts.get((pk(survey), ResponseStatus.in_progress), 0)
        summaries.append(
            SurveySummary(
                code=survey.code,
                title=version.title,
                version=version.version,
                period=version.period,
                opens_on=version.opens_on,
                closes_on=version.closes_on,
                responses=done + started,
                completed=done,
            )
        )
    return summaries


_PARSED: dict[str, SurveyDefinition] = {}


def definition_of(version: SurveyVersion) -> SurveyDefinition:
    """The parsed definition of a stored version, cached by digest (content never changes)."""
    parsed = _PARSED.get(version.digest)
    if parsed is None:
        parsed = SurveyDefinition.model_validate(version.definition)
        _PARSED[version.digest] = parsed
    return parsed


async def target_units(*, session: AsyncSession, definition: SurveyDefinition) -> list[Unit]:
    """The units a respondent may pick, in the survey's order (or load order for 'all')."""
    units = (await session.exec(select(Unit).where(col(Unit.active).is_(True)))).all()
    if not definition.units:
        kind_order = list(UnitKind)
        return sorted(units, key=lambda u: (kind_order.index(u.kind), u.id or 0))
    by_code = {u.code: u for u in units}
    return [by_code[c] for c in definition.units if c in by_code]
