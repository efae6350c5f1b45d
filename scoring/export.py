"""Exports of a :class:`ScoreReport`: XLSX (four sheets), CSV (one file per view), JSON.

Every export states the method (name, version, parameters), the period, ``computed_at``
and the input fingerprint. ``computed_at`` is an input of the export (the CLI's ``--at``,
default now): the same data, method and ``computed_at`` give byte-identical CSV and JSON.
Unit-level aggregates only: no export holds any personal data. Text cells a spreadsheet
could run as a formula (``= + - @``, their full-width forms, after any leading whitespace, or a
leading tab or carriage return) get a leading ``'`` (:mod:`surveys.core.spreadsheet`).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from scoring.compute import (
    COMBINED_INTERVAL,
    INTERVAL_METHODS,
    Estimate,
    HalfResult,
    Placing,
    YearResult,
)
from scoring.method import Method, Source
from scoring.models import Component
from scoring.service import ScoreReport
from surveys.accounts.models import UnitKind
from surveys.core.i18n import N_, Translator
from surveys.core.spreadsheet import safe_cell, safe_text

DIGITS = 2
KIND_ORDER = {kind.value: index for index, kind in enumerate(UnitKind)}
# Each 民意 source by its catalogue name (问卷调查, 好差评, 12345回访, 外部民意).
SOURCE_NAMES: dict[Source, str] = {
    Source.survey: N_("source.survey"),
    Source.rating: N_("source.rating"),
    Source.hotline: N_("source.hotline"),
    Source.outside: N_("source.outside"),
}
# Sources whose answers are clustered by person, so a design effect is stated.
CLUSTERED = (Source.survey,)
COMBINED = "合计"
COMBINED_CODE = "combined"
CSV_FILES = {
    "ranking": "ranking.csv",
    "components": "components.csv",
    "opinion": "opinion.csv",
    "method": "method.csv",
}
SHEETS = {"ranking": "排名", "components": "分项", "opinion": "民意明细", "method": "方法与参数"}
FORMATS = ("xlsx", "csv", "json")

Row = dict[str, Any]
HEADERS = {
    "period": "期间",
    "kind": "类别",
    "rank": "排名",
    "band": "名次区间",
    "unit_code": "单位编码",
    "unit_name": "单位名称",
    "score": "得分",
    "low": "区间下限",
    "high": "区间上限",
    "h1": "上半年",
    "h2": "下半年",
    "annual": "年度分",
    "half": "半年分",
    "source": "来源",
    "n": "有效样本",
    "small_sample": "样本不足",
    "raw": "未收缩得分",
    "missing": "缺失原因",
    "key": "项目",
    "value": "值",
    "fingerprint": "输入指纹",
    **{f"c_{c.name}": c.value for c in Component},
}


def source_name(source: Source) -> str:
    """The Chinese name of a source, from the message catalogue."""
    return Translator()(SOURCE_NAMES[source])


def _source_headers() -> dict[str, str]:
    """Chinese headers of the per-source columns (``hotline_score`` → 12345回访得分, …)."""
    t = Translator()
    found = {
        "group": t("source.col.group"),
        "source_code": t("source.col.source_code"),
        "weight": t("source.col.weight_only"),
        "design_effect": t("source.col.design_effect_only"),
        "opinion_score": t("source.col.opinion_score"),
        "opinion_low": t("source.col.opinion_low"),
        "opinion_high": t("source.col.opinion_high"),
        "opinion_n": t("source.col.opinion_n"),
    }
    for source in Source:
        name = source_name(source)
        found[f"{source.value}_score"] = t("source.col.score", source=name)
        found[f"{source.value}_low"] = t("source.col.low", source=name)
        found[f"{source.value}_high"] = t("source.col.high", source=name)
        found[f"{source.value}_n"] = t("source.col.n", source=name)
        found[f"{source.value}_weight"] = t("source.col.weight", source=name)
        if source in CLUSTERED:
            found[f"{source.value}_design_effect"] = t("source.col.design_effect", source=name)
    return found


HEADERS.update(_source_headers())


# Sources of one unit --------------------------------------------------------------------


@dataclass(frozen=True)
class SourceLine:
    """One 民意 source of one unit as every output shows it: its estimate (score, interval,
    n in people or 办件) and its share of the unit's 民意 score."""

    source: Source
    estimate: Estimate
    weight: float  # 0..1: the configured weight renormalised over the unit's sources

    @property
    def key(self) -> str:
        """The catalogue key of the source's name."""
        return SOURCE_NAMES[self.source]

    @property
    def name(self) -> str:
        return source_name(self.source)

    @property
    def percent(self) -> float:
        return self.weight * 100

    @property
    def design_effect(self) -> float | None:
        return self.estimate.design_effect if self.source in CLUSTERED else None


