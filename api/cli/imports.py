"""``minyi import …``: 好差评 ratings, monitoring scores and their templates from other systems."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import (
    FileArg,
    cli_actor,
    fail,
    in_transaction,
    reading_actor,
    report_import,
)
from api.cli.hotline import import_hotline
from api.cli.outside import OUTSIDE, import_outside, write_template
from scoring import flows as scoring_flows
from scoring import monitoring, monitoring_template
from scoring.models import IMPORTED_COMPONENTS, Component, ImportLayout
from surveys.core.db import AsyncSession
from surveys.core.exceptions import DomainError
from surveys.core.i18n import N_, Translator
from surveys.core.models import utcnow
from surveys.core.settings import get_settings
from surveys.core.table_files import MB, TableLimits
from surveys.flows import imports as import_flows
from surveys.haochaping import imports as ratings_imports
from surveys.haochaping.imports import Progress, Received

app = typer.Typer(help="Imports from other systems.", no_args_is_help=True)
app.command("outside")(import_outside)
app.command("hotline")(import_hotline)


@app.command("ratings")
def import_ratings(
    file: FileArg,
    max_rows: Annotated[
        int | None,
        typer.Option(min=2, help="Rows this file may have, the header included (default 200000)"),
    ] = None,
    max_mb: Annotated[
        int | None, typer.Option(min=1, help="MB this file may have (default 64)")
    ] = None,
) -> None:
    """Import 好差评 ratings from .csv or .xlsx: every row is stored, or none.

    The file is read and stored in chunks (memory stays flat), in one transaction; a
    progress bar shows on a terminal. ``--max-rows`` and ``--max-mb`` raise the limits of
    an upload for one big file imported on the server.
    """
    settings = get_settings()
    limits = _ratings_limits(max_rows, max_mb)

    async def receive(session: AsyncSession, progress: Progress | None) -> Received:
        actor = await cli_actor(session)
        return await import_flows.import_ratings(
            session=session,
            actor=actor,
            path=file,
            source=file.name,
            settings=settings,
            now=utcnow(),
            limits=limits,
            progress=progress,
        )

    with _progress_bar(file.name) as progress:
        received = in_transaction(lambda session: receive(session, progress))
    result = received.result
    typer.echo(
        f"{len(result.created)} rating(s) imported, {len(result.duplicates)} already imported "
        f"(skipped), {len(received.opened)} 差评 follow-up case(s) opened"
    )
    if result.header_row > 1:
        t = Translator()
        typer.echo(t(N_("ratingsimport.header_row"), row=result.header_row,
                     above=result.header_row - 1))  # fmt: skip


def _ratings_limits(max_rows: int | None, max_mb: int | None) -> TableLimits:
    limits = ratings_imports.LIMITS
    if max_rows is not None:
        limits = replace(limits, rows=max_rows)
    if max_mb is not None:
        size = max_mb * MB  # an .xlsx unpacks to about 4 times its size
        limits = replace(
            limits, file_bytes=size, unpacked_bytes=max(limits.unpacked_bytes, 4 * size)
        )
    return limits


@contextmanager
def _progress_bar(name: str) -> Iterator[Progress | None]:
    """A progress bar on stderr when it is a terminal (nothing in a pipe or a log)."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
               TextColumn("{task.fields[rows]:,} rows"), TimeElapsedColumn())  # fmt: skip
    with Bar(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(name, total=1.0, rows=0)

        def show(rows: int, fraction: float | None) -> None:
            bar.update(task, completed=fraction or 0.0, rows=rows)

        yield show


class ImportedComponent(StrEnum):
    monitoring = Component.monitoring.value
    field = Component.field.value
    third_party = Component.third_party.value


@app.command("monitoring")
def import_monitoring(
    file: FileArg,
    period: Annotated[str, typer.Option(help="Half-year, e.g. 2026H1")],
    component: Annotated[ImportedComponent, typer.Option(help="日常监测, 实地调研 or 第三方评估")],
    force: Annotated[
        bool, typer.Option(help="Import a half-year outside two years back .. the next one")
    ] = False,
) -> None:
    """Import 日常监测/实地调研/第三方评估 scores (.csv/.xlsx): every row is stored, or none.

    A refused file is audited (its name and the number of problems) and stores nothing else.
    """
    chosen = Component(component.value)
    settings = get_settings()

    async def store(session: AsyncSession) -> monitoring.Imported | DomainError:
        try:
            return await scoring_flows.import_monitoring(
                session=session, actor=await cli_actor(session), file_name=str(file),
                content=file, period=period, component=chosen, now=utcnow(), tz=settings.tz,
                force=force,
            )  # fmt: skip
        except scoring_flows.REFUSALS as exc:
            return exc  # returned, so that the refusal's audit row is committed

    report_import(file, in_transaction(store))


@app.command("template")
def import_template(
    out: Annotated[
        Path, typer.Argument(dir_okay=False, help="OUT.xlsx or OUT.csv; or `outside [OUT]`")
    ],
    outside_out: Annotated[
        Path | None, typer.Argument(dir_okay=False, help="After `outside`: OUT.xlsx or OUT.csv")
    ] = None,
    by: Annotated[ImportLayout, typer.Option(help="area: seven area columns; total: 总分")] = (
        ImportLayout.area
    ),
    component: Annotated[
        ImportedComponent | None, typer.Option(help="Names the sheet (日常监测, …)")
    ] = None,
) -> None:
    """Write an empty import file with every active unit, to fill in and import: each column
    with its maximum, a named sheet with frozen panes and cells that take only 0..maximum.

    ``minyi import template outside [OUT]`` writes the outside 民意 template instead (单位,
    得分, 样本量; default 外部民意导入模板.xlsx)."""
    if str(out) == OUTSIDE:
        write_template(outside_out)
        return
    if outside_out is not None:
        fail(Translator()(N_("outside.template.extra_argument"), file=str(outside_out)))
    fmt = out.suffix.lower().removeprefix(".")
    if fmt not in monitoring_template.FORMATS:
        fail(Translator()(N_("import.template.suffix"), file=str(out)))
    chosen = Component(component.value) if component is not None else None

    async def template(session: AsyncSession) -> monitoring_template.TemplateFile:
        await reading_actor(session)
        return await monitoring_template.template_download(
            session=session, layout=by, component=chosen, fmt=fmt
        )

    file = in_transaction(template)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(file.body)
    typer.echo(Translator()(N_("import.template.written"), file=str(out), count=file.units))


assert {c.value for c in ImportedComponent} == {c.value for c in IMPORTED_COMPONENTS}
