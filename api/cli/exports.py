"""``minyi export …``: staff downloads written to a file (each one audited).

``minyi export haochaping``: a half-year's ratings in the national/provincial 好差评 exchange
layout (:mod:`surveys.haochaping.national`), through
:func:`surveys.flows.exports.export_haochaping`.

``minyi export ledger``: the 差评 台账 for the console queue's filters, read by the queue's
own parser (:func:`api.console.cases.parse_queue`), so the file equals the console's
download for the same query; the flow (:func:`surveys.flows.exports.export_ledger`) checks
the acting account, builds the file and writes the audit row.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Annotated
from urllib.parse import parse_qsl

import typer

from api.cli.common import acting, fail
from surveys.core.clock import today
from surveys.core.periods import PERIOD_RE
from surveys.core.settings import get_settings
from surveys.core.workbook import FORMATS, TableFormat
from surveys.flows import exports
from surveys.haochaping.national import NATIONAL_FORMATS, NationalFormat

app = typer.Typer(
    help="Staff downloads written to a file (each one audited).", no_args_is_help=True
)


def _format(out: Path, given: str | None) -> TableFormat:  # noqa: RET503 (fail exits)
    chosen = (given or out.suffix.lstrip(".") or "xlsx").lower()
    for fmt in FORMATS:
        if chosen == fmt:
            return fmt
    fail(f"--format {chosen!r}: choose from {', '.join(FORMATS)}")


@app.command("ledger")
def ledger(
    out: Annotated[Path, typer.Option(dir_okay=False, help="File to write (.xlsx or .csv)")],
    unit: Annotated[str | None, typer.Option(help="Only this unit's cases (its code)")] = None,
    state: Annotated[
        str | None, typer.Option(help="Only cases in this state, e.g. 整改中")
    ] = None,
    overdue: Annotated[
        str | None, typer.Option(help="yes: only overdue cases; no: only cases on time")
    ] = None,
    opened_from: Annotated[str | None, typer.Option(help="Opened on/after YYYY-MM-DD")] = None,
    opened_to: Annotated[str | None, typer.Option(help="Opened on/before YYYY-MM-DD")] = None,
    query: Annotated[
        str | None,
        typer.Option(
            help="Any of the console queue's filters as its query string, e.g. "
            "'state=整改中&overdue=yes' (options given win)"
        ),
    ] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="xlsx or csv (default: from --out)")
    ] = None,
) -> None:
    """Write the 差评 台账 (the case queue's cases for its filters) as XLSX or CSV."""
    from api.console.cases import parse_queue

    raw: dict[str, str] = defaultdict(str)
    raw.update((key, value.strip()) for key, value in parse_qsl(query or ""))
    given = {"unit": unit, "state": state, "overdue": overdue, "opened_from": opened_from,
             "opened_to": opened_to}  # fmt: skip
    raw.update((key, value.strip()) for key, value in given.items() if value is not None)
    parsed = parse_queue(raw)
    if parsed.errors:
        fail("；".join(parsed.errors))
    chosen = _format(out, fmt)
    settings = get_settings()
    file = acting(
        lambda session, actor: exports.export_ledger(
            session=session,
            actor=actor,
            filters=parsed.filters,
            fmt=chosen,
            on=today(settings.tz),
            tz=settings.tz,
        )  # fmt: skip
    )
    out.write_bytes(file.body)
    typer.echo(f"wrote {out}")


@app.command("haochaping")
def haochaping(
    period: Annotated[str, typer.Option(help="Half-year, e.g. 2026H2")],
    layout: Annotated[
        str, typer.Option("--format", help="Layout: national (the 好差评 exchange interface)")
    ] = "national",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "--output",
            dir_okay=False,
            help="File to write, .json or .csv (default: haochaping-PERIOD-national.json here)",
        ),
    ] = None,
    file_type: Annotated[
        str | None, typer.Option("--type", help="json or csv (default: from --out, else json)")
    ] = None,
) -> None:
    """Write a half-year's 好差评 ratings in the national exchange layout (JSON or CSV)."""
    if layout != "national":
        fail(f"--format {layout!r}: the only layout is national")
    if not PERIOD_RE.match(period):
        fail(f"--period {period!r}: a half-year such as 2026H2")
    chosen = _national_type(out, file_type)
    settings = get_settings()
    file = acting(
        lambda session, actor: exports.export_haochaping(
            session=session, actor=actor, period=period, fmt=chosen, tz=settings.tz
        )
    )
    target = out or Path(file.name)
    target.write_bytes(file.body)
    typer.echo(f"wrote {target}")


def _national_type(out: Path | None, given: str | None) -> NationalFormat:  # noqa: RET503
    suffix = out.suffix.lstrip(".") if out is not None else ""
    chosen = (given or suffix or "json").lower()
    for fmt in NATIONAL_FORMATS:
        if chosen == fmt:
            return fmt
    fail(f"--type {chosen!r}: choose from {', '.join(NATIONAL_FORMATS)}")
