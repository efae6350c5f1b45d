"""``minyi demo activity``: a year of activity and the imported components, so the console
and ``minyi score`` show a full ranking on a fresh install, and the 差评 loop of that year worked
by the units' demo staff (:mod:`scoring.demo.cases`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from scoring import monitoring
from scoring.demo import cases as demo_cases
from scoring.demo import generate as demo_data
from scoring.demo import hotline as demo_hotline
from scoring.demo import outside as demo_outside
from surveys.cases import workdays


@dataclass(frozen=True)
class DemoScores:
    ratings: int
    responses: int
    imports: int
    cases: int
    staff: int = 0  # demo staff accounts created
    visits: int = 0  # 12345 回访 records added


async def load(
    *, session: AsyncSession, today: date, now: datetime, tz: ZoneInfo,
    policy: workdays.DeadlinePolicy, seed: int = demo_data.DEFAULT_SEED,
    rerating_days: int = demo_cases.RERATING_DAYS,
) -> DemoScores:  # fmt: skip
    """Demo ratings and answers, monitoring imports, the demo staff and the year's 差评 cases as
    of ``now``; reruns add nothing."""
    activity = await demo_data.load_demo_activity(session=session, today=today, seed=seed)
    imports = await _import_monitoring(session, today, now)
    await demo_outside.load_outside(session=session, today=today, now=now, seed=seed)
    opened = await demo_cases.load_cases(
        session=session, now=now, tz=tz, policy=policy, appeals=activity.appeals, seed=seed,
        rerating_days=rerating_days,
    )  # fmt: skip
    visits = await demo_hotline.load_hotline(
        session=session, today=today, now=now, tz=tz, policy=policy, seed=seed
    )
    return DemoScores(
        activity.ratings, activity.responses, imports, opened.cases, opened.staff, visits
    )


async def _import_monitoring(session: AsyncSession, today: date, now: datetime) -> int:
    current = {
        (i.period, i.component)
        for i in await monitoring.list_imports(session=session)
        if i.superseded_at is None
    }
    imports = 0
    for path, period, component in demo_data.demo_monitoring_files(today):
        parsed = monitoring.parse_component(component)
        if (period, parsed) in current:
            continue
        await monitoring.import_monitoring_file(
            session=session, path=path, period=period, component=parsed, actor="demo", now=now
        )
        imports += 1
    return imports
