"""Staff notices about their units' cases: a new 差评, a 整改 deadline within a working day,
an overdue case; each sent once (the bot's chat with staff who linked it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from surveys.accounts.access import StaffRole
from surveys.accounts.models import StaffUnit, StaffUser, Unit
from surveys.cases import service as cases
from surveys.cases import workdays
from surveys.cases.models import CaseState, FollowUpCase, Notified
from surveys.core.i18n import N_, Msg
from surveys.core.models import pk

STAFF = frozenset({StaffRole.staff})
STAFF_AND_SUPERVISORS = frozenset({StaffRole.staff, StaffRole.supervisor})


@dataclass(frozen=True)
class Notice:
    chat_id: int
    text: Msg


async def _recipients(session: AsyncSession, unit_id: int, roles: set[StaffRole]) -> list[int]:
    statement = (
        select(StaffUser.telegram_chat_id)
        .join(StaffUnit, col(StaffUnit.user_id) == col(StaffUser.id))
        .where(
            StaffUnit.unit_id == unit_id,
            col(StaffUser.active).is_(True),
            col(StaffUser.telegram_chat_id).is_not(None),
            col(StaffUser.role).in_([r.value for r in roles]),
        )
    )
    return [int(c) for c in (await session.exec(statement)).all() if c is not None]


async def due_notices(
    *, session: AsyncSession, today: date, now: datetime, calendar: workdays.WorkCalendar
) -> list[Notice]:
    """Notices not sent yet: each new 差评, deadlines within a working day, overdue cases.

    Each is recorded as sent in the same transaction; staff see only masked references. The
    database picks the cases that still owe a notice (each round reads only those, not every
    case ever opened), and each unit's recipients are looked up once per round.
    """
    await cases.escalate_overdue(session=session, today=today, now=now)  # 督办
    horizon = calendar.add_working_days(today, 1)
    owing = (await session.exec(_owing(today, horizon))).all()
    if not owing:
        return []
    ids = [pk(case) for case in owing]
    sent_rows = await session.exec(
        select(Notified.case_id, Notified.kind).where(col(Notified.case_id).in_(ids))
    )
    sent = set(sent_rows.all())
    unit_names = {u.id: u.name for u in (await session.exec(select(Unit))).all()}
    recipients: dict[tuple[int, frozenset[StaffRole]], list[int]] = {}
    notices: list[Notice] = []
    for case in owing:
        kinds: list[tuple[str, frozenset[StaffRole]]] = []
        if case.state == CaseState.pending:
            kinds.append(("new", STAFF_AND_SUPERVISORS))
        # The new-case notice already names the contact deadline; this one is for 整改.
        due = cases.current_due(case)
        if case.state != CaseState.pending and due is not None and today <= due <= horizon:
            kinds.append(("due", STAFF))
        if cases.is_overdue(case, today):
            kinds.append(("overdue", STAFF_AND_SUPERVISORS))
        for kind, roles in kinds:
            if (case.id, kind) in sent:
                continue
            session.add(Notified(case_id=pk(case), kind=kind, sent_at=now))
            text = Msg(
                f"staff.notice.{kind}",
                {
                    "unit": unit_names.get(case.unit_id, ""),
                    "case": case.id,
                    "ref": cases.masked_reference(case),
                    "contact_due": str(case.contact_due),
                    "rectify_due": str(case.rectify_due),
                },
            )
            key = (case.unit_id, roles)
            if key not in recipients:
                recipients[key] = await _recipients(session, case.unit_id, set(roles))
            notices += [Notice(chat_id, text) for chat_id in recipients[key]]
    await session.flush()
    return notices


def _owing(today: date, horizon: date) -> SelectOfScalar[FollowUpCase]:
    """Open cases with a notice not recorded yet: new, 整改 due by ``horizon``, overdue."""
    state = col(FollowUpCase.state)
    pending = state == CaseState.pending.value

    def unsent(kind: str) -> ColumnElement[bool]:
        recorded = select(Notified.case_id).where(
            col(Notified.case_id) == col(FollowUpCase.id), Notified.kind == kind
        )
        return ~recorded.exists()

    rectify_due = col(FollowUpCase.rectify_due)
    return (
        select(FollowUpCase)
        .where(
            state.in_([s.value for s in cases.AWAITING_RECTIFY]),
            or_(
                pending & unsent("new"),
                ~pending & (rectify_due >= today) & (rectify_due <= horizon) & unsent("due"),
                cases.overdue_condition(today) & unsent("overdue"),
            ),
        )
        .order_by(col(FollowUpCase.id))
    )


NOTICE_KEYS = [N_("staff.notice.new"), N_("staff.notice.due"), N_("staff.notice.overdue")]
