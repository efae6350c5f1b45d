"""The 通报 (seed 004: 考评结果全市通报): the ranking of each ranking group (the method's
``ranking_groups``: 旗县区和高新区, 市直部门) circulated to the whole city, for a half-year or for
the year, issued as an official paper.

Every number is the score report's, as the score export gives it: a half-year's 半年分, rank,
band and four components; a year's 年度分 = (上半年 + 下半年) / 2 with its rank and band, both
halves, and each component as the mean of its two halves (so the components still add up
to the 年度分 with the method's weights). Each group is followed by its units' 民意 sources
(per half-year: score, interval, n, the weight for the unit, the survey's design effect, and
the combined 民意 with its n). The paper around it (issuing body, 文号, date, seal) comes
from the settings.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from sqlmodel.ext.asyncio.session import AsyncSession

from scoring import service
from scoring.compute import Estimate, HalfResult, UnitRef, YearResult
from scoring.export import (
    DIGITS,
    HEADERS,
    SourceLine,
    band_text,
    group_order,
    interval_text,
    source_lines,
    sources_text,
)
from scoring.models import Component
from scoring.periods import check_period, halves
from surveys.accounts.access import Actor, Perm
from surveys.core.i18n import N_, Label, Msg, Translator
from surveys.core.periods import chinese_date, period_label
from surveys.core.settings import Settings
from surveys.core.spreadsheet import safe_cell

FORMATS = ("pdf", "xlsx", "html")


@dataclass(frozen=True)
class CircularLine:
    """One unit in the ranking of its kind."""

    unit: UnitRef
    rank: int | None
    band: str | None
    score: float | None  # 半年分, or 年度分
    components: tuple[float | None, ...]  # in the order of Component
    halves: tuple[float | None, float | None] | None  # 上半年, 下半年 (a year's only)
    notes: tuple[Label, ...]


@dataclass(frozen=True)
class UnitSources:
    """One unit's 民意 of one half-year: each source it has, and the combined score."""

    unit: UnitRef
    period: str  # 2026年上半年
    lines: tuple[SourceLine, ...]
    combined: Estimate | None


@dataclass(frozen=True)
class CircularGroup:
    name: str  # the ranking group: 旗县区和高新区
    lines: tuple[CircularLine, ...]
    sources: tuple[UnitSources, ...] = ()


@dataclass(frozen=True)
class Letterhead:
    """What makes the ranking a paper: who issues it, its 文号, date, title and seal."""

    issuer: str
    number: str
    issued_on: date
    title: str
    seal: str

    @property
    def issued(self) -> str:
        return chinese_date(self.issued_on)


@dataclass(frozen=True)
class Circular:
    scope: str  # 2026H2 or 2026
    annual: bool
    label: str  # 2026年下半年, 2026年度
    paper: Letterhead
    weights: tuple[tuple[Component, float], ...]
    groups: tuple[CircularGroup, ...]
    method: str
    min_sample: int
    fingerprint: str
    computed_at: datetime
    sources_text: str = ""  # the sources with their configured weights, in words
    interval_text: str = ""
    confidence: float = 0.95

    @property
    def level(self) -> str:
        return f"{self.confidence * 100:g}"

    @property
    def lines(self) -> list[CircularLine]:
        return [line for group in self.groups for line in group.lines]

    @property
    def file_stem(self) -> str:
        return f"circular_{self.scope}"


# From a score report -------------------------------------------------------------------


def _sequence(scope: str) -> int:
    """The 文号's {seq}: 1 for the first half-year, 2 for the second, 3 for the year."""
    return 3 if len(scope) == 4 else int(scope[-1])


def letterhead(settings: Settings, scope: str, issued_on: date) -> Letterhead:
    """The paper of ``scope`` issued on ``issued_on`` by the office of the settings."""
    year = scope[:4]
    number = settings.circular_number.format(year=year, seq=_sequence(scope))
    t = Translator()
    title = t("circular.title", period=period_label(scope))
    return Letterhead(settings.feedback_issuer, number, issued_on, title, settings.feedback_seal)


def _half_notes(result: HalfResult, min_sample: int) -> tuple[Label, ...]:
    found: list[Label] = []
    if result.small_sample and result.total is not None:
        n = result.opinion_raw.n if result.opinion_raw else 0
        found.append(Msg(N_("scoring.note.small_sample"), {"n": n, "min": min_sample}))
    found.extend(result.missing)
    return tuple(found)


def _half_line(result: HalfResult, min_sample: int) -> CircularLine:
    return CircularLine(
        unit=result.unit,
        rank=result.placing.rank if result.placing else None,
        band=band_text(result.placing),
        score=result.total.score if result.total else None,
        components=tuple(result.components.get(c) for c in Component),
        halves=None,
        notes=_half_notes(result, min_sample),
    )


