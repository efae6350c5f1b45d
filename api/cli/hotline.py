"""``minyi hotline …`` and ``minyi import hotline``: 12345 回访 records (domain.md §6)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import FileArg, cli_actor, fail, in_transaction, reading
from surveys.accounts.access import Actor
from surveys.core.db import AsyncSession
from surveys.core.i18n import N_, Translator
from surveys.core.models import utcnow
from surveys.core.periods import PERIOD_RE
from surveys.core.settings import get_settings
from surveys.core.workbook import FORMATS
from surveys.flows import hotline as flows
from surveys.hotline import files, indicators

app = typer.Typer(
    help="12345 回访 (domain.md §6): the import template and the indicators per unit.",
    no_args_is_help=True,
)


def import_hotline(file: FileArg) -> None:
    """Import 12345 回访 records from .csv (UTF-8 or GBK) or .xlsx: every row, or none.

    A 不满意 opens a 差评 case (重办); 无法联系 after fewer than 3 calls or on fewer than 2
    working days is stored and flagged. ``minyi hotline template`` writes the file to fill.
    """
    settings = get_settings()

    async def store(session: AsyncSession) -> flows.Imported:
        return await flows.import_hotline(
            session=session, actor=await cli_actor(session), path=file, source=file.name,
            settings=settings, now=utcnow(),
        )  # fmt: skip

    imported = in_transaction(store)
    result = imported.result
    typer.echo(
        Translator()(
            N_("hotline.cli.imported"),
            created=len(result.created),
            duplicates=len(result.duplicates),
            flagged=len(result.flagged),
            retired=result.retired,
            opened=len(result.opened),
        )  # fmt: skip
    )


@app.command("template")
def template(
    out: Annotated[Path, typer.Argument(dir_okay=False, help="OUT.xlsx or OUT.csv")],
) -> None:
    """Write the 回访 import file to fill in: Chinese headers and one example row."""
    fmt = out.suffix.lower().removeprefix(".")
    if fmt not in FORMATS:
        fail(Translator()(N_("import.template.suffix"), file=str(out)))
    written = files.template_file("csv" if fmt == "csv" else "xlsx")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(written.body)
    typer.echo(Translator()(N_("hotline.cli.template_written"), file=str(out)))


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


@app.command("indicators")
def show_indicators(
    period: Annotated[str, typer.Option(help="Half-year, e.g. 2026H2")],
) -> None:
    """Each unit's 回访 in a half-year: counts, 回访率, 联系率, 解决率, 满意率, flagged."""
    if not PERIOD_RE.match(period):
        fail(f"--period {period!r}: write a half-year such as 2026H2")

    async def read(session: AsyncSession, actor: Actor) -> list[indicators.HotlineIndicators]:
        return await indicators.hotline_indicators(session=session, actor=actor, period=period)

    rows = reading(read)
    if not rows:
        typer.echo(Translator()(N_("hotline.cli.none"), period=period))
        return
    typer.echo("单位\t回访\t接通\t回访率\t联系率\t解决率\t满意率\t不满意\t呼叫不足")
    for row in rows:
        tally = row.tally
        typer.echo("\t".join([
            f"{row.unit_name}（{row.unit_code}）", str(tally.visits), str(tally.reached),
            _percent(row.reach_rate), _percent(row.contact_rate), _percent(row.resolve_rate),
            _percent(row.satisfied_rate), str(tally.dissatisfied), str(tally.short_attempts),
        ]))  # fmt: skip
