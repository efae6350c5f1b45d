"""Console: 结案, a supervisor closing a case with a note (the form is on the case page).

The flow (:mod:`surveys.flows.case_closing`) checks, closes and audits; a refusal shows the
case page again with its reason and the note as typed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from api.auth import console_actor
from api.console import cases as case_pages
from api.console.web import redirect
from api.deps import SessionDep, SettingsDep
from surveys.accounts.access import Actor, Perm
from surveys.cases.exceptions import TEXT_MAX
from surveys.flows import case_closing as closing_flows

router = APIRouter(prefix="/console", include_in_schema=False)
CloseActor = Annotated[Actor, Depends(console_actor(Perm.decide_appeal))]


@router.post("/cases/{case_id}/close", response_class=HTMLResponse)
async def case_close(
    request: Request,
    case_id: str,
    session: SessionDep,
    settings: SettingsDep,
    actor: CloseActor,
    note: Annotated[str, Form()] = "",
) -> Response:
    """结案 of an open case, whatever its state, with the required note."""
    number = case_pages._case_id(case_id)
    try:
        await closing_flows.close(session=session, actor=actor, case_id=number, note=note)
    except case_pages.CASE_ERRORS as exc:
        return await case_pages._refused(
            request, session, settings.tz, actor, number, exc, close_note=note[:TEXT_MAX]
        )
    return redirect(f"/console/cases/{number}?done=close")
