"""The dashboard warns administrators ahead of a year the working-day calendar lacks: from that
day on a new 差评 cannot get its deadlines and is refused (surveys.cases.workdays)."""

from __future__ import annotations

from typing import Any

from surveys.accounts.access import StaffRole
from surveys.cases import workdays
from surveys.core.clock import today
from surveys.core.db import SessionMaker
from surveys.core.periods import chinese_date
from surveys.core.settings import Settings
from tests.api.console.conftest import OWN_UNIT, add_user


async def _dashboard(
    sessionmaker: SessionMaker, browser_for: Any, role: StaffRole, units: list[str]
) -> str:
    await add_user(sessionmaker, f"u-{role.value}", role, units)
    browser = await browser_for(f"u-{role.value}")
    response = await browser.get("/console/dashboard")
    assert response.status_code == 200
    return str(response.text)


async def test_an_administrator_is_warned_of_the_day_from_which_bad_ratings_are_refused(
    sessionmaker: SessionMaker, settings: Settings, browser_for: Any
) -> None:
    page = await _dashboard(sessionmaker, browser_for, StaffRole.admin, [])
    async with sessionmaker() as session:
        calendar = await workdays.load_calendar(session=session, tz=settings.tz)
    # What the page must say today, by the calendar the package and the database hold.
    gap = workdays.coming_gap(calendar, workdays.policy_from(settings), today(settings.tz))
    if gap is None:
        assert 'id="calendar-gap"' not in page
        return
    assert 'id="calendar-gap"' in page
    assert f"{gap.year}年的工作日安排尚未录入" in page
    assert f"自{chinese_date(gap.from_day)}起" in page
    assert "minyi calendar set" in page


async def test_unit_staff_who_cannot_set_the_calendar_are_not_warned(
    sessionmaker: SessionMaker, browser_for: Any
) -> None:
    page = await _dashboard(sessionmaker, browser_for, StaffRole.staff, [OWN_UNIT])
    assert 'id="calendar-gap"' not in page
