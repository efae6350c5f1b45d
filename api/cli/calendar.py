"""``minyi calendar …``: working-day overrides from State Council notices (domain.md §4)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

from api.cli.common import cli_actor, fail, in_transaction, reading_actor
from surveys.cases import workdays
from surveys.cases.models import CalendarOverride
from surveys.core.db import AsyncSession
from surveys.flows import calendar as calendar_flows

app = typer.Typer(
    help="Working-day overrides from State Council notices (domain.md §4).", no_args_is_help=True
)

WEEKDAYS = "一二三四五六日"


@app.command("set")
def calendar_set(
    day: Annotated[str, typer.Argument(metavar="DATE", help="YYYY-MM-DD")],
    workday: Annotated[
        bool, typer.Option("--workday/--holiday", help="上班 (incl. 调休) or 休息 (法定节假日)")
    ],
    source: Annotated[str, typer.Option(help="The notice, e.g. 国办发明电〔2026〕N号")],
) -> None:
    """Set whether DATE is a working day, replacing an earlier setting of that day."""
    try:
        plain = date.fromisoformat(day)
    except ValueError:
        fail(f"DATE must look like 2027-01-01, got {day!r}")

    async def store(session: AsyncSession) -> None:
        actor = await cli_actor(session)
        await calendar_flows.set_calendar_day(
            session=session, actor=actor, day=plain, workday=workday, source=source
        )

    try:
        in_transaction(store)
    except ValueError as exc:
        fail(str(exc))
    typer.echo(f"{plain} 周{WEEKDAYS[plain.weekday()]}: {'上班' if workday else '休息'}")
    if not workdays.WorkCalendar().covers(plain.year):
        typer.echo(
            f"note: chinesecalendar has no {plain.year}; with an override in it, every other "
            f"day of {plain.year} counts Monday-Friday, so enter every day the notice names"
        )


@app.command("list")
def calendar_list(year: Annotated[int | None, typer.Option(help="Only this year")] = None) -> None:
    """Stored overrides by day: date, weekday, 上班/休息, source."""

    async def overrides(session: AsyncSession) -> list[CalendarOverride]:
        await reading_actor(session)
        return list(await workdays.list_overrides(session=session, year=year))

    rows = in_transaction(overrides)
    if not rows:
        typer.echo("no overrides")
    for row in rows:
        kind = "上班" if row.workday else "休息"
        typer.echo(f"{row.day}\t周{WEEKDAYS[row.day.weekday()]}\t{kind}\t{row.source}")
