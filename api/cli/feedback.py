"""``minyi feedback``: each unit's 评估情况反馈单 as PDF and printable HTML."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import cli_actor, in_transaction
from api.cli.scoring import _setup
from scoring import feedback_sheet, flows
from surveys.core.db import AsyncSession
from surveys.core.settings import get_settings


def feedback(
    period: Annotated[str, typer.Option(help="Half-year, e.g. 2026H1")],
    out: Annotated[Path, typer.Option(file_okay=False, help="Folder for the files")],
    unit: Annotated[
        list[str] | None, typer.Option(help="Unit code (repeat); default every active unit")
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(help="As of this time (ISO, e.g. 2026-12-01T09:00+08:00); default now"),
    ] = None,
) -> None:
    """Write each unit's 评估情况反馈单 as PDF and printable HTML (each one audited)."""
    from api.console.feedback import printable, render_pdf

    setup = _setup(at)
    settings = get_settings()

    async def build(session: AsyncSession) -> list[feedback_sheet.FeedbackSheet]:
        actor = await cli_actor(session)
        codes = await feedback_sheet.sheet_units(
            session=session, actor=actor, unit_codes=unit or ()
        )
        return [
            await flows.export_feedback(
                session=session, actor=actor, unit_code=code, period=period, setup=setup
            )
            for code in codes
        ]

    sheets = in_transaction(build)
    out.mkdir(parents=True, exist_ok=True)
    for sheet in sheets:
        html = printable(sheet, settings)
        stem = out / f"feedback_{sheet.unit.code}_{sheet.period}"
        stem.with_suffix(".html").write_text(html, "utf-8")
        stem.with_suffix(".pdf").write_bytes(render_pdf(html))
        typer.echo(f"wrote {stem}.pdf")
