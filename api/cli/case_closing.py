"""``minyi case close`` and ``minyi case close-unrerated``: how a case ends without 复评.

``close`` is a supervisor's 结案 with a note; ``close-unrerated`` closes, as on a given day,
the 已反馈 cases past their 复评 window (已关闭（未复评）) or whose citizen erased their
contact (已关闭（无法联系）), as the scheduler does by itself. Both are flows
(:mod:`surveys.flows.case_closing`), run as the acting account and audited.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

from api.cli.common import cli_actor, fail, in_transaction
from surveys.cases import closing, queries
from surveys.core.clock import today
from surveys.core.db import AsyncSession
from surveys.core.models import utcnow
from surveys.core.settings import get_settings
from surveys.flows import case_closing as closing_flows


def case_close(
    case_id: Annotated[int, typer.Argument(metavar="ID")],
    note: Annotated[
        str | None, typer.Option(help="Why the case is closed (required; kept on its timeline)")
    ] = None,
) -> None:
    """结案: close an open case as a supervisor, whatever its state, with a note."""

    async def close(session: AsyncSession) -> str:
        done = await closing_flows.close(
            session=session, actor=await cli_actor(session), case_id=case_id, note=note
        )
        return f"case #{case_id}: {done.event.from_state} → {closing.state_label(done.case)}"

    typer.echo(in_transaction(close))


def _day(text: str | None) -> date:
    if text is None:
        return today(get_settings().tz)
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"--today {text!r}: use a date such as 2026-12-20")


def case_close_unrerated(
    on: Annotated[
        str | None,
        typer.Option("--today", metavar="DAY", help="Close as on this day (default: today)"),
    ] = None,
) -> None:
    """Close the 已反馈 cases left without 复评 on DAY and list them: past the 复评 window
    (CASE_RERATING_DAYS working days) as 已关闭（未复评）, citizen gone as 已关闭（无法联系）."""
    day = _day(on)
    settings = get_settings()

    async def sweep(session: AsyncSession) -> list[str]:
        actor = await cli_actor(session)
        done = await closing_flows.close_unrerated(
            session=session, actor=actor, settings=settings, today=day, now=utcnow()
        )
        rows = await queries.case_rows(session, actor, [case.id for case in done if case.id], day)
        labels = {case.id: closing.state_label(case) for case in done}
        return [f"#{row.id}\t{row.unit_code}\t{labels[row.id]}\t{row.reference}" for row in rows]

    lines = in_transaction(sweep)
    typer.echo(f"{len(lines)} case(s) closed without 复评 on {day}")
    for line in lines:
        typer.echo(line)


def register(app: typer.Typer) -> None:
    """Add these commands to ``minyi case``."""
    app.command("close")(case_close)
    app.command("close-unrerated")(case_close_unrerated)
