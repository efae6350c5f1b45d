"""Health for machines: ``/healthz`` (the process answers) and ``/readyz`` (it can serve:
the database and, when configured, Redis answer within :data:`READY_TIMEOUT`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel
from redis.asyncio import Redis

from api.auth import PUBLIC
from api.deps import SessionDep
from api.errors import RETRY_AFTER, ErrorPublic
from surveys.core.db import SessionMaker, ping, read_only
from surveys.core.exceptions import DomainError
from surveys.core.i18n import N_, Translator

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)
READY_TIMEOUT = 2.0  # seconds per dependency: a probe must answer, never hang


class Health(BaseModel):
    status: str
    database: str


class Ready(BaseModel):
    status: str


class NotReady(DomainError):
    """503: a dependency did not answer; ``parts`` names which, in Chinese."""

    key = N_("error.not_ready")
    status_code = 503


@router.get("/healthz", response_model=Health, dependencies=[PUBLIC])
async def healthz(session: SessionDep) -> Health:
    """Liveness and database reachability."""
    await ping(session)
    return Health(status="ok", database="ok")


@router.get(
    "/readyz",
    response_model=Ready,
    dependencies=[PUBLIC],
    responses={
        503: {
            "model": ErrorPublic,
            "description": "the database or Redis did not answer in time",
            "headers": RETRY_AFTER,
        }
    },
)
async def readyz(request: Request) -> Ready:
    """Readiness: the database and, when REDIS_URL is set, Redis answer within 2 seconds."""
    t = Translator()
    redis_url = request.app.state.settings.redis_url
    checks = {N_("health.part.database"): _ping_database(request.app.state.sessionmaker)}
    if redis_url:
        checks[N_("health.part.redis")] = _ping_redis(redis_url)
    answered = await asyncio.gather(*(_answers(part, c) for part, c in checks.items()))
    down = [t(part) for part, ok in zip(checks, answered, strict=True) if not ok]
    if down:
        raise NotReady(parts="、".join(down))
    return Ready(status="ready")


async def _answers(part: str, check: Coroutine[Any, Any, None]) -> bool:
    try:
        async with asyncio.timeout(READY_TIMEOUT):
            await check
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; logged by type
        log.warning("readiness: %s not answering (%s)", part, type(exc).__name__)
        return False
    return True


async def _ping_database(sessionmaker: SessionMaker) -> None:
    async with read_only(sessionmaker) as session:
        await ping(session)


async def _ping_redis(url: str) -> None:
    client = Redis.from_url(
        url, socket_connect_timeout=READY_TIMEOUT, socket_timeout=READY_TIMEOUT
    )
    try:
        await client.ping()
    finally:
        await client.aclose()