def unit_weights(
    sources: Iterable[Source], weights: Mapping[Source, float]
) -> dict[Source, float]:
    """The configured ``weights`` renormalised over ``sources`` (those a unit has), as
    :func:`scoring.compute.combine` uses them; a source weighted 0 gets 0."""
    present = set(sources)
    counted = [s for s in Source if s in present and weights.get(s, 0) > 0]
    total = math.fsum(weights[s] for s in counted)
    return {s: (weights[s] / total if s in counted else 0.0) for s in Source if s in present}


def source_lines(result: HalfResult, method: Method) -> tuple[SourceLine, ...]:
    """The sources ``result`` has, in the method's order, each with its weight for the unit."""
    shares = unit_weights(result.sources, method.source_weights)
    return tuple(
        SourceLine(source, result.sources[source], shares[source])
        for source in Source
        if source in result.sources
    )


def configured_sources(method: Method) -> list[tuple[Source, float, float]]:
    """Every source with its configured weight and its share when a unit has all of them."""
    shares = unit_weights(method.source_weights, method.source_weights)
    return [(s, method.source_weights.get(s, 0.0), shares.get(s, 0.0)) for s in Source]


def sources_text(method: Method) -> str:
    """The sources and their configured weights in words (the method block of every paper)."""
    t = Translator()
    parts = "、".join(
        t("source.weighted", source=source_name(s), weight=f"{w:g}", share=f"{share * 100:.2f}")
        for s, w, share in configured_sources(method)
    )
    return t("source.weights", sources=parts)


def interval_text(method: Method) -> str:
    """How the intervals are computed, in words, for the method block: each source's way
    (:data:`scoring.compute.INTERVAL_METHODS`), then the combined one."""
    t = Translator()
    ways = "；".join(f"{source_name(s)}：{INTERVAL_METHODS[s]}" for s in Source)
    level = f"{method.confidence * 100:g}"
    return t("source.interval", level=level, sources=ways, combined=COMBINED_INTERVAL)


def groups_text(method: Method) -> str:
    """The ranking groups in words: 旗县区和高新区（旗县区、高新区）；市直部门（市直部门）."""
    return "；".join(
        f"{name}（{'、'.join(kind.value for kind in kinds)}）"
        for name, kinds in method.ranking_groups.items()
    )


def group_order(method: Method) -> dict[str, int]:
    """The place of each ranking group as the method lists them (a kind alone goes after)."""
    order = {name: index for index, name in enumerate(method.ranking_groups)}
    for kind, index in KIND_ORDER.items():
        order.setdefault(kind, len(method.ranking_groups) + index)
    return order


def _num(value: float | None) -> float | None:
    return None if value is None else round(value, DIGITS)


def band_text(placing: Placing | None) -> str | None:
    if placing is None:
        return None
    best, worst = placing.band
    return str(best) if best == worst else f"{best}–{worst}"


def _sorter(report: ScoreReport) -> Callable[[Row], tuple[Any, ...]]:
    """Rows in order: period, ranking group as the method lists them, rank (unranked last),
    unit code."""
    groups = group_order(report.method)

    def key(row: Row) -> tuple[Any, ...]:
        rank = row.get("rank")
        return (
            row.get("period", ""),
            groups.get(row["group"], len(groups)),
            rank is None,
            rank or 0,
            row["unit_code"],
        )

    return key


def _interval(estimate: Estimate | None, prefix: str = "") -> Row:
    if estimate is None:
        return {f"{prefix}score": None, f"{prefix}low": None, f"{prefix}high": None}
    return {
        f"{prefix}score": _num(estimate.score),
        f"{prefix}low": _num(estimate.low),
        f"{prefix}high": _num(estimate.high),
    }


def _unit(result: HalfResult | YearResult) -> Row:
    return {
        "kind": result.unit.kind,
        "group": result.group,
        "unit_code": result.unit.code,
        "unit_name": result.unit.name,
    }


def source_columns(result: HalfResult, method: Method) -> Row:
    """The 民意 score, interval and n of ``result``, then for every source of the method
    (the same columns whether the unit has it or not): score, interval, n, weight in %."""
    raw = result.opinion_raw
    row: Row = {**_interval(result.opinion, "opinion_"), "opinion_n": raw.n if raw else 0}
    lines = {line.source: line for line in source_lines(result, method)}
    for source in Source:
        line = lines.get(source)
        row.update(_interval(line.estimate if line else None, f"{source.value}_"))
        row[f"{source.value}_n"] = line.estimate.n if line else None
        row[f"{source.value}_weight"] = _num(line.percent) if line else None
        if source in CLUSTERED:
            effect = line.design_effect if line else None
            row[f"{source.value}_design_effect"] = _num(effect)
    return row