def _mean(first: float | None, second: float | None) -> float | None:
    return None if first is None or second is None else (first + second) / 2


def _year_line(result: YearResult, by_half: Sequence[dict[str, HalfResult]]) -> CircularLine:
    parts = [h.get(result.unit.code) for h in by_half]
    components = tuple(
        _mean(*(p.components.get(c) if p else None for p in parts)) for c in Component
    )
    h1, h2 = (h.score if h else None for h in result.halves)
    return CircularLine(
        unit=result.unit,
        rank=result.placing.rank if result.placing else None,
        band=band_text(result.placing),
        score=result.annual.score if result.annual else None,
        components=components,
        halves=(h1, h2),
        notes=tuple(result.missing),
    )


def _rank_order(result: HalfResult | YearResult) -> tuple[bool, int, str]:
    placing = result.placing
    return (placing is None, placing.rank if placing else 0, result.unit.code)


def _unit_sources(report: service.ScoreReport, units: list[UnitRef]) -> tuple[UnitSources, ...]:
    """The 民意 sources of ``units`` in each half-year of the report, unit by unit."""
    by_half = {p: {r.unit.code: r for r in report.halves[p]} for p in report.periods}
    found = []
    for unit in units:
        for period in report.periods:
            result = by_half[period].get(unit.code)
            if result is not None:
                lines = source_lines(result, report.method)
                label = period_label(period)
                found.append(UnitSources(unit, label, lines, result.opinion_raw))
    return tuple(found)


def _groups(
    report: service.ScoreReport, lines: list[tuple[HalfResult | YearResult, CircularLine]]
) -> tuple[CircularGroup, ...]:
    """Each ranking group in the method's order, its units in rank order, then their sources."""
    found: dict[str, list[CircularLine]] = {}
    for result, line in sorted(lines, key=lambda pair: _rank_order(pair[0])):
        found.setdefault(result.group, []).append(line)
    order = group_order(report.method)
    ordered = sorted(found.items(), key=lambda item: order.get(item[0], len(order)))
    return tuple(
        CircularGroup(name, tuple(group), _unit_sources(report, [line.unit for line in group]))
        for name, group in ordered
    )


def from_report(report: service.ScoreReport, paper: Letterhead) -> Circular:
    """The 通报 of a half-year's or a year's report, each group's units in rank order."""
    method = report.method
    pairs: list[tuple[HalfResult | YearResult, CircularLine]]
    if report.year is not None:
        by_half = [{r.unit.code: r for r in report.halves[p]} for p in report.periods]
        pairs = [(y, _year_line(y, by_half)) for y in report.year]
    else:
        rows = report.halves[report.scope]
        pairs = [(r, _half_line(r, method.min_sample)) for r in rows]
    return Circular(
        scope=report.scope,
        annual=report.year is not None,
        label=period_label(report.scope),
        paper=paper,
        weights=tuple((c, method.components[c]) for c in Component),
        groups=_groups(report, pairs),
        method=f"{method.name} {method.version}",
        min_sample=method.min_sample,
        fingerprint=report.fingerprint,
        computed_at=report.computed_at,
        sources_text=sources_text(method),
        interval_text=interval_text(method),
        confidence=method.confidence,
    )


def scope_of(setup: service.Setup, period: str | None, year: str | None) -> str:
    """The year asked for, else the half-year asked for, else the current half-year."""
    if year is not None:
        halves(year)  # refuses a year that is not four digits
        return year
    return check_period(service.default_period(setup, period))


async def circular_for(
    *, session: AsyncSession, actor: Actor, setup: service.Setup, settings: Settings,
    period: str | None = None, year: str | None = None,
) -> Circular:  # fmt: skip
    """The 通报 of a half-year (default: the current one) or of a year, issued today
    (``setup.today``); the scores are those of the cached report of the same inputs."""
    actor.require(Perm.manage)
    scope = scope_of(setup, period, year)
    stamp = await service.input_stamp(session)
    annual = len(scope) == 4
    report = await service.cached_scope(
        session=session, setup=setup, stamp=stamp,
        period=None if annual else scope, year=scope if annual else None,
    )  # fmt: skip
    return from_report(report, letterhead(settings, scope, setup.today))


# XLSX ---------------------------------------------------------------------------------

SHEET = "{label}通报"
TITLE_ROWS = 3  # title, 文号 and issuer, blank; then the header


def headers(circular: Circular, t: Callable[..., str]) -> list[str]:
    """The columns of the ranking: rank, band, ranking group, kind, unit, score, (halves),
    components."""
    weights = [f"{c.value}（{w * 100:g}%）" for c, w in circular.weights]
    score = t("circular.annual") if circular.annual else t("circular.half")
    halves_ = [t("circular.h1"), t("circular.h2")] if circular.annual else []
    return [
        t("circular.rank"), t("circular.band"), t("source.col.group"), t("circular.kind"),
        t("circular.unit"), score, *halves_, *weights, t("circular.notes"),
    ]  # fmt: skip


