"""Console pages: the 差评 case queue, one case's detail, replies and moves (domain.md §3),
承办人 (assign, 认领, bulk assign), 督办 of chosen cases, saved queue views.

What a page shows comes from one query each (:mod:`surveys.cases.queries`: the citizen only
as a masked reference, free text masked, the moves open to the actor); every change is one
flow (:mod:`surveys.flows.cases`), which checks, acts and audits. These pages parse what was
typed, render, and explain a refusal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from api.auth import console_actor
from api.console.web import redirect, render, translate
from api.deps import SessionDep, SettingsDep
from api.paging import IdPath
from surveys.accounts.access import Actor, Perm
from surveys.cases import assign as assigning
from surveys.cases import exceptions as refusals
from surveys.cases import queries, views
from surveys.cases.models import CaseState
from surveys.core.clock import today
from surveys.core.db import AsyncSession
from surveys.core.exceptions import DomainError, NotFound
from surveys.core.i18n import N_
from surveys.flows import cases as case_flows

router = APIRouter(prefix="/console", include_in_schema=False)
ViewActor = Annotated[Actor, Depends(console_actor(Perm.view))]
WorkActor = Annotated[Actor, Depends(console_actor(Perm.work_cases))]
# Handing out work (assign, 督办): supervisors and administrators, who decide 申诉 too.
AssignActor = Annotated[Actor, Depends(console_actor(Perm.decide_appeal))]

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
OVERDUE_CHOICES = ("", "yes", "no")
# Refusals of a move or reply that leave the case as it was: shown on the case page.
CASE_ERRORS = (
    refusals.InvalidTransition,
    refusals.NoteRequired,
    refusals.SupervisorOnly,
    refusals.CaseClosed,
    refusals.InvalidText,
    assigning.MayNotAssign,
    assigning.NotEligible,
    assigning.ReasonRequired,
    assigning.ReasonTooLong,
    assigning.AlreadyAssigned,
    assigning.NotOpen,
)
VIEW_ERRORS = (views.InvalidView, views.ViewNameTaken, views.PersonalOnly, views.TooManyViews)
EVENT_KINDS = {
    "opened": N_("console.cases.kind.opened"),
    "transition": N_("console.cases.kind.transition"),
    "reply": N_("console.cases.kind.reply"),
    "citizen": N_("console.cases.kind.citizen"),
    "rerating": N_("console.cases.kind.rerating"),
    "escalated": N_("console.cases.kind.escalated"),
    "unreachable": N_("caseclose.kind.unreachable"),
    "assigned": N_("caseassign.kind.assigned"),
}
DONE = {
    "reply": N_("console.cases.done.reply"),
    "transition": N_("console.cases.done.transition"),
    "close": N_("caseclose.done"),
    "assign": N_("caseassign.done.assign"),
    "view_saved": N_("caseview.done.saved"),
    "view_deleted": N_("caseview.done.deleted"),
    "view_missing": N_("caseview.done.missing"),
    "claim": N_("caseassign.done.claim"),
}
# The queue's query parameters: the filters (what a saved view and the 台账 take), then paging.
FILTERS = ("q", "unit", "state", "assignee", "overdue", "opened_from", "opened_to")
PAGING = ("offset", "limit", "after")
BULK_DONE = {
    "assign": N_("caseassign.bulk.done_assign"),
    "escalate": N_("caseassign.bulk.done_escalate"),
}
STATE_ORDER = list(CaseState)
# 评价渠道 by its GB/T 39046 pf code.
CHANNELS = {
    1: N_("caseassign.channel.1"),
    2: N_("caseassign.channel.2"),
    3: N_("caseassign.channel.3"),
    4: N_("caseassign.channel.4"),
    5: N_("caseassign.channel.5"),
    6: N_("caseassign.channel.6"),
    7: N_("caseassign.channel.7"),
}


# The queue ------------------------------------------------------------------------------


@dataclass
class QueueRequest:
    """The queue's query parameters as typed, and what they mean once checked."""

    raw: dict[str, str]
    filters: queries.QueueFilters = queries.QueueFilters()
    errors: list[str] = field(default_factory=list)


def _parse_date(value: str, errors: list[str]) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors.append(translate(N_("console.cases.error.date"), value=value[:40]))
        return None


def _parse_count(value: str, default: int, low: int, high: int, errors: list[str]) -> int:
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        number = low - 1
    if not low <= number <= high:
        errors.append(translate(N_("console.cases.error.page"), value=value[:40]))
        return default
    return number


