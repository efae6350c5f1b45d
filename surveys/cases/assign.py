"""承办人 and 督办 of single cases: who works a case, and a supervisor's push on it.

Who may assign (the rule, in one place):

* an administrator, or a supervisor who sees the case's unit (those who decide 申诉,
  :attr:`Perm.decide_appeal`), assigns or reassigns any open case to any eligible person; a
  reassignment needs a reason (:func:`assign`);
* the unit's own staff may take an unassigned case of their unit for themselves (认领,
  :func:`claim`), and nothing more: handing a case to someone else is the supervisor's;
* the assignee is an active account of a role that works cases (staff) serving the case's
  unit (StaffUnit), so a case never lands with someone who cannot see or work it.

Each change is a :class:`CaseEvent` on the timeline (kind ``assigned`` or ``escalated``) with
who and when; the flows (:mod:`surveys.flows.cases`) write the audit rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.access import ROLE_PERMS, Actor, Perm, StaffRole
from surveys.accounts.models import StaffUnit, StaffUser
from surveys.cases import service as cases
from surveys.cases.models import CaseEvent, CaseState, FollowUpCase
from surveys.core.exceptions import DomainError
from surveys.core.i18n import N_
from surveys.core.models import pk, utcnow

REASON_MAX = 500  # characters of an assignment's reason
WORKING_ROLES = frozenset(role for role, perms in ROLE_PERMS.items() if Perm.work_cases in perms)
ASSIGNING_ROLES = frozenset({StaffRole.admin, StaffRole.supervisor})


class MayNotAssign(DomainError):
    """The actor may not (re)assign this case: unit staff may only take an unassigned one."""

    key = N_("caseassign.error.may_not_assign")
    status_code = 403


class NotEligible(DomainError):
    """The named person is no active staff member serving the case's unit."""

    key = N_("caseassign.error.not_eligible")
    status_code = 422

    def __init__(self, *, username: str) -> None:
        super().__init__(username=username[:64])


class ReasonRequired(DomainError):
    key = N_("caseassign.error.reason_required")
    status_code = 422


class ReasonTooLong(DomainError):
    key = N_("caseassign.error.reason_too_long")
    status_code = 422

    def __init__(self, *, got: int) -> None:
        super().__init__(max=REASON_MAX, got=got)


class AlreadyAssigned(DomainError):
    key = N_("caseassign.error.already_assigned")
    status_code = 409

    def __init__(self, *, username: str) -> None:
        super().__init__(username=username)


class NotOpen(DomainError):
    """A closed case has no 承办人 to change and nothing to 督办."""

    key = N_("caseassign.error.not_open")
    status_code = 409

    def __init__(self, *, state: str) -> None:
        super().__init__(state=state)


class MayNotEscalate(DomainError):
    key = N_("caseassign.error.may_not_escalate")
    status_code = 403


class NothingToEscalate(DomainError):
    """督办 presses the unit for its work: a case that owes none, or was pressed, is refused."""

    key = N_("caseassign.error.nothing_to_escalate")
    status_code = 409

    def __init__(self, *, state: str, escalated: bool) -> None:
        super().__init__(state=state, escalated=escalated)


@dataclass(frozen=True)
class Assignee:
    id: int
    username: str


def may_assign_any(actor: Actor, case: FollowUpCase) -> bool:
    """Whether the actor assigns and reassigns this case to anyone eligible."""
    return actor.role in ASSIGNING_ROLES and actor.sees(case.unit_id)


def may_claim(actor: Actor, case: FollowUpCase) -> bool:
    """Whether the actor may take this unassigned case of their unit for themselves (认领)."""
    # Serving the unit (StaffUnit) is checked with the person: an administrator who
    # serves it may take its cases too.
    return (
        case.assignee_id is None
        and actor.user_id is not None
        and actor.can(Perm.work_cases)
        and actor.sees(case.unit_id)
    )


async def eligible(*, session: AsyncSession, unit_ids: Sequence[int]) -> dict[int, list[Assignee]]:
    """The people a case of each unit may be assigned to, by unit id, by username."""
    if not unit_ids:
        return {}
    statement = (
        select(StaffUnit.unit_id, StaffUser.id, StaffUser.username)
        .join(StaffUser, col(StaffUser.id) == col(StaffUnit.user_id))
        .where(
            col(StaffUnit.unit_id).in_(list(unit_ids)),
            col(StaffUser.active).is_(True),
            col(StaffUser.role).in_([r.value for r in WORKING_ROLES]),
        )
        .order_by(col(StaffUser.username))
    )
    found: dict[int, list[Assignee]] = {}
    for unit_id, user_id, username in (await session.exec(statement)).all():
        found.setdefault(int(unit_id), []).append(Assignee(int(user_id or 0), username))
    return found


