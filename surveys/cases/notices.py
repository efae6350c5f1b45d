"""Staff notices about their units' cases: a new 差评, a 整改 deadline within a working day,
an overdue case; each sent once (the bot's chat with staff who linked it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.access import StaffRole
from surveys.accounts.models import StaffUnit, StaffUser, Unit
from surveys.cases import service as cases
from surveys.cases import workdays
from surveys.cases.models import CaseState, FollowUpCase, Notified
from surveys.core.i18n import N_, Msg
from surveys.core.models import pk


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

    Each is recorded as sent in the same transaction; staff see only masked references.
    """
    await cases.escalate_overdue(session=session, today=today, now=now)  # 督办
    sent = {(n.case_id, n.kind) for n in (await session.exec(select(Notified))).all()}
    notices: list[Notice] = []
    unit_names = {u.id: u.name for u in (await session.exec(select(Unit))).all()}
    open_cases = (await session.exec(select(FollowUpCase))).all()
    soon = {c.id for c in await cases.due_soon(session=session, calendar=calendar, today=today)}
    for case in open_cases:
        kinds = []
        if case.state == CaseState.pending:
            kinds.append(("new", {StaffRole.staff, StaffRole.supervisor}))
        # The new-case notice already names the contact deadline; this one is for 整改.
        if case.id in soon and case.state != CaseState.pending:
            kinds.append(("due", {StaffRole.staff}))
        if cases.is_overdue(case, today):
            kinds.append(("overdue", {StaffRole.staff, StaffRole.supervisor}))
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
            notices += [
                Notice(chat_id, text)
                for chat_id in await _recipients(session, case.unit_id, roles)
            ]
    await session.flush()
    return notices


NOTICE_KEYS = [N_("staff.notice.new"), N_("staff.notice.due"), N_("staff.notice.overdue")]