def parse_queue(raw: dict[str, str]) -> QueueRequest:
    """Check the filters; a bad value becomes a message, never an error page.

    Whether the unit is one of the actor's is the query's to say (``unknown_unit``).
    """
    errors: list[str] = []
    state = None
    if len(raw["q"]) > refusals.SEARCH_MAX:
        errors.append(translate(N_("caseassign.error.search"), max=refusals.SEARCH_MAX))
    if len(raw["assignee"]) > views.VALUE_MAX:
        errors.append(translate(N_("caseassign.error.assignee"), value=raw["assignee"][:40]))
    if raw["state"] == queries.OPEN:
        pass
    elif raw["state"]:
        try:
            state = CaseState(raw["state"])
        except ValueError:
            errors.append(translate(N_("console.cases.error.state"), value=raw["state"][:40]))
    overdue = raw["overdue"]
    if overdue not in OVERDUE_CHOICES:
        errors.append(translate(N_("console.cases.error.overdue"), value=overdue[:40]))
        overdue = ""
    opened_from = _parse_date(raw["opened_from"], errors)
    opened_to = _parse_date(raw["opened_to"], errors)
    if opened_from and opened_to and opened_from > opened_to:
        errors.append(translate(N_("console.cases.error.range")))
    offset = _parse_count(raw["offset"], 0, 0, 10**9, errors)
    limit = _parse_count(raw["limit"], PAGE_SIZE, 1, MAX_PAGE_SIZE, errors)
    after = raw.get("after", "")
    if after and not re.fullmatch(queries.QUEUE_CURSOR_PATTERN, after):
        errors.append(translate(N_("error.bad_cursor"), cursor=after[:40]))
    filters = queries.QueueFilters(
        unit_code=raw["unit"] or None,
        state=state,
        overdue={"yes": True, "no": False}.get(overdue),
        opened_from=opened_from,
        opened_to=opened_to,
        offset=offset,
        limit=limit,
        after=after or None,
        assignee=raw["assignee"] or None,
        q=raw["q"] or None,
        open_only=raw["state"] == queries.OPEN,
    )
    return QueueRequest(raw, filters, errors)


def filter_query(raw: dict[str, str]) -> str:
    """The filters of the queue as a query string (a saved view, the 台账 links)."""
    return urlencode([(k, raw[k]) for k in FILTERS if raw.get(k)])


def _page_url(raw: dict[str, str], offset: int, after: str = "") -> str:
    params = {k: v for k, v in raw.items() if v and k not in ("offset", "after")}
    if offset:
        params["offset"] = str(offset)
    if after:
        params["after"] = after
    return "/console/cases" + (f"?{urlencode(params)}" if params else "")


@router.get("/cases", response_class=HTMLResponse)
async def case_queue(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: ViewActor,
    q: str = "",
    unit: str = "",
    state: str = "",
    assignee: str = "",
    overdue: str = "",
    opened_from: str = "",
    opened_to: str = "",
    offset: str = "",
    limit: str = "",
    after: str = "",
    done: str = "",
) -> Response:
    typed = (q, unit, state, assignee, overdue, opened_from, opened_to, offset, limit, after)
    raw = {name: value.strip() for name, value in zip((*FILTERS, *PAGING), typed, strict=True)}
    key = DONE.get(done)
    return await _queue_page(
        request, session, settings.tz, actor, raw, done=translate(key) if key else None
    )


