"""The 差评 case actions: a move (incl. 申诉 and its decision), a reply, 督办 of overdue cases.

Each flow checks who may act, calls :mod:`surveys.cases.service` and writes one audit row
named after the flow, the same whichever adapter calls it. Audit details hold ids and
states, never the note or the reply (those stay on the case's timeline).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts import audit
from surveys.accounts.access import Actor, Forbidden, Perm
from surveys.cases import service as cases
from surveys.cases.models import CaseEvent, CaseState, FollowUpCase
from surveys.core.models import pk
from surveys.flows.registry import Adapter, flow


@dataclass(frozen=True)
class CaseChange:
    """The case after the action, and the timeline event it added."""

    case: FollowUpCase
    event: CaseEvent


def parse_state(text: str) -> CaseState | None:
    """A case state by its Chinese name (核实中) or its code (verifying); None if neither."""
    text = text.strip()
    for state in CaseState:
        if text in (state.value, state.name):
            return state
    return None


async def _record(
    session: AsyncSession,
    actor: Actor,
    action: str,
    case_id: int,
    event: CaseEvent,
    **detail: Any,
) -> None:
    """The audit row of one change to a case: its target and the event it added."""
    await audit.record(
        session=session,
        actor=actor,
        action=action,
        target=f"case:{case_id}",
        event=pk(event),
        **detail,
    )


@flow("case.transition", perm=None)  # unit work or a 申诉 decision: decided below
async def transition(
    *,
    session: AsyncSession,
    actor: Actor,
    case_id: int,
    to: str,
    note: str | None = None,
    person: str | None = None,
) -> CaseChange:
    """Move a case on; ``to`` as typed (a state's name or code), ``note`` as typed.

    ``person``: the person at an integration who made the move, shown on the timeline.
    """
    case = await cases.get_case_for(session=session, case_id=case_id, actor=actor)
    if not (actor.can(Perm.work_cases) or actor.can(Perm.decide_appeal)):
        raise Forbidden(action=Perm.work_cases.value)
    text = (note or "").strip()
    if len(text) > cases.TEXT_MAX:
        raise cases.InvalidText(got=len(text))
    target = parse_state(to)
    if target is None:
        raise cases.InvalidTransition(frm=CaseState(case.state), to=to.strip()[:16])
    event = await cases.act(
        session=session, actor=actor, case=case, to=target, note=text or None, person=person
    )
    await _record(
        session, actor, "case.transition", case_id, event, frm=event.from_state, to=event.to_state
    )
    return CaseChange(case, event)


@flow("case.reply", perm=Perm.work_cases)
async def reply(
    *,
    session: AsyncSession,
    actor: Actor,
    case_id: int,
    text: str,
    person: str | None = None,
) -> CaseChange:
    """A reply to the citizen, relayed by the bot (保密联络); ``person`` as for a move."""
    case = await cases.get_case_for(session=session, case_id=case_id, actor=actor)
    event = await cases.reply_as(session=session, actor=actor, case=case, text=text, person=person)
    await _record(session, actor, "case.reply", case_id, event)
    return CaseChange(case, event)


@flow("case.escalate", perm=Perm.manage, adapters=frozenset({Adapter.cli}))
async def escalate(
    *, session: AsyncSession, actor: Actor, today: date, now: datetime
) -> list[FollowUpCase]:
    """Mark the cases newly overdue on ``today`` 督办 (once per case) and return them.

    The bot's scheduler does the same as the system, without an actor (bot/).
    """
    done = await cases.escalate_overdue(session=session, today=today, now=now)
    await audit.record(
        session=session,
        actor=actor,
        action="case.escalate",
        on=today.isoformat(),
        cases=[pk(case) for case in done],
    )
    return done
