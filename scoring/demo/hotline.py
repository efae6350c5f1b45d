"""Demo 12345 回访 records: a few per unit and half-year, through the same ingestion as a file.

A unit's answers follow its demo quality (:func:`scoring.demo.generate.unit_quality`); about
one visit in ten is 无法联系, some of them after too few calls (flagged), and each 不满意
opens its 差评 case as an imported one would. Reruns add nothing (the same 工单号 and round
are duplicates).
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scoring.demo import generate as demo_data
from surveys.accounts.access import Actor, StaffRole
from surveys.accounts.models import Unit
from surveys.cases import workdays
from surveys.cases.models import CaseEvent, FollowUpCase
from surveys.core.periods import half_year
from surveys.haochaping.models import Rating
from surveys.hotline import visits
from surveys.hotline.models import VisitSource

PER_UNIT = 5  # visits per unit and half-year: about 350 for the 35 demo units
ITEMS = ("供暖不热", "噪音扰民", "道路破损", "营业执照办理咨询", "医保报销进度", "物业纠纷")
DEMO_ACTOR = Actor(name="demo", role=StaffRole.admin, units=None, address="cli")
# The demo's earlier half-year closed long ago: its records are loaded all the same.
GRACE_DAYS = 100_000
# A 不满意 only among the last weeks' visits: its case stays open (待核实) in the demo queue.
RECENT_DAYS = 40


def _rng(seed: int, *parts: object) -> random.Random:
    return random.Random(":".join(str(p) for p in (seed, "hotline", *parts)))


def _local(day: date, hour: int, minute: int, tz: ZoneInfo) -> str:
    return datetime.combine(day, time(hour, minute), tzinfo=tz).isoformat()


def _record(
    unit: Unit, period: str, n: int, finished: date, calendar: workdays.WorkCalendar,
    tz: ZoneInfo, seed: int, recent: bool,
) -> dict[str, Any]:  # fmt: skip
    rng = _rng(seed, unit.code, period, n)
    quality = demo_data.unit_quality(unit.code, seed)
    first, second = (calendar.add_working_days(finished, k) for k in (1, 2))
    row: dict[str, Any] = {
        "ticket_no": f"DEMO-{unit.code}-{period}-{n:03d}",
        "unit": unit.code,
        "item_name": rng.choice(ITEMS),
        "finished_at": _local(finished, rng.randrange(9, 17), rng.randrange(60), tz),
    }
    if rng.random() < 0.1:  # 无法联系; a third of them after too few calls
        days = [first, first, second] if rng.random() < 0.67 else [first, first]
        row["attempts"] = [
            {"at": _local(day, 9 + 3 * k, 0, tz), "outcome": "无人接听"}
            for k, day in enumerate(days)
        ]
        row["outcome"] = "无法联系"
        return row
    row["attempts"] = [{"at": _local(first, 10, rng.randrange(60), tz), "outcome": "接通"}]
    row["contacted"] = rng.random() < 0.75 + 0.2 * quality
    row["resolved"] = rng.random() < 0.6 + 0.35 * quality
    good = rng.random()
    row["satisfaction"] = (
        "满意" if good < 0.55 + 0.4 * quality else "基本满意" if good < 0.97 else "不满意"
    )
    if row["satisfaction"] == "不满意" and not recent:
        row["satisfaction"] = "基本满意"  # the demo's older 差评 cases are all worked and closed
    return row


async def load_hotline(
    *, session: AsyncSession, today: date, now: datetime, tz: ZoneInfo,
    policy: workdays.DeadlinePolicy, seed: int = demo_data.DEFAULT_SEED,
) -> int:  # fmt: skip
    """Store the demo 回访 of the previous and the current half-year; how many were new."""
    calendar = await workdays.load_calendar(session=session, tz=tz)
    units = (await session.exec(select(Unit).where(col(Unit.active)).order_by(Unit.code))).all()
    rows = []
    for period in demo_data.demo_periods(today):
        _, first, last = half_year(date(int(period[:4]), 1 if period.endswith("1") else 7, 1))
        # The calls, up to 2 working days later (a long holiday between), are all past.
        last = min(last, today - timedelta(days=14))
        if last < first:
            continue
        for unit in units:
            for n in range(PER_UNIT):
                day = first + timedelta(days=_rng(seed, unit.code, period, n, "day").randrange(
                    (last - first).days + 1))  # fmt: skip
                recent = day >= today - timedelta(days=RECENT_DAYS)
                rows.append(_record(unit, period, n, day, calendar, tz, seed, recent))
    result = await visits.ingest_visits(
        session=session, rows=rows, source=VisitSource.file, actor=DEMO_ACTOR, tz=tz, now=now,
        grace_days=GRACE_DAYS, policy=policy, locate=str, name="demo hotline",
    )  # fmt: skip
    await _opened_when_rated(session, result.opened)
    return len(result.created)


async def _opened_when_rated(session: AsyncSession, opened: list[FollowUpCase]) -> None:
    """The demo's cases open when their 不满意 was given, as demo ratings' cases do."""
    for case in opened:
        rating = await session.get_one(Rating, case.rating_id)
        case.opened_at = rating.rated_at
        events = await session.exec(select(CaseEvent).where(CaseEvent.case_id == case.id))
        for event in events:
            event.at = rating.rated_at
    await session.flush()
