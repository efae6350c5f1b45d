"""``minyi demo load`` beyond units and the survey: a half-year of activity and the imported
components, so the console and ``minyi score`` show a full ranking on a fresh install."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scoring import monitoring
from scoring.demo import generate as demo_data
from surveys.cases import service as cases
from surveys.cases import workdays
from surveys.haochaping.models import Rating

CASE_DAYS = 45  # 差评 of the last weeks get follow-up cases, as they would have in real use


@dataclass(frozen=True)
class DemoScores:
    ratings: int
    responses: int
    imports: int
    cases: int


async def load(
    *, session: AsyncSession, today: date, now: datetime, tz: ZoneInfo,
    policy: workdays.DeadlinePolicy,
) -> DemoScores:  # fmt: skip
    """Demo ratings and answers, monitoring imports and recent 差评 cases; reruns add nothing."""
    activity = await demo_data.load_demo_activity(session=session, today=today)
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
    calendar = await workdays.load_calendar(session=session, tz=tz)
    since = now - timedelta(days=CASE_DAYS)
    recent = await session.exec(
        select(Rating).where(
            col(Rating.rated_at) >= since,
            col(Rating.level).in_(["dissatisfied", "very_dissatisfied"]),
        )
    )
    opened = 0
    for rating in recent.all():
        try:
            case = await cases.open_case(
                session=session, rating=rating, calendar=calendar, policy=policy
            )
        except workdays.CalendarNotCovered:
            break  # a year the calendar package does not know yet: no deadlines, no cases
        opened += case is not None
    return DemoScores(activity.ratings, activity.responses, imports, opened)
