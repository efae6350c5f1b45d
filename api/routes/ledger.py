"""The 差评 台账 for integrations: the case queue's cases for its filters, as CSV or XLSX.

The query parameters are the console queue's, read by the queue's own parser
(:func:`api.console.cases.parse_queue`), so a filter the queue gains is the ledger's too;
the file and its audit row come from :func:`surveys.flows.exports.export_ledger`.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from api.auth import api_actor
from api.console.cases import parse_queue
from api.console.ledger import queue_query
from api.console.web import translate
from api.deps import SettingsDep, WriteSessionDep
from api.errors import TOKEN_ROUTE, error_responses
from surveys.accounts.access import Actor, Perm
from surveys.cases.models import CaseState
from surveys.core.clock import today
from surveys.core.i18n import N_
from surveys.core.workbook import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE
from surveys.flows import exports

router = APIRouter(
    prefix="/api/v1/cases", tags=["cases"], responses=error_responses(*TOKEN_ROUTE, 404)
)
ExportActor = Annotated[Actor, Depends(api_actor(Perm.export))]
FILES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the ledger: one row per case, Chinese headers, citizens' text masked",
        "content": {
            CSV_MEDIA_TYPE.split(";")[0]: {"schema": {"type": "string"}},
            XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


@router.get("/ledger", response_class=Response, responses=FILES)
async def ledger(
    request: Request,
    session: WriteSessionDep,
    settings: SettingsDep,
    actor: ExportActor,
    format: Literal["csv", "xlsx"] = "csv",  # noqa: A002 (the parameter's public name)
    unit: Annotated[str | None, Query(max_length=40, description="a unit code")] = None,
    state: CaseState | None = None,
    overdue: Literal["yes", "no"] | None = None,
    opened_from: date | None = None,
    opened_to: date | None = None,
) -> Response:
    """Every case of the caller's units that the queue shows for these filters (all pages),
    as CSV (UTF-8 with BOM) or XLSX; citizens' text masked, audited (export.ledger)."""
    raw = queue_query(request)
    raw.pop("format", None)
    query = parse_queue(raw)
    if query.errors:
        key = N_("error.request_invalid")
        message = translate(key, fields="、".join(query.errors))
        body = {"code": key, "message": message, "problems": query.errors, "detail": []}
        return JSONResponse(body, status_code=422)
    file = await exports.export_ledger(
        session=session, actor=actor, filters=query.filters, fmt=format,
        on=today(settings.tz), tz=settings.tz,
    )  # fmt: skip
    headers = {"Content-Disposition": f'attachment; filename="{file.name}"'}
    return Response(file.body, media_type=file.media_type, headers=headers)
