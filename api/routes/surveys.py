"""The JSON API: surveys, their results, and loading/publishing/closing them (admin)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from api.auth import PUBLIC, api_actor
from api.deps import SessionDep, SettingsDep
from api.errors import BODY, TOKEN_ROUTE, ErrorPublic, ProblemsPublic, error_responses
from api.links import SURVEY, links
from api.paging import IdQuery, PageDep
from surveys.accounts.access import Actor, Perm
from surveys.core.clock import as_utc, today
from surveys.core.exceptions import DefinitionInvalid, DomainError, InvalidFile
from surveys.core.i18n import N_, Translator
from surveys.core.text import decode_office_text
from surveys.flows import surveys as survey_flows
from surveys.questionnaire import catalog, results
from surveys.questionnaire.models import SurveyVersion

router = APIRouter(prefix="/api/v1/surveys", tags=["surveys"])

ViewActor = Annotated[Actor, Depends(api_actor(Perm.view))]
ManageActor = Annotated[Actor, Depends(api_actor(Perm.manage))]
YAML_MEDIA_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/plain")


class UnsupportedMediaType(DomainError):
    key = N_("error.survey_media_type")
    status_code = 415


class SurveyFileTooLarge(DomainError):
    key = N_("error.survey_file_too_large")
    status_code = 413


class SurveysPublic(BaseModel):
    data: list[catalog.SurveySummary]
    count: int


class FreeTextsPublic(BaseModel):
    data: list[results.FreeTextRow]  # phones and ID numbers masked
    count: int  # all matches, not only this page
    next: str | None = None  # ?after= this for the next page; None on the last one


class SurveyStatePublic(BaseModel):
    code: str
    version: int
    title: str
    period: str
    opens_on: date
    closes_on: date
    closed_at: datetime | None
    open: bool  # offered to citizens today
    created: bool | None = None  # on load: a new version was stored


def _state(
    version: SurveyVersion, code: str, on: date, created: bool | None = None
) -> SurveyStatePublic:
    return SurveyStatePublic(
        code=code,
        version=version.version,
        title=version.title,
        period=version.period,
        opens_on=version.opens_on,
        closes_on=version.closes_on,
        closed_at=as_utc(version.closed_at) if version.closed_at else None,
        open=catalog.is_open(version, on),
        created=created,
    )


# Routes with a token; an unknown survey (or another unit's unit_id) is 404.
READ_ERRORS = error_responses(*TOKEN_ROUTE, 404)
# publish/close: 409 once the survey has ended.
CHANGE_ERRORS = error_responses(*TOKEN_ROUTE, 404, 409)


@router.get(
    "",
    response_model=SurveysPublic,
    dependencies=[PUBLIC],
    responses={
        **error_responses(503),
        200: {"links": links("$response.body#/data/0/code", *SURVEY)},
    },
)
async def list_surveys(session: SessionDep) -> SurveysPublic:
    """Every survey's latest version with its response counts."""
    summaries = await catalog.list_surveys(session=session)
    return SurveysPublic(data=summaries, count=len(summaries))


_YAML_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            media: {"schema": {"type": "string", "description": "the survey file (YAML)"}}
            for media in ("application/yaml", "text/plain")
        },
    }
}


