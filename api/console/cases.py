"""Console pages: the 差评 case queue, one case's detail, replies and moves (domain.md §3).

Staff see the citizen only as :func:`surveys.cases.masked_reference`; free text written by
the citizen is shown through :func:`surveys.masking.mask_text` (§7). Who may do what is the
service's rule (:func:`surveys.cases.act`, :func:`surveys.cases.reply_as`); these pages only
hide the forms an actor could not use.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.auth import console_actor
from api.console.web import redirect, render, translate
from api.deps import SessionDep, SettingsDep
from api.paging import IdPath
from surveys.accounts import audit, units
from surveys.accounts.access import Actor, Forbidden, Perm
from surveys.accounts.models import Unit
from surveys.cases import service as cases
from surveys.cases.models import CaseEvent, CaseState, FollowUpCase
from surveys.core.clock import as_utc, today
from surveys.core.exceptions import DomainError, NotFound
from surveys.core.i18n import N_
from surveys.core.masking import mask_text
from surveys.core.models import pk
from surveys.haochaping.models import Rating

router = APIRouter(prefix="/console", include_in_schema=False)
ViewActor = Annotated[Actor, Depends(console_actor(Perm.view))]
WorkActor = Annotated[Actor, Depends(console_actor(Perm.work_cases))]

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
OVERDUE_CHOICES = ("", "yes", "no")
# Refusals of a move or reply that leave the case as it was: shown on the case page.
CASE_ERRORS = (
    cases.InvalidTransition,
    cases.NoteRequired,
    cases.SupervisorOnly,
    cases.CaseClosed,
    cases.InvalidText,
)
EVENT_KINDS = {
    "opened": N_("console.cases.kind.opened"),
    "transition": N_("console.cases.kind.transition"),
    "reply": N_("console.cases.kind.reply"),
    "citizen": N_("console.cases.kind.citizen"),
    "rerating": N_("console.cases.kind.rerating"),
    "escalated": N_("console.cases.kind.escalated"),
}
DONE = {
    "reply": N_("console.cases.done.reply"),
    "transition": N_("console.cases.done.transition"),
}
STATE_ORDER = list(CaseState)


# The queue ------------------------------------------------------------------------------


@dataclass
class QueueRequest:
    """The queue's query parameters as typed, and what they mean once checked."""

    raw: dict[str, str]
    where: cases.CaseFilter = cases.CaseFilter()
    overdue: str = ""
    offset: int = 0
    limit: int = PAGE_SIZE
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


def parse_queue(raw: dict[str, str], visible: dict[str, Unit], on: date) -> QueueRequest:
    """Check the filters; a bad value becomes a message, never an error page."""
    errors: list[str] = []
    unit_id = None
    if raw["unit"]:
        unit = visible.get(raw["unit"])
        if unit is None:
            errors.append(translate(N_("console.cases.error.unit"), value=raw["unit"][:40]))
        else:
            unit_id = pk(unit)
    state = None
    if raw["state"]:
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
    where = cases.CaseFilter(
        unit_id=unit_id,
        state=state,
        overdue_on=on if overdue == "yes" else None,
        opened_from=opened_from,
        opened_to=opened_to,
    )
    return QueueRequest(raw, where, overdue, offset, limit, errors)


async def _visible_units(session: AsyncSession, actor: Actor) -> list[Unit]:
    found = await units.list_units(session=session)
    return sorted((u for u in found if actor.sees(u.id)), key=lambda u: u.code)


async def _find_page(
    session: AsyncSession, actor: Actor, query: QueueRequest, on: date
) -> tuple[list[FollowUpCase], int]:
    where = query.where
    if query.overdue == "no":
        where = replace(where, on_time_on=on)
    return await cases.list_cases(
        session=session, actor=actor, where=where, offset=query.offset, limit=query.limit
    )


async def _ratings(session: AsyncSession, found: list[FollowUpCase]) -> dict[int, Rating]:
    ids = [case.rating_id for case in found]
    if not ids:
        return {}
    rows = await session.exec(select(Rating).where(col(Rating.id).in_(ids)))
    return {pk(rating): rating for rating in rows.all()}


def _page_url(raw: dict[str, str], offset: int) -> str:
    params = {key: value for key, value in raw.items() if value and key != "offset"}
    if offset:
        params["offset"] = str(offset)
    return "/console/cases" + (f"?{urlencode(params)}" if params else "")


@router.get("/cases", response_class=HTMLResponse)
async def case_queue(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: ViewActor,
    unit: str = "",
    state: str = "",
    overdue: str = "",
    opened_from: str = "",
    opened_to: str = "",
    offset: str = "",
    limit: str = "",
) -> Response:
    on = today(settings.tz)
    raw = {
        "unit": unit.strip(),
        "state": state.strip(),
        "overdue": overdue.strip(),
        "opened_from": opened_from.strip(),
        "opened_to": opened_to.strip(),
        "offset": offset.strip(),
        "limit": limit.strip(),
    }
    visible = await _visible_units(session, actor)
    query = parse_queue(raw, {u.code: u for u in visible}, on)
    context: dict[str, Any] = {
        "units": visible,
        "states": STATE_ORDER,
        "filters": raw,
        "errors": query.errors,
        "rows": [],
        "total": 0,
    }
    if query.errors:
        return render(request, "console/cases.html", context, actor=actor, status_code=422)
    found, total = await _find_page(session, actor, query, on)
    ratings = await _ratings(session, found)
    names = {pk(u): u.name for u in visible}
    context["rows"] = [
        {
            "id": pk(case),
            "unit": names.get(case.unit_id, ""),
            "item": (rating.item_name if (rating := ratings.get(case.rating_id)) else None),
            "reference": cases.masked_reference(case),
            "state": CaseState(case.state).value,
            "contact_due": case.contact_due,
            "rectify_due": case.rectify_due,
            "overdue": cases.is_overdue(case, on),
        }
        for case in found
    ]
    context["total"] = total
    context["first"] = query.offset + 1 if found else 0
    context["last"] = query.offset + len(found)
    if query.offset > 0:
        context["prev_url"] = _page_url(raw, max(0, query.offset - query.limit))
    if query.offset + query.limit < total:
        context["next_url"] = _page_url(raw, query.offset + query.limit)
    return render(request, "console/cases.html", context, actor=actor)


