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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from scoring.compute import Estimate, HalfResult, Placing, YearResult
from scoring.method import Source
from scoring.models import Component
from scoring.service import ScoreReport
from surveys.accounts.models import UnitKind
from surveys.core.spreadsheet import safe_cell, safe_text

DIGITS = 2
KIND_ORDER = {kind.value: index for index, kind in enumerate(UnitKind)}
SOURCE_LABELS = {Source.survey: "问卷", Source.rating: "好差评"}
COMBINED = "合计"
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


def _num(value: float | None) -> float | None:
    return None if value is None else round(value, DIGITS)


def band_text(placing: Placing | None) -> str | None:
    if placing is None:
        return None
    best, worst = placing.band
    return str(best) if best == worst else f"{best}–{worst}"


def _order(row: Row) -> tuple[Any, ...]:
    rank = row.get("rank")
    return (
        row.get("period", ""),
        KIND_ORDER.get(row["kind"], 9),
        rank is None,
        rank or 0,
        row["unit_code"],
    )


def _interval(estimate: Estimate | None) -> Row:
    if estimate is None:
        return {"score": None, "low": None, "high": None}
    return {"score": _num(estimate.score), "low": _num(estimate.low), "high": _num(estimate.high)}


def _unit(result: HalfResult | YearResult) -> Row:
    return {"kind": result.unit.kind, "unit_code": result.unit.code, "unit_name": result.unit.name}


# Views --------------------------------------------------------------------------------


def ranking_rows(report: ScoreReport) -> list[Row]:
    """One row per unit: the half-year score (or the annual one), its rank and band."""
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
        return sorted(rows, key=_order)
    return _half_rows(report, lambda r: {"band": band_text(r.placing), **_interval(r.total)})


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
    return sorted(rows, key=_order)


def opinion_rows(report: ScoreReport) -> list[Row]:
    """Per half-year, unit and source: n, score and interval; then the combined score."""
    rows = []
    for period, results in report.halves.items():
        for r in results:
            base = {"period": period, **_unit(r)}
            for source, estimate in r.sources.items():
                rows.append(
                    {
                        **base,
                        "source": SOURCE_LABELS[source],
                        "n": estimate.n,
                        **_interval(estimate),
                    }
                )
            combined = r.opinion
            rows.append(
                {
                    **base,
                    "source": COMBINED,
                    "n": r.opinion_raw.n if r.opinion_raw else 0,
                    **_interval(combined),
                    "raw": _num(r.opinion_raw.score) if r.opinion_raw else None,
                    "small_sample": "是" if r.small_sample else "否",
                    "rank": r.opinion_placing.rank if r.opinion_placing else None,
                    "band": band_text(r.opinion_placing),
                }
            )
    order = {label: i for i, label in enumerate([*SOURCE_LABELS.values(), COMBINED])}
    return sorted(rows, key=lambda row: (*_order({**row, "rank": None}), order[row["source"]]))


def method_rows(report: ScoreReport) -> list[Row]:
    """Key/value rows: method, version, scope, computed_at, fingerprint, every parameter."""
    method = report.method
    rows: list[Row] = [
        {"key": "方法名称", "value": method.name},
        {"key": "方法版本", "value": method.version},
        {"key": "所选方法", "value": method.method},
        {"key": "期间", "value": report.scope},
        {"key": "计算时间", "value": report.computed_at.isoformat(timespec="seconds")},
        {"key": "输入指纹", "value": report.fingerprint},
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