async def _queue_page(
    request: Request,
    session: AsyncSession,
    tz: ZoneInfo,
    actor: Actor,
    raw: dict[str, str],
    *,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    """The queue for these typed parameters, with the person's views and the workload."""
    query = parse_queue(raw)
    on = today(tz)
    page = await queries.case_queue(session, actor, None if query.errors else query.filters, on)
    if page.unknown_unit or (raw["unit"] and raw["unit"] not in {u.code for u in page.units}):
        query.errors.insert(0, translate(N_("console.cases.error.unit"), value=raw["unit"][:40]))
    if page.unknown_assignee:
        query.errors.append(translate(N_("caseassign.error.assignee"), value=raw["assignee"][:40]))
    context: dict[str, Any] = {
        "units": page.units,
        "states": STATE_ORDER,
        "filters": raw,
        "errors": query.errors,
        "rows": page.rows,
        "total": page.total,
        "filter_query": filter_query(raw),
        "views": await views.list_views(session=session, actor=actor),
        **await _work_context(session, actor, on, [u.id for u in page.units]),
        **extra,
    }
    if query.errors:
        return render(request, "console/cases.html", context, actor=actor, status_code=422)
    filters = query.filters
    context["first"] = page.start + 1 if page.rows else 0
    context["last"] = page.start + len(page.rows)
    if page.start > 0:  # counted from the start: the page before this one
        context["prev_url"] = _page_url(raw, max(0, page.start - filters.limit))
    if page.next:  # the next page by cursor: as fast however deep
        context["next_url"] = _page_url(raw, 0, page.next)
    return render(request, "console/cases.html", context, actor=actor, status_code=status_code)


async def _work_context(
    session: AsyncSession, actor: Actor, on: date, units: list[int]
) -> dict[str, Any]:
    """What the queue offers those who hand out work: the workload and whom to assign to."""
    mine = actor.user_id is not None and actor.can(Perm.work_cases)
    if actor.role not in assigning.ASSIGNING_ROLES:
        return {"workload": [], "assignees": [], "can_bulk": False, "mine": mine}
    people = await assigning.eligible(session=session, unit_ids=units)
    names = sorted({p.username for found in people.values() for p in found})
    return {
        "workload": await queries.workload(session, actor, on),
        "assignees": names,
        "can_bulk": True,
        "mine": mine,
    }


def _case_ids(values: list[str]) -> list[int]:
    return [int(v) for v in values if v.isascii() and v.isdigit() and 0 < len(v) <= 12]


def _back(query: str) -> dict[str, str]:
    """The queue's typed parameters from the query string a form carried back."""
    given = dict(parse_qsl(query[:2000]))
    return {name: given.get(name, "").strip() for name in (*FILTERS, *PAGING)}


def _refusal_lines(result: case_flows.BulkResult) -> list[str]:
    return [
        translate(N_("caseassign.bulk.refused"), id=case_id, reason=translate(e.key, **e.params))
        for case_id, e in result.refused
    ]


@router.post("/cases/bulk", response_class=HTMLResponse)
async def case_bulk(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: AssignActor,
    case: Annotated[list[str], Form()] = [],  # noqa: B006 (FastAPI reads the default)
    action: Annotated[str, Form()] = "",
    assignee: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "",
) -> Response:
    """Assign or 督办 the ticked cases, each checked on its own; refusals listed in Chinese."""
    ids = _case_ids(case)
    raw = _back(back)
    if not ids or action not in ("assign", "escalate"):
        message = translate(N_("caseassign.bulk.nothing"))
        return await _queue_page(
            request, session, settings.tz, actor, raw, status_code=422, bulk_errors=[message]
        )
    try:
        if action == "assign":
            result = await case_flows.bulk_assign(
                session=session, actor=actor, case_ids=ids, assignee=assignee, reason=reason
            )
        else:
            result = await case_flows.bulk_escalate(
                session=session, actor=actor, case_ids=ids, note=reason
            )
    except case_flows.TooManyCases as exc:
        await session.rollback()
        message = translate(exc.key, **exc.params)
        return await _queue_page(
            request, session, settings.tz, actor, raw, status_code=422, bulk_errors=[message]
        )
    done = translate(
        BULK_DONE[action],
        count=len(result.done),
        ids="、".join(f"#{i}" for i in result.done) or "—",
    )
    return await _queue_page(
        request, session, settings.tz, actor, raw, done=done, bulk_errors=_refusal_lines(result)
    )


@router.post("/cases/views", response_class=HTMLResponse)
async def view_save(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: ViewActor,
    name: Annotated[str, Form()] = "",
    query: Annotated[str, Form()] = "",
) -> Response:
    """Save the queue's current filter under a name (my own views)."""
    try:
        view = await case_flows.view_save(session=session, actor=actor, name=name, query=query)
    except VIEW_ERRORS as exc:
        await session.rollback()
        raw = _back(query)
        message = translate(exc.key, **exc.params)
        return await _queue_page(
            request, session, settings.tz, actor, raw, status_code=exc.status_code,
            view_error=message, view_name=name[: views.NAME_MAX],
        )  # fmt: skip
    return redirect(f"/console/cases?{view.query}&done=view_saved")


@router.post("/cases/views/delete", response_class=HTMLResponse)
async def view_delete(
    session: SessionDep, actor: ViewActor, name: Annotated[str, Form()] = ""
) -> Response:
    """Delete one of my saved views (one already gone is said so, as a second click finds)."""
    try:
        await case_flows.view_delete(session=session, actor=actor, name=name)
    except NotFound:
        return redirect("/console/cases?done=view_missing")
    return redirect("/console/cases?done=view_deleted")


# One case -------------------------------------------------------------------------------


def _who(event: queries.TimelineRow) -> str:
    if event.by == "citizen":
        return translate(N_("console.cases.who.citizen"))
    if event.by == "system":
        return translate(N_("console.cases.who.system"))
    return event.actor


def _event_row(event: queries.TimelineRow) -> dict[str, Any]:
    kind = EVENT_KINDS.get(event.kind)
    return {
        "at": event.at,
        "who": _who(event),
        "kind": translate(kind) if kind else event.kind,
        "from_state": event.from_state,
        "to_state": event.to_state,
        "note": event.note,  # masked by the query
    }


def _case_id(raw: str) -> int:
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
        raise NotFound(case=raw[:20])
    return int(raw)


async def _case_page(
    request: Request,
    session: AsyncSession,
    tz: ZoneInfo,
    actor: Actor,
    case_id: IdPath,
    *,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    detail = await queries.case_detail(session, actor, case_id, tz)
    context: dict[str, Any] = {
        "case": detail,
        "events": [_event_row(event) for event in detail.events],
        "note_required": refusals.NOTE_REQUIRED,
        "channel": translate(CHANNELS[detail.channel]) if detail.channel in CHANNELS else None,
        "reply_text": "",
        "note": "",
        **extra,
    }
    return render(request, "console/case.html", context, actor=actor, status_code=status_code)


@router.get("/cases/{case_id}", response_class=HTMLResponse)
async def case_detail(
    request: Request,
    case_id: str,
    session: SessionDep,
    settings: SettingsDep,
    actor: ViewActor,
    done: str = "",
) -> Response:
    key = DONE.get(done)
    notice = translate(key) if key else None
    return await _case_page(request, session, settings.tz, actor, _case_id(case_id), done=notice)


@router.post("/cases/{case_id}/assign", response_class=HTMLResponse)
async def case_assign(
    request: Request,
    case_id: str,
    session: SessionDep,
    settings: SettingsDep,
    actor: AssignActor,
    assignee: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Make someone of the unit the case's 承办人; a reassignment needs a reason."""
    number = _case_id(case_id)
    try:
        await case_flows.assign(
            session=session, actor=actor, case_id=number, assignee=assignee, reason=reason
        )
    except CASE_ERRORS as exc:
        return await _refused(
            request, session, settings.tz, actor, number, exc, reason=reason[:500]
        )
    return redirect(f"/console/cases/{number}?done=assign")


@router.post("/cases/{case_id}/claim", response_class=HTMLResponse)
async def case_claim(
    request: Request, case_id: str, session: SessionDep, settings: SettingsDep, actor: WorkActor
) -> Response:
    """Take an unassigned case of my unit (认领)."""
    number = _case_id(case_id)
    try:
        await case_flows.claim(session=session, actor=actor, case_id=number)
    except CASE_ERRORS as exc:
        return await _refused(request, session, settings.tz, actor, number, exc)
    return redirect(f"/console/cases/{number}?done=claim")


async def _refused(
    request: Request,
    session: AsyncSession,
    tz: ZoneInfo,
    actor: Actor,
    case_id: IdPath,
    exc: DomainError,
    **typed: str,
) -> Response:
    """The case page again with the service's reason; nothing of the attempt is kept."""
    await session.rollback()
    message = translate(exc.key, **exc.params)
    return await _case_page(
        request, session, tz, actor, case_id, status_code=exc.status_code, error=message, **typed
    )


@router.post("/cases/{case_id}/reply", response_class=HTMLResponse)
async def case_reply(
    request: Request,
    case_id: str,
    session: SessionDep,
    settings: SettingsDep,
    actor: WorkActor,
    text: Annotated[str, Form()] = "",
) -> Response:
    """A reply to the citizen, relayed by the bot through the channel they used (保密联络)."""
    number = _case_id(case_id)
    try:
        await case_flows.reply(session=session, actor=actor, case_id=number, text=text)
    except CASE_ERRORS as exc:
        return await _refused(
            request, session, settings.tz, actor, number, exc, reply_text=text[: refusals.TEXT_MAX]
        )
    return redirect(f"/console/cases/{number}?done=reply")


@router.post("/cases/{case_id}/transition", response_class=HTMLResponse)
async def case_transition(
    request: Request,
    case_id: str,
    session: SessionDep,
    settings: SettingsDep,
    actor: ViewActor,
    to: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    """Move the case on; 申诉 decisions are the supervisor's (the flow decides)."""
    number = _case_id(case_id)
    try:
        await case_flows.transition(session=session, actor=actor, case_id=number, to=to, note=note)
    except CASE_ERRORS as exc:
        return await _refused(
            request, session, settings.tz, actor, number, exc, note=note[: refusals.TEXT_MAX]
        )
    return redirect(f"/console/cases/{number}?done=transition")