# Views --------------------------------------------------------------------------------


def ranking_rows(report: ScoreReport) -> list[Row]:
    """One row per unit: the half-year score (or the annual one), its rank and band in its
    ranking group; a half-year's row also has the 民意 score and every source's columns."""
    rows: list[Row] = []
    if report.year is not None:
        for y in report.year:
            rank = y.placing.rank if y.placing else None
            h1, h2 = (_num(h.score) if h else None for h in y.halves)
            rows.append(
                {
                    **_unit(y),
                    "rank": rank,
                    "band": band_text(y.placing),
                    "h1": h1,
                    "h2": h2,
                    **_interval(y.annual),
                    "missing": "；".join(y.missing),
                }
            )
        return sorted(rows, key=_sorter(report))
    return _half_rows(
        report,
        lambda r: {
            "band": band_text(r.placing),
            **_interval(r.total),
            **source_columns(r, report.method),
        },
    )


def component_rows(report: ScoreReport) -> list[Row]:
    """Per half-year and unit: the four components and the weighted half-year score."""
    return _half_rows(
        report,
        lambda r: {
            **{f"c_{c.name}": _num(r.components[c]) for c in Component},
            "half": _num(r.total.score) if r.total else None,
        },
    )


def _half_rows(report: ScoreReport, columns: Callable[[HalfResult], Row]) -> list[Row]:
    """One row per half-year and unit, in rank order: period, unit and rank, ``columns``,
    then what is missing."""
    rows = [
        {
            "period": period,
            **_unit(r),
            "rank": r.placing.rank if r.placing else None,
            **columns(r),
            "missing": "；".join(r.missing),
        }
        for period, results in report.halves.items()
        for r in results
    ]
    return sorted(rows, key=_sorter(report))


def opinion_rows(report: ScoreReport) -> list[Row]:
    """Per half-year, unit and source: n, score, interval, weight for the unit (%) and the
    design effect where answers are clustered; then the combined score with the combined n."""
    rows = []
    for period, results in report.halves.items():
        for r in results:
            base = {"period": period, **_unit(r)}
            for line in source_lines(r, report.method):
                rows.append(
                    {
                        **base,
                        "source": line.name,
                        "source_code": line.source.value,
                        "n": line.estimate.n,
                        **_interval(line.estimate),
                        "weight": _num(line.percent),
                        "design_effect": _num(line.design_effect),
                    }
                )
            combined = r.opinion
            rows.append(
                {
                    **base,
                    "source": COMBINED,
                    "source_code": COMBINED_CODE,
                    "n": r.opinion_raw.n if r.opinion_raw else 0,
                    **_interval(combined),
                    "raw": _num(r.opinion_raw.score) if r.opinion_raw else None,
                    "small_sample": "是" if r.small_sample else "否",
                    "rank": r.opinion_placing.rank if r.opinion_placing else None,
                    "band": band_text(r.opinion_placing),
                }
            )
    order = {code: i for i, code in enumerate([*(s.value for s in Source), COMBINED_CODE])}
    unit_order = _sorter(report)
    return sorted(
        rows, key=lambda row: (*unit_order({**row, "rank": None}), order[row["source_code"]])
    )


def method_rows(report: ScoreReport) -> list[Row]:
    """Key/value rows: method, version, scope, computed_at, fingerprint, the sources with
    their weights, the interval method, the ranking groups, then every parameter."""
    method = report.method
    t = Translator()
    rows: list[Row] = [
        {"key": "方法名称", "value": method.name},
        {"key": "方法版本", "value": method.version},
        {"key": "所选方法", "value": method.method},
        {"key": "期间", "value": report.scope},
        {"key": "计算时间", "value": report.computed_at.isoformat(timespec="seconds")},
        {"key": "输入指纹", "value": report.fingerprint},
        {"key": t("source.key.sources"), "value": sources_text(method)},
        {"key": t("source.key.interval"), "value": interval_text(method)},
        {"key": t("source.key.groups"), "value": groups_text(method)},
    ]
    for key, value in _flatten("", method.parameters()):
        rows.append({"key": key, "value": value})
    return rows


def _flatten(prefix: str, value: Any) -> Iterable[tuple[str, str]]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _flatten(f"{prefix}.{key}" if prefix else str(key), inner)
    elif isinstance(value, list):
        yield prefix, json.dumps(value, ensure_ascii=False)
    else:
        yield (
            prefix,
            json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value,
        )