async def names(*, session: AsyncSession, user_ids: Sequence[int | None]) -> dict[int, str]:
    """Usernames by account id (for the 承办人 column)."""
    wanted = {i for i in user_ids if i is not None}
    if not wanted:
        return {}
    rows = await session.exec(
        select(StaffUser.id, StaffUser.username).where(col(StaffUser.id).in_(wanted))
    )
    return {int(user_id): name for user_id, name in rows.all() if user_id is not None}


async def _eligible_person(session: AsyncSession, case: FollowUpCase, username: str) -> Assignee:
    name = username.strip()
    for person in (await eligible(session=session, unit_ids=[case.unit_id])).get(case.unit_id, []):
        if person.username == name:
            return person
    raise NotEligible(username=name)


def _clean_reason(reason: str | None) -> str | None:
    text = (reason or "").strip()
    if len(text) > REASON_MAX:
        raise ReasonTooLong(got=len(text))
    return text or None


async def assign(
    *,
    session: AsyncSession,
    actor: Actor,
    case: FollowUpCase,
    username: str,
    reason: str | None,
) -> CaseEvent:
    """A supervisor makes ``username`` the case's 承办人; a reassignment needs a reason."""
    actor.require_unit(case.unit_id, case=case.id)
    _require_open(case)
    if not may_assign_any(actor, case):
        raise MayNotAssign()
    text = _clean_reason(reason)
    person = await _eligible_person(session, case, username)
    if case.assignee_id is not None and text is None and case.assignee_id != person.id:
        raise ReasonRequired()
    return await _set(session, actor, case, person, text)


async def claim(*, session: AsyncSession, actor: Actor, case: FollowUpCase) -> CaseEvent:
    """The unit's staff member takes an unassigned case of their unit (认领)."""
    actor.require_unit(case.unit_id, case=case.id)
    _require_open(case)
    if case.assignee_id is not None:
        who = (await names(session=session, user_ids=[case.assignee_id])).get(case.assignee_id)
        raise AlreadyAssigned(username=who or "")
    if not may_claim(actor, case):
        raise MayNotAssign()
    person = await _eligible_person(session, case, actor.name)
    return await _set(session, actor, case, person, None)


def _require_open(case: FollowUpCase) -> None:
    if case.state == CaseState.closed:
        raise NotOpen(state=CaseState(case.state).value)


async def _set(
    session: AsyncSession, actor: Actor, case: FollowUpCase, person: Assignee, reason: str | None
) -> CaseEvent:
    """The new 承办人 and its timeline event (who, from whom, why)."""
    if case.assignee_id == person.id:
        raise AlreadyAssigned(username=person.username)
    before = None
    if case.assignee_id is not None:
        before = (await names(session=session, user_ids=[case.assignee_id])).get(case.assignee_id)
    case.assignee_id = person.id
    note = f"承办人：{before or '未分配'} → {person.username}"
    if reason:
        note += f"；理由：{reason}"
    event = CaseEvent(
        case_id=pk(case),
        actor=actor.name[:64],
        kind="assigned",
        from_state=CaseState(case.state).value,
        note=note,
    )
    session.add(event)
    await session.flush()
    return event


async def escalate(
    *, session: AsyncSession, actor: Actor, case: FollowUpCase, note: str | None
) -> CaseEvent:
    """督办 of one case by a supervisor of its unit: marked and on the timeline, once."""
    actor.require_unit(case.unit_id, case=case.id)
    if actor.role not in ASSIGNING_ROLES:
        raise MayNotEscalate()
    state = CaseState(case.state)
    if state not in cases.AWAITING_RECTIFY or case.escalated_at is not None:
        raise NothingToEscalate(state=state.value, escalated=case.escalated_at is not None)
    text = _clean_reason(note)
    now = utcnow()
    case.escalated_at = now
    event = CaseEvent(
        case_id=pk(case),
        actor=actor.name[:64],
        kind="escalated",
        from_state=state.value,
        note="督办" + (f"：{text}" if text else ""),
        at=now,
    )
    session.add(event)
    await session.flush()
    return event
