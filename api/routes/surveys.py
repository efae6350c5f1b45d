from __future__ import annotations

from datetime import date

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import SessionDep
from surveys import catalog

router = APIRouter(prefix="/api/v1/surveys", tags=["surveys"])


class SurveyPublic(BaseModel):
    code: str
    title: str
    version: int
    period: str
    opens_on: date
    closes_on: date
    responses: int
    completed: int


class SurveysPublic(BaseModel):
    data: list[SurveyPublic]
    count: int


@router.get("", response_model=SurveysPublic)
async def list_surveys(session: SessionDep) -> SurveysPublic:
    """Every survey's latest version with its response counts."""
    summaries = await catalog.list_surveys(session=session)
    data = [SurveyPublic.model_validate(s, from_attributes=True) for s in summaries]
    return SurveysPublic(data=data, count=len(data))