def _number(value: float | None) -> float | None:
    return None if value is None else round(value, DIGITS)


def table_rows(circular: Circular, label: Callable[[Label], str]) -> list[list[Any]]:
    """One row per unit, groups in order, each in rank order: the cells as numbers or text."""
    rows = []
    for group in circular.groups:
        for line in group.lines:
            rows.append(_table_row(group.name, line, label))
    return rows


def _table_row(group: str, line: CircularLine, label: Callable[[Label], str]) -> list[Any]:
    halves_ = [_number(h) for h in line.halves] if line.halves is not None else []
    return [
        line.rank,
        line.band,
        group,
        line.unit.kind,
        line.unit.name,
        _number(line.score),
        *halves_,
        *(_number(c) for c in line.components),
        "；".join(label(note) for note in line.notes),
    ]


def source_headers(circular: Circular, t: Callable[..., str]) -> list[str]:
    """The columns of the 民意 sources sheet."""
    return [
        t("source.col.group"), t("source.table.unit"), t("source.table.period"),
        t("source.table.source"), t("source.table.score"), HEADERS["low"], HEADERS["high"],
        t("source.table.n"), t("source.col.weight_only"), t("source.col.design_effect_only"),
    ]  # fmt: skip


def source_rows(circular: Circular, t: Callable[..., str]) -> list[list[Any]]:
    """Per group, unit and half-year: each source, then the combined 民意 (weight 100%)."""
    rows: list[list[Any]] = []
    for group in circular.groups:
        for block in group.sources:
            start = [group.name, block.unit.name, block.period]
            for line in block.lines:
                e = line.estimate
                rows.append(
                    [*start, t(line.key), _number(e.score), _number(e.low), _number(e.high),
                     e.n, _number(line.percent), _number(line.design_effect)]
                )  # fmt: skip
            c = block.combined
            if c is not None:
                rows.append(
                    [*start, t("source.combined"), _number(c.score), _number(c.low),
                     _number(c.high), c.n, 100.0, None]
                )  # fmt: skip
    return rows


WIDTHS = {0: 7, 1: 10, 2: 16, 3: 10, 4: 22}  # by column; scores 12, notes 40
SOURCE_WIDTHS = {0: 16, 1: 22, 2: 14, 3: 16}  # by column; numbers 11


def write_xlsx(target: Path | IO[bytes], circular: Circular) -> None:
    """The ranking sheet (the title and 文号 above a frozen Chinese header, widths set), and
    the sheet of the units' 民意 sources."""
    from openpyxl import Workbook  # type: ignore[import-untyped]
    from openpyxl.styles import Alignment, Font  # type: ignore[import-untyped]
    from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]

    t = Translator()
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = SHEET.format(label=circular.label)
    workbook.properties.created = circular.computed_at.replace(tzinfo=None)
    header = headers(circular, t)
    paper = circular.paper
    sheet.append([safe_cell(paper.title)])
    sheet.append([safe_cell(f"{paper.number}　{paper.issuer}　{paper.issued}")])
    sheet.append([])
    sheet.append(header)
    for row in table_rows(circular, t.label):
        sheet.append([safe_cell(cell) for cell in row])
    sheet.append([])
    sheet.append([safe_cell(t("circular.source", method=circular.method))])
    sheet.append([safe_cell(circular.sources_text)])
    sheet.append([safe_cell(circular.interval_text)])
    sheet.append([safe_cell(t("circular.fingerprint", fingerprint=circular.fingerprint))])
    sheet["A1"].font = Font(bold=True, size=14)
    for cell in sheet[TITLE_ROWS + 1]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(horizontal="center", wrap_text=True)
    for index in range(len(header)):
        width = WIDTHS.get(index, 40 if index == len(header) - 1 else 13)
        sheet.column_dimensions[get_column_letter(index + 1)].width = width
    sheet.freeze_panes = f"A{TITLE_ROWS + 2}"
    _sources_sheet(workbook, circular, t)
    workbook.save(target)


def _sources_sheet(workbook: Any, circular: Circular, t: Translator) -> None:
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    sheet = workbook.create_sheet(t("source.sheet"))
    header = source_headers(circular, t)
    sheet.append(header)
    for row in source_rows(circular, t):
        sheet.append([safe_cell(cell) for cell in row])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for index in range(len(header)):
        width = SOURCE_WIDTHS.get(index, 11)
        sheet.column_dimensions[get_column_letter(index + 1)].width = width
    sheet.freeze_panes = "A2"


def xlsx_bytes(circular: Circular) -> bytes:
    buffer = io.BytesIO()
    write_xlsx(buffer, circular)
    return buffer.getvalue()
