"""``/metrics``: the process's Prometheus metrics (:mod:`surveys.core.metrics`) in the text
exposition format, the outbox gauges read from the database at each scrape.

Like every other machine-to-machine call but the health probes, it takes an API token
(``Authorization: Bearer …``); any role may read it (:data:`Perm.view`): the metrics hold
counts only, no unit's data, no chat id, no text. A city-wide viewer token is enough:
``minyi token create prometheus --role viewer``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from api.auth import api_actor
from api.deps import SessionDep
from surveys.accounts.access import Actor, Perm
from surveys.core.models import utcnow
from surveys.delivery import queries as delivery_queries

router = APIRouter(tags=["health"], include_in_schema=False)
ScrapeActor = Annotated[Actor, Depends(api_actor(Perm.view))]


@router.get("/metrics")
async def metrics(session: SessionDep, actor: ScrapeActor) -> Response:
    """Prometheus text exposition; the outbox gauges as of now."""
    await delivery_queries.observe_outbox(session, now=utcnow())
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
