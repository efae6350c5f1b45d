"""``minyi score``: every unit's scores, on screen and as exports."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from api.cli.common import SERVER_READER, cli_actor, fail, in_transaction, parse, reading_actor
from scoring import export, flows, service
from scoring.compute import Estimate, HalfResult, YearResult
from scoring.method import Method
from surveys.core.db import AsyncSession
from surveys.core.i18n import N_, Translator
from surveys.core.settings import get_settings

R = TypeVar("R", HalfResult, YearResult)


# minyi score ---------------------------------------------------------------------------


@contextmanager
def _progress() -> Iterator[service.Progress]:
    """A spinner with the current step on stderr, only when stderr is a terminal."""
    console = Console(stderr=True)
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
        console=console, transient=True, disable=not sys.stderr.isatty(),
    ) as bar:  # fmt: skip
        task = bar.add_task("scoring", total=None)
        yield lambda step: bar.update(task, description=step)


def _setup(at: str | None = None) -> service.Setup:
    """The method file and zone of the settings, and ``computed_at`` (``--at``, default now)."""
    settings = get_settings()
    moment = None
    if at is not None:
        try:
            moment = datetime.fromisoformat(at)
        except ValueError:
            fail(f"--at {at!r}: give an ISO time such as 2026-07-15T09:00:00+08:00")
        moment = moment if moment.tzinfo else moment.replace(tzinfo=settings.tz)
    return parse(lambda: service.setup(settings, moment))


def _formats(text: str) -> list[str]:
    chosen = [part.strip().lower() for part in text.split(",") if part.strip()]
    wrong = [part for part in chosen if part not in export.FORMATS]
    if wrong or not chosen:
        fail(f"--format {text!r}: choose from {','.join(export.FORMATS)}")
    return chosen


def _fmt(estimate: Estimate | None) -> str:
    if estimate is None:
        return "缺失"
    return f"{estimate.score:.2f} [{estimate.low:.2f}, {estimate.high:.2f}]"


def _half_line(r: HalfResult) -> str:
    rank = f"{r.placing.rank} ({export.band_text(r.placing)})" if r.placing else "-"
    opinion = _fmt(r.opinion) + f" n={r.opinion_raw.n if r.opinion_raw else 0}"
    flag = " 样本不足" if r.small_sample else ""
    missing = f"\t缺失：{'；'.join(r.missing)}" if r.missing else ""
    unit = f"{r.unit.code}\t{r.unit.name}"
    return f"{rank}\t{unit}\t半年分 {_fmt(r.total)}\t民意 {opinion}{flag}{missing}"


def _source_lines(r: HalfResult, method: Method) -> list[str]:
    """Under a unit's line: each 民意 source it has with its score, interval, n, weight for
    the unit and the survey's design effect."""
    t = Translator()
    lines = []
    for line in export.source_lines(r, method):
        effect = line.design_effect
        design = (
            "" if effect is None else " " + t(N_("source.design_effect"), value=f"{effect:.2f}")
        )
        weight = f"{t(N_('source.table.weight'))} {line.percent:.2f}%"
        lines.append(f"\t{t(line.key)} {_fmt(line.estimate)} n={line.estimate.n} {weight}{design}")
    return lines


def _year_line(y: YearResult) -> str:
    rank = f"{y.placing.rank} ({export.band_text(y.placing)})" if y.placing else "-"
    h1, h2 = (f"{h.score:.2f}" if h else "缺失" for h in y.halves)
    missing = f"\t缺失：{'；'.join(y.missing)}" if y.missing else ""
    unit = f"{y.unit.code}\t{y.unit.name}"
    return f"{rank}\t{unit}\t年度分 {_fmt(y.annual)}\t上半年 {h1}\t下半年 {h2}{missing}"


def _print(report: service.ScoreReport) -> None:
    method = report.method
    t = Translator()
    typer.echo(
        f"{report.scope}  method {method.name} {method.version} ({method.method}), "
        f"computed_at {report.computed_at.isoformat(timespec='seconds')}, "
        f"fingerprint {report.fingerprint[:16]}"
    )
    typer.echo(export.sources_text(method))
    typer.echo(export.interval_text(method))
    order = export.group_order(method)

    def grouped(rows: Sequence[R]) -> list[tuple[str, list[R]]]:
        names = sorted(
            {r.group for r in rows}, key=lambda name: (order.get(name, len(order)), name)
        )
        return [(name, [r for r in rows if r.group == name]) for name in names]

    def half_lines(r: HalfResult) -> str:
        return "\n".join([_half_line(r), *_source_lines(r, method)])

    groups: list[tuple[str, list[str]]] = []
    if report.year is not None:
        for name, years in grouped(report.year):
            title = f"{report.scope} {t(N_('source.group'), group=name)}"
            groups.append((title, _sorted_lines(years, _year_line)))
    else:
        for period, results in report.halves.items():
            for name, halves in grouped(results):
                title = f"{period} {t(N_('source.group'), group=name)}"
                groups.append((title, _sorted_lines(halves, half_lines)))
    for title, lines in groups:
        if lines:
            typer.echo(f"\n== {title} ==")
            typer.echo("\n".join(lines))


def _sorted_lines(rows: Sequence[R], line: Callable[[R], str]) -> list[str]:
    ordered = sorted(
        rows, key=lambda r: (r.placing is None, r.placing.rank if r.placing else 0, r.unit.code)
    )
    return [line(r) for r in ordered]


def score(
    period: Annotated[str | None, typer.Option(help="Half-year, e.g. 2026H1")] = None,
    year: Annotated[
        str | None, typer.Option(help="Year, e.g. 2026: both halves and 年度分")
    ] = None,
    out: Annotated[Path | None, typer.Option(file_okay=False, help="Write exports here")] = None,
    format: Annotated[
        str, typer.Option("--format", help="Any of xlsx,csv,json")
    ] = "xlsx,csv,json",
    at: Annotated[
        str | None, typer.Option(help="computed_at stated in the exports (ISO; default now)")
    ] = None,
) -> None:
    """Every active unit: 民意 (n, 95% interval), components, half-year or year score, rank."""
    if (period is None) == (year is None):
        fail("give exactly one of --period 2026H1 or --year 2026")
    formats = _formats(format)
    setup = _setup(at)

    async def run(session: AsyncSession) -> service.ScoreReport:
        with _progress() as step:
            if out is None:  # a read: the named account's, else the server's
                return await service.scores(
                    session=session, actor=await reading_actor(session) or SERVER_READER,
                    setup=setup, period=period, year=year, progress=step,
                )  # fmt: skip
            return await flows.export_scores(
                session=session, actor=await cli_actor(session), formats=formats, setup=setup,
                period=period, year=year, progress=step,
            )  # fmt: skip

    report = in_transaction(run)
    _print(report)
    if out is not None:
        for path in export.write_exports(report, out, formats):
            typer.echo(f"wrote {path}")