# One case -------------------------------------------------------------------------------


def _local(moment: datetime | None, tz: ZoneInfo) -> str:
    return as_utc(moment).astimezone(tz).strftime("%Y-%m-%d %H:%M") if moment else ""


def _who(event: CaseEvent) -> str:
    if event.actor == cases.CITIZEN:
        return translate(N_("console.cases.who.citizen"))
    if event.actor == cases.SYSTEM:
        return translate(N_("console.cases.who.system"))
    return event.actor


def _event_row(event: CaseEvent, tz: ZoneInfo) -> dict[str, Any]:
    kind = EVENT_KINDS.get(event.kind)
    return {
        "at": _local(event.at, tz),
        "who": _who(event),
        "kind": translate(kind) if kind else event.kind,
        "from_state": event.from_state,
        "to_state": event.to_state,
        # Anyone's text may quote a phone or ID number; staff views mask it (§7).
        "note": mask_text(event.note) if event.note else None,
    }


def _moves(case: FollowUpCase, actor: Actor) -> tuple[list[CaseState], list[CaseState]]:
    """The staff moves and the 申诉 decisions open to this actor from the case's state."""
    allowed = sorted(
        cases.TRANSITIONS[CaseState(case.state)] - cases.CITIZEN_MOVES, key=STATE_ORDER.index
    )
    work = [s for s in allowed if s not in cases.APPEAL_DECISIONS]
    decide = [s for s in allowed if s in cases.APPEAL_DECISIONS]
    return (
        work if actor.can(Perm.work_cases) else [],
        decide if actor.can(Perm.decide_appeal) else [],
    )


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
    case = await cases.get_case_for(session=session, case_id=case_id, actor=actor)
    rating = await session.get(Rating, case.rating_id)
    unit = await session.get(Unit, case.unit_id)
    on = today(tz)
    work_moves, appeal_moves = _moves(case, actor)
    state = CaseState(case.state)
    context: dict[str, Any] = {
        "case": case,
        "state": state.value,
        "overdue": cases.is_overdue(case, on),
        "unit_name": unit.name if unit else "",
        "reference": cases.masked_reference(case),
        "rating": rating,
        "rated_at": _local(rating.rated_at, tz) if rating else "",
        "reasons": list(rating.reasons or []) if rating else [],
        "comment": mask_text(rating.comment) if rating and rating.comment else None,
        "voice": bool(rating and rating.voice_file_id),
        "opened_at": _local(case.opened_at, tz),
        "closed_at": _local(case.closed_at, tz),
        "escalated_at": _local(case.escalated_at, tz),
        "events": [_event_row(e, tz) for e in await cases.timeline(session=session, case=case)],
        "can_reply": actor.can(Perm.work_cases) and state is not CaseState.closed,
        "work_moves": work_moves,
        "appeal_moves": appeal_moves,
        "note_required": cases.NOTE_REQUIRED,
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
    case = await cases.get_case_for(session=session, case_id=number, actor=actor)
    try:
        event = await cases.reply_as(
            session=session, actor=actor, case=case, text=text, person=None
        )
    except CASE_ERRORS as exc:
        return await _refused(
            request, session, settings.tz, actor, number, exc, reply_text=text[: cases.TEXT_MAX]
        )
    await audit.record(
        session=session, actor=actor, action="case.reply", target=f"case:{number}", event=pk(event)
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
    """Move the case on; 申诉 decisions are the supervisor's (the service decides)."""
    number = _case_id(case_id)
    case = await cases.get_case_for(session=session, case_id=number, actor=actor)
    if not (actor.can(Perm.work_cases) or actor.can(Perm.decide_appeal)):
        raise Forbidden(action=Perm.work_cases.value)
    typed = {"note": note[: cases.TEXT_MAX]}
    try:
        if len(note.strip()) > cases.TEXT_MAX:
            raise cases.InvalidText(got=len(note.strip()))
        try:
            target = CaseState(to.strip())
        except ValueError:
            raise cases.InvalidTransition(frm=CaseState(case.state), to=to[:16]) from None
        event = await cases.act(session=session, actor=actor, case=case, to=target, note=note)
    except CASE_ERRORS as exc:
        return await _refused(request, session, settings.tz, actor, number, exc, **typed)
    await audit.record(
        session=session,
        actor=actor,
        action="case.transition",
        target=f"case:{number}",
        event=pk(event),
        frm=event.from_state,
        to=event.to_state,
    )
    return redirect(f"/console/cases/{number}?done=transition")
