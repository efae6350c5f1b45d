"""The 差评 case actions: a move (incl. 申诉 and its decision), a reply, 督办 of overdue cases,
承办人 (assign, 认领, bulk assign), a supervisor's 督办 of chosen cases, saved queue views.

Each flow checks who may act, calls :mod:`surveys.cases.service` and writes one audit row
named after the flow, the same whichever adapter calls it. Audit details hold ids and
states, never the note or the reply (those stay on the case's timeline).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts import audit
from surveys.accounts.access import Actor, Forbidden, Perm
from surveys.cases import assign as assigning
from surveys.cases import service as cases
from surveys.cases import views
from surveys.cases.models import CaseEvent, CaseState, CaseView, FollowUpCase
from surveys.core.exceptions import DomainError
from surveys.core.i18n import N_
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


# 承办人 and 督办 of chosen cases ---------------------------------------------------------

BULK_MAX = 200  # cases in one bulk action


class TooManyCases(DomainError):
    key = N_("caseassign.error.too_many")
    status_code = 422

    def __init__(self, *, got: int) -> None:
        super().__init__(max=BULK_MAX, got=got)


@dataclass(frozen=True)
class BulkResult:
    """Which of the chosen cases were changed, and why each other one was refused."""

    done: list[int] = field(default_factory=list)
    refused: list[tuple[int, DomainError]] = field(default_factory=list)


@flow("case.assign", perm=Perm.decide_appeal)  # supervisors and admins of the unit
async def assign(
    *,
    session: AsyncSession,
    actor: Actor,
    case_id: int,
    assignee: str,
    reason: str | None = None,
) -> CaseChange:
    """Make ``assignee`` (a username) the case's 承办人; a reassignment needs ``reason``."""
    case = await cases.get_case_for(session=session, case_id=case_id, actor=actor)
    event = await assigning.assign(
        session=session, actor=actor, case=case, username=assignee, reason=reason
    )
    await _record(session, actor, "case.assign", case_id, event, assignee=assignee.strip())
    return CaseChange(case, event)


@flow("case.claim", perm=Perm.work_cases, adapters=frozenset({Adapter.console, Adapter.cli}))
async def claim(*, session: AsyncSession, actor: Actor, case_id: int) -> CaseChange:
    """The unit's staff member takes an unassigned case for themselves (认领); a person's
    act, so not offered to integrations' tokens."""
    case = await cases.get_case_for(session=session, case_id=case_id, actor=actor)
    event = await assigning.claim(session=session, actor=actor, case=case)
    await _record(session, actor, "case.claim", case_id, event)
    return CaseChange(case, event)


Step = Callable[[FollowUpCase], Awaitable[CaseEvent]]


async def _each(
    session: AsyncSession, actor: Actor, case_ids: Sequence[int], step: Step
) -> BulkResult:
    """``step`` on every chosen case the actor may see, each checked on its own; a refusal
    leaves that case as it was (every check comes before any change) and the others go on."""
    wanted = list(dict.fromkeys(case_ids))
    if len(wanted) > BULK_MAX:
        raise TooManyCases(got=len(wanted))
    result = BulkResult()
    for case_id in wanted:
        try:
            case = await cases.get_case_for(session=session, case_id=case_id, actor=actor)
            await step(case)
        except DomainError as refusal:
            result.refused.append((case_id, refusal))
        else:
            result.done.append(case_id)
    return result


@flow("case.bulk_assign", perm=Perm.decide_appeal)
async def bulk_assign(
    *,
    session: AsyncSession,
    actor: Actor,
    case_ids: Sequence[int],
    assignee: str,
    reason: str | None = None,
) -> BulkResult:
    """:func:`assign` on each chosen case; one audit row listing the cases changed."""

    async def step(case: FollowUpCase) -> CaseEvent:
        return await assigning.assign(
            session=session, actor=actor, case=case, username=assignee, reason=reason
        )

    result = await _each(session, actor, case_ids, step)
    await audit.record(
        session=session,
        actor=actor,
        action="case.bulk_assign",
        assignee=assignee.strip(),
        cases=result.done,
        refused=[case_id for case_id, _ in result.refused],
    )
    return result


@flow("case.bulk_escalate", perm=Perm.decide_appeal)  # supervisors and admins of the unit
async def bulk_escalate(
    *, session: AsyncSession, actor: Actor, case_ids: Sequence[int], note: str | None = None
) -> BulkResult:
    """督办 of each chosen case still owed work by its unit; one audit row listing them."""

    async def step(case: FollowUpCase) -> CaseEvent:
        return await assigning.escalate(session=session, actor=actor, case=case, note=note)

    result = await _each(session, actor, case_ids, step)
    await audit.record(
        session=session,
        actor=actor,
        action="case.bulk_escalate",
        cases=result.done,
        refused=[case_id for case_id, _ in result.refused],
    )
    return result


# Saved queue views (a person's own: the console and the command line) ------------------

PERSONAL = frozenset({Adapter.console, Adapter.cli})


@flow("case.view_save", perm=Perm.view, adapters=PERSONAL)
async def view_save(*, session: AsyncSession, actor: Actor, name: str, query: str) -> CaseView:
    """Save the queue's filter (its query string) under a name of the actor's."""
    view = await views.save_view(session=session, actor=actor, name=name, query=query)
    await audit.record(
        session=session,
        actor=actor,
        action="case.view_save",
        target=f"case_view:{view.name}",
        query=view.query,
    )
    return view


@flow("case.view_delete", perm=Perm.view, adapters=PERSONAL)
async def view_delete(*, session: AsyncSession, actor: Actor, name: str) -> CaseView:
    """Delete one of the actor's saved views by name."""
    view = await views.delete_view(session=session, actor=actor, name=name)
    await audit.record(
        session=session, actor=actor, action="case.view_delete", target=f"case_view:{view.name}"
    )
    return view
