"""Console downloads of the 差评 台账: the queue's cases for its filters, as XLSX or CSV.

The query string is the queue's (``/console/cases?…`` → ``/console/cases/ledger.xlsx?…``),
read by the queue's own :func:`api.console.cases.parse_queue`, so every filter the queue
knows is the ledger's too; the file and its audit row come from one flow
(:func:`surveys.flows.exports.export_ledger`).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from api.auth import console_actor
from api.console.cases import parse_queue
from api.console.web import render
from api.deps import SettingsDep, WriteSessionDep
from surveys.accounts.access import Actor, Perm
from surveys.core.clock import today
from surveys.core.workbook import TableFormat
from surveys.flows import exports

router = APIRouter(prefix="/console", include_in_schema=False)
ExportActor = Annotated[Actor, Depends(console_actor(Perm.export))]


def queue_query(request: Request) -> dict[str, str]:
    """The queue's parameters as typed; a parameter not given reads as empty."""
    raw: dict[str, str] = defaultdict(str)
    raw.update((key, value.strip()) for key, value in request.query_params.items())
    return raw


async def _download(
    request: Request,
    session: WriteSessionDep,
    settings: SettingsDep,
    actor: Actor,
    fmt: TableFormat,
) -> Response:
    query = parse_queue(queue_query(request))
    if query.errors:
        context = {"message": "；".join(query.errors)}
        return render(request, "console/error.html", context, actor=actor, status_code=422)
    file = await exports.export_ledger(
        session=session, actor=actor, filters=query.filters, fmt=fmt,
        on=today(settings.tz), tz=settings.tz,
    )  # fmt: skip
    headers = {"Content-Disposition": f'attachment; filename="{file.name}"'}
    return Response(file.body, media_type=file.media_type, headers=headers)


@router.get("/cases/ledger.xlsx")
async def ledger_xlsx(
    request: Request, session: WriteSessionDep, settings: SettingsDep, actor: ExportActor
) -> Response:
    """The 台账 of the queue's filters as an XLSX workbook (audited)."""
    return await _download(request, session, settings, actor, "xlsx")


@router.get("/cases/ledger.csv")
async def ledger_csv(
    request: Request, session: WriteSessionDep, settings: SettingsDep, actor: ExportActor
) -> Response:
    """The 台账 of the queue's filters as CSV (UTF-8 with BOM; audited)."""
    return await _download(request, session, settings, actor, "csv")