VIEWS = {
    "ranking": ranking_rows,
    "components": component_rows,
    "opinion": opinion_rows,
    "method": method_rows,
}


def _columns(rows: Sequence[Row]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


# Writers ------------------------------------------------------------------------------


def to_json(report: ScoreReport) -> bytes:
    """The whole report as canonical JSON (sorted keys, UTF-8, newline at the end)."""
    document = {
        "method": {
            "name": report.method.name,
            "version": report.method.version,
            "selected": report.method.method,
            "parameters": report.method.parameters(),
            "sources": [
                {
                    "source": s.value,
                    "name": source_name(s),
                    "weight": w,
                    "share": _num(share * 100),
                }
                for s, w, share in configured_sources(report.method)
            ],
            "interval": interval_text(report.method),
            "ranking_groups": groups_text(report.method),
        },
        "scope": report.scope,
        "periods": list(report.periods),
        "computed_at": report.computed_at.isoformat(timespec="seconds"),
        "fingerprint": report.fingerprint,
        **{name: view(report) for name, view in VIEWS.items() if name != "method"},
    }
    text = json.dumps(document, ensure_ascii=False, sort_keys=True, indent=1)
    return (text + "\n").encode()


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{DIGITS}f}"
    return safe_text(value) if isinstance(value, str) else str(value)


def to_csv(rows: Sequence[Row], *, fingerprint: str) -> bytes:
    """One view as CSV (UTF-8 with BOM for Excel); each row names the input fingerprint."""
    columns = _columns(rows) + ["fingerprint"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([HEADERS[c] for c in columns])
    for row in rows:
        writer.writerow([_cell_text({**row, "fingerprint": fingerprint}.get(c)) for c in columns])
    return buffer.getvalue().encode("utf-8-sig")


def write_table(path: Path, rows: Sequence[Sequence[str]]) -> None:
    """Plain rows (a template) to .csv or .xlsx, text cells made formula-safe."""
    if path.suffix.lower() == ".xlsx":
        from openpyxl import Workbook  # type: ignore[import-untyped]

        workbook = Workbook()
        sheet = workbook.active
        assert sheet is not None
        for row in rows:
            sheet.append([safe_text(cell) for cell in row])
        workbook.save(path)
        return
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(
        [[safe_text(cell) for cell in row] for row in rows]
    )
    path.write_bytes(buffer.getvalue().encode("utf-8-sig"))


def write_xlsx(path: Path | IO[bytes], report: ScoreReport) -> None:
    """The four views as sheets 排名, 分项, 民意明细, 方法与参数."""
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.remove(workbook.worksheets[0])
    workbook.properties.created = report.computed_at.replace(tzinfo=None)
    for name, view in VIEWS.items():
        rows = view(report)
        sheet = workbook.create_sheet(SHEETS[name])
        columns = _columns(rows)
        sheet.append([HEADERS[c] for c in columns])
        for row in rows:
            sheet.append([safe_cell(row.get(c)) for c in columns])
    workbook.save(path)


@dataclass(frozen=True)
class Download:
    name: str
    media_type: str
    body: bytes


MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def download(report: ScoreReport, fmt: str) -> Download:
    """One file to download: the workbook, the ranking as CSV, or the whole report as JSON."""
    if fmt == "json":
        body = to_json(report)
    elif fmt == "csv":
        body = to_csv(ranking_rows(report), fingerprint=report.fingerprint)
    elif fmt == "xlsx":
        buffer = io.BytesIO()
        write_xlsx(buffer, report)
        body = buffer.getvalue()
    else:
        raise ValueError(f"unknown export format {fmt!r}")
    return Download(f"scores_{report.scope}.{fmt}", MEDIA_TYPES[fmt], body)


def write_exports(report: ScoreReport, out_dir: Path, formats: Iterable[str]) -> list[Path]:
    """Write the chosen formats into ``out_dir``; the paths written, in a stable order."""
    out_dir.mkdir(parents=True, exist_ok=True)
    chosen = set(formats)
    written = []
    if "xlsx" in chosen:
        path = out_dir / f"scores_{report.scope}.xlsx"
        write_xlsx(path, report)
        written.append(path)
    if "csv" in chosen:
        for name, view in VIEWS.items():
            path = out_dir / CSV_FILES[name].replace(".csv", f"_{report.scope}.csv")
            path.write_bytes(to_csv(view(report), fingerprint=report.fingerprint))
            written.append(path)
    if "json" in chosen:
        path = out_dir / f"scores_{report.scope}.json"
        path.write_bytes(to_json(report))
        written.append(path)
    return written
