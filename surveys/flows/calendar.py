"""The flow that sets a working-day override (国务院 notice: 法定节假日 or 调休上班), audited."""

from __future__ import annotations

from datetime import date

from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts import audit
from surveys.accounts.access import Actor, Perm
from surveys.cases import workdays
from surveys.cases.models import CalendarOverride
from surveys.flows.registry import Adapter, flow


@flow("calendar.set", perm=Perm.manage, adapters=frozenset({Adapter.cli}))
async def set_calendar_day(
    *, session: AsyncSession, actor: Actor, day: date, workday: bool, source: str
) -> CalendarOverride:
    """Whether ``day`` is a working day, replacing an earlier setting of that day.

    The audit row names the day and the choice; the notice's text stays on the override.
    """
    row = await workdays.set_override(session=session, day=day, workday=workday, source=source)
    await audit.record(
        session=session, actor=actor, action="calendar.set", target=str(row.day), workday=workday
    )
    return row
