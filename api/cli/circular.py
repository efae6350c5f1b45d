"""``minyi circular``: the 通报 of a half-year or a year as PDF, XLSX and printable HTML."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import cli_actor, fail, in_transaction
from api.cli.scoring import _setup
from scoring import circular, flows
from surveys.core.db import AsyncSession
from surveys.core.settings import get_settings


def _formats(text: str) -> list[str]:
    chosen = [part.strip().lower() for part in text.split(",") if part.strip()]
    if not chosen or any(part not in circular.FORMATS for part in chosen):
        fail(f"--format {text!r}: choose from {','.join(circular.FORMATS)}")
    return chosen


def circular_command(
    out: Annotated[Path, typer.Option(file_okay=False, help="Folder for the files")],
    period: Annotated[str | None, typer.Option(help="Half-year, e.g. 2026H2")] = None,
    year: Annotated[
        str | None, typer.Option(help="Year, e.g. 2026: 年度分 = mean of the halves")
    ] = None,
    format: Annotated[str, typer.Option("--format", help="Any of pdf,xlsx,html")] = "pdf,xlsx",
    at: Annotated[
        str | None, typer.Option(help="Date of issue and computed_at (ISO; default now)")
    ] = None,
) -> None:
    """Write the 通报 (every kind's ranking, issued as a paper) of a half-year or a year.

    One audit row per command, whatever the formats.
    """
    from api.console.circular import write_files

    if (period is None) == (year is None):
        fail("give exactly one of --period 2026H2 or --year 2026")
    formats = _formats(format)
    setup = _setup(at)
    settings = get_settings()

    async def build(session: AsyncSession) -> circular.Circular:
        return await flows.export_circular(
            session=session, actor=await cli_actor(session), formats=formats, setup=setup,
            settings=settings, period=period, year=year,
        )  # fmt: skip

    found = in_transaction(build)
    for path in write_files(found, out, formats):
        typer.echo(f"wrote {path}")
