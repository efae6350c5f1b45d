from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from api.auth import PUBLIC
from api.deps import SessionDep
from surveys.core.db import ping

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    database: str


@router.get("/healthz", response_model=Health, dependencies=[PUBLIC])
async def healthz(session: SessionDep) -> Health:
    """Liveness and database reachability."""
    await ping(session)
    return Health(status="ok", database="ok")
