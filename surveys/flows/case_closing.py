"""How a case ends without the citizen's 复评: a supervisor's 结案, and the closing of the
cases whose 复评 window is over (已关闭（未复评）) or whose citizen is gone (无法联系).

The scheduler closes the latter by itself, as the system (api/jobs.py); the command line
does the same for a given day as an account, audited. Audit details hold ids and states,
never the note (it stays on the case's timeline).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts import audit
from surveys.accounts.access import Actor, Perm
from surveys.cases import closing
from surveys.cases import service as cases
from surveys.cases.exceptions import NoteRequired
from surveys.cases.models import CaseState, CloseReason, FollowUpCase
from surveys.cases.workdays import load_calendar
from surveys.core.i18n import N_
from surveys.core.models import pk
from surveys.core.settings import Settings
from surveys.flows.cases import CaseChange
from surveys.flows.registry import Adapter, flow


class CloseNoteRequired(NoteRequired):
    """结案 without a note: the note says why, on the timeline (the citizen is not told)."""

    key = N_("caseclose.error.note_required")

    def __init__(self) -> None:
        super().__init__(to=CaseState.closed)


@flow("case.close", perm=Perm.decide_appeal)
async def close(
    *, session: AsyncSession, actor: Actor, case_id: int, note: str | None
) -> CaseChange:
    """结案: a supervisor closes an open case, whatever its state, with a required note."""
    case = await cases.get_case_for(session=session, case_id=case_id, actor=actor)
    text = (note or "").strip()
    if not text:
        raise CloseNoteRequired()
    if len(text) > cases.TEXT_MAX:
        raise cases.InvalidText(got=len(text))
    event = await closing.close_by_supervisor(session=session, actor=actor, case=case, note=text)
    await audit.record(
        session=session,
        actor=actor,
        action="case.close",
        target=f"case:{case_id}",
        event=pk(event),
        frm=event.from_state,
        reason=CloseReason.supervisor.value,
    )
    return CaseChange(case, event)


@flow("case.close_unrerated", perm=Perm.manage, adapters=frozenset({Adapter.cli}))
async def close_unrerated(
    *, session: AsyncSession, actor: Actor, settings: Settings, today: date, now: datetime
) -> list[FollowUpCase]:
    """Close, as on ``today``, the 已反馈 cases past their 复评 window or whose citizen is
    gone, as the scheduler does each round; return them."""
    calendar = await load_calendar(session=session, tz=settings.tz)
    done = await closing.close_unrerated(
        session=session,
        calendar=calendar,
        today=today,
        now=now,
        days=settings.case_rerating_days,
    )
    await audit.record(
        session=session,
        actor=actor,
        action="case.close_unrerated",
        on=today.isoformat(),
        cases=[pk(case) for case in done],
    )
    return done