async def _yaml_text(request: Request) -> str:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in YAML_MEDIA_TYPES:
        raise UnsupportedMediaType(media=media or "-")
    body = await request.body()
    if len(body) > survey_flows.MAX_YAML_BYTES:
        raise SurveyFileTooLarge(limit=survey_flows.MAX_YAML_BYTES // 1024)
    try:
        return decode_office_text(body, "api")  # UTF-8 or GBK
    except InvalidFile as exc:
        raise DefinitionInvalid(exc.source, exc.problems) from exc


@router.post(
    "",
    response_model=SurveyStatePublic,
    status_code=201,
    openapi_extra=_YAML_BODY,
    responses={
        **error_responses(*TOKEN_ROUTE, *BODY, 409, 413, 415),
        200: {
            "model": SurveyStatePublic,
            "description": "unchanged: same as the latest",
            "links": links("$response.body#/code", *SURVEY),
        },
        201: {"links": links("$response.body#/code", *SURVEY)},
        413: {"model": ErrorPublic, "description": "the file is larger than 256 KiB"},
        415: {"model": ErrorPublic, "description": "not application/yaml or text/plain"},
        422: {"model": ProblemsPublic, "description": "the file is invalid"},
    },
)
async def load_survey(
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    actor: ManageActor,
) -> Any:
    """Load a survey file (admin).

    The body is the survey file itself, YAML text in UTF-8 (or GBK), sent with ``Content-Type:
    application/yaml`` (or ``text/yaml``, ``application/x-yaml``, ``text/plain``); not JSON.
    A changed file stores a new version (201), an unchanged one returns the latest (200).
    An invalid file is 422 with ``problems``: one ``field.path: problem`` line each, and
    nothing is stored. Whether the survey is offered follows its dates; see publish/close.
    """
    try:
        loaded = await survey_flows.load_yaml(
            session=session, actor=actor, text=await _yaml_text(request), source="api"
        )
    except DefinitionInvalid as exc:
        message = Translator()(exc.key, **exc.params)
        body = ProblemsPublic(code=exc.key, message=message, problems=exc.problems)
        return JSONResponse(body.model_dump(), status_code=422)
    if not loaded.created:
        response.status_code = 200
    code = catalog.definition_of(loaded.version).code
    return _state(loaded.version, code, today(settings.tz), created=loaded.created)


@router.post("/{code}/publish", response_model=SurveyStatePublic, responses=CHANGE_ERRORS)
async def publish_survey(
    code: str, session: SessionDep, settings: SettingsDep, actor: ManageActor
) -> Any:
    """Offer the survey from today (admin): a future ``opens_on`` becomes today, a close is
    undone. 409 once ``closes_on`` has passed; 404 for an unknown survey."""
    on = today(settings.tz)
    version = await survey_flows.publish(session=session, actor=actor, code=code, today=on)
    return _state(version, code, on)


@router.post("/{code}/close", response_model=SurveyStatePublic, responses=CHANGE_ERRORS)
async def close_survey(
    code: str, session: SessionDep, settings: SettingsDep, actor: ManageActor
) -> Any:
    """Stop offering the survey now (admin); answers already given stay and count."""
    version = await survey_flows.close(session=session, actor=actor, code=code)
    return _state(version, code, today(settings.tz))


@router.get("/{code}/results", response_model=results.SurveyResults, responses=READ_ERRORS)
async def survey_results(
    code: str,
    session: SessionDep,
    actor: ViewActor,
    unit_id: IdQuery = None,
    period: Annotated[str | None, Query(max_length=8, description="e.g. 2026H2")] = None,
) -> results.SurveyResults:
    """Distributions per question over the completed responses of the caller's units.

    Satisfaction questions give ``mean_points`` (100/75/50/25/0), scale questions ``mean``,
    ``minimum`` and ``maximum``; text questions only their count (see ``/free-text``).
    Unknown survey or another unit's ``unit_id``: 404.
    """
    return await results.question_results(
        session=session, actor=actor, survey_code=code, unit_id=unit_id, period=period
    )


@router.get("/{code}/free-text", response_model=FreeTextsPublic, responses=READ_ERRORS)
async def survey_free_text(
    code: str,
    session: SessionDep,
    actor: ViewActor,
    page: PageDep,
    q: Annotated[str | None, Query(max_length=100, description="substring to find")] = None,
    unit_id: IdQuery = None,
    period: Annotated[str | None, Query(max_length=8)] = None,
    after: Annotated[
        str | None,
        Query(pattern=results.ID_CURSOR_PATTERN, description="the `next` of the previous page"),
    ] = None,
) -> FreeTextsPublic:
    """Text answers of the caller's units, newest first, phones and ID numbers masked."""
    found = await results.free_text_page(
        session=session, actor=actor, survey_code=code, query=q, unit_id=unit_id,
        period=period, offset=page.offset, limit=page.limit, after=after,
    )  # fmt: skip
    return FreeTextsPublic(data=found.rows, count=found.total, next=found.next)
