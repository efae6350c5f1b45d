"""12345 回访 files (.csv, UTF-8 with or without BOM or GBK; .xlsx) and their template.

The header names the columns in Chinese (:data:`COLUMNS`); a title may stand above it. Each
call is two columns, 第N次回访时间 and 第N次回访结果 (N = 1 … :data:`ATTEMPT_COLUMNS`). Times
without an offset are local time (Asia/Shanghai by default). Problems name the row and the
column as the file spells it (``第 5 行 是否满意 列：…``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from surveys.core import table_files
from surveys.core.exceptions import InvalidFile
from surveys.core.i18n import N_, Translator
from surveys.core.workbook import MEDIA_TYPES, TableFormat, TableWriter
from surveys.hotline.visits import Problem

ATTEMPT_COLUMNS = 5  # calls a file may list; the template shows the 3 of the rule
TEMPLATE_ATTEMPTS = 3
COLUMNS: dict[str, str] = {
    "工单号": "ticket_no",
    "单位编码": "unit",
    "回访轮次": "round",
    "事项名称": "item_name",
    "事项编码": "item_code",
    "办结时间": "finished_at",
    "回访结果": "outcome",
    "是否联系": "contacted",
    "是否解决": "resolved",
    "是否满意": "satisfaction",
}
for _n in range(1, ATTEMPT_COLUMNS + 1):
    COLUMNS[f"第{_n}次回访时间"] = f"attempts.{_n - 1}.at"
    COLUMNS[f"第{_n}次回访结果"] = f"attempts.{_n - 1}.outcome"
REQUIRED = ("工单号", "单位编码", "事项名称", "办结时间", "第1次回访时间", "第1次回访结果")
COLUMN_OF = {name: column for column, name in COLUMNS.items()}
LIMITS = table_files.TableLimits(rows=100_001, columns=50)
_SLASH_DATE = re.compile(r"^(\d{4})[/-](\d{1,2})[/-](\d{1,2})")
_SHORT_HOUR = re.compile(r"(?<=[ T])(\d):")
TEMPLATE_ROW: dict[str, str] = {
    "工单号": "BT12345202611200001",
    "单位编码": "spj",
    "回访轮次": "1",
    "事项名称": "企业开办咨询",
    "事项编码": "11150200MB0001",
    "办结时间": "2026-11-20 16:30",
    "第1次回访时间": "2026-11-23 09:10",
    "第1次回访结果": "无人接听",
    "第2次回访时间": "2026-11-23 15:40",
    "第2次回访结果": "接通",
    "回访结果": "已接通",
    "是否联系": "是",
    "是否解决": "是",
    "是否满意": "满意",
}


@cache
def _translator() -> Translator:
    return Translator()


@dataclass(frozen=True)
class HotlineFile:
    """The records of a file, each with its spreadsheet row, and the header's row."""

    rows: list[dict[str, object]]
    numbers: list[int]
    header_row: int

    def locate(self, problem: Problem) -> str:
        """A problem as ``第 N 行 列名 列：…`` (the column as the file names it)."""
        t = _translator()
        row = self.numbers[problem.index]
        column = _column(problem.field)
        if column:
            return t(N_("ratingsimport.where.cell"), row=row, column=column,
                     problem=problem.message)  # fmt: skip
        return t(N_("ratingsimport.where.row"), row=row, problem=problem.message)


def _column(field: str) -> str:
    if field in COLUMN_OF:
        return COLUMN_OF[field]
    parts = field.split(".")
    if parts[0] == "attempts" and len(parts) >= 2:
        return COLUMN_OF.get(".".join(parts[:3]), COLUMN_OF.get(f"attempts.{parts[1]}.at", ""))
    return COLUMN_OF.get(parts[0], "")


def read_hotline_file(path: Path, *, name: str | None = None) -> HotlineFile:
    """The records of a 回访 file, ready for :func:`surveys.hotline.visits.ingest_visits`;
    a file that cannot be read as one (its type, header or a call half filled) is refused
    with every problem (:class:`InvalidFile` naming ``name``, by default ``path``)."""
    source = name or str(path)
    table = _table(path, source)
    header = _header(source, table)
    rows, numbers, problems = [], [], []
    for number, cells in enumerate(table[header.row :], start=header.row + 1):
        if all(cell == "" for cell in cells):
            continue
        row, found = _record(number, header.names, cells)
        rows.append(row)
        numbers.append(number)
        problems += found
    if problems:
        raise InvalidFile(source, problems)
    if not rows:
        t = _translator()
        file = table_files.file_name(source)
        raise InvalidFile(source, [t(N_("hotline.file.no_rows"), file=file, row=header.row)])
    return HotlineFile(rows, numbers, header.row)


def _table(path: Path, source: str) -> list[list[table_files.Cell]]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return [list[table_files.Cell](row) for row in table_files.read_csv(source, path, LIMITS)]
    if suffix == ".xlsx":
        return table_files.read_xlsx(source, path, LIMITS)
    t = _translator()
    shown = suffix or t(N_("ratingsimport.no_suffix"))
    problem = t(N_("import.table.file_type"), file=table_files.file_name(source), suffix=shown)
    raise InvalidFile(source, [problem])


def _header(source: str, table: Sequence[Sequence[table_files.Cell]]) -> table_files.Header:
    t = _translator()
    header = table_files.find_header(table, COLUMNS)
    if header is None:
        file = table_files.file_name(source)
        if not any(cell != "" for cells in table for cell in cells):
            raise InvalidFile(source, [t(N_("ratingsimport.empty"), file=file)])
        problem = t(N_("hotline.file.no_header"), file=file, rows=table_files.HEADER_SCAN,
                    required="、".join(REQUIRED))  # fmt: skip
        raise InvalidFile(source, [problem])
    named = [name for name in header.names if name]
    problems = []
    unknown = [name for name in named if name not in COLUMNS]
    if unknown:
        problems.append(t(N_("ratingsimport.unknown_columns"), columns="、".join(unknown),
                          known="、".join(COLUMNS)))  # fmt: skip
    missing = [name for name in REQUIRED if name not in named]
    if missing:
        problems.append(t(N_("ratingsimport.missing_columns"), columns="、".join(missing)))
    twice = sorted({name for name in named if named.count(name) > 1})
    if twice:
        problems.append(t(N_("ratingsimport.columns_twice"), columns="、".join(twice)))
    if problems:
        where = N_("ratingsimport.where.row")
        raise InvalidFile(source, [t(where, row=header.row, problem=p) for p in problems])
    return header


def _record(
    number: int, names: Sequence[str], cells: Sequence[table_files.Cell]
) -> tuple[dict[str, object], list[str]]:
    t = _translator()
    values = {n: c for n, c in zip(names, cells, strict=False) if n and c != ""}
    row: dict[str, object] = {}
    attempts: dict[int, dict[str, object]] = {}
    for column, value in values.items():
        path = COLUMNS[column].split(".")
        if path[0] == "attempts":
            attempts.setdefault(int(path[1]), {})[path[2]] = _time(value, path[2])
        else:
            row[path[0]] = _time(value, path[0])
    problems = []
    for index in sorted(attempts):
        call = attempts[index]
        if len(call) < 2:
            missing = f"第{index + 1}次回访{'结果' if 'at' in call else '时间'}"
            message = t(N_("hotline.file.attempt_pair"), number=index + 1)
            where = N_("ratingsimport.where.cell")
            problems.append(t(where, row=number, column=missing, problem=message))
    if attempts:
        row["attempts"] = [attempts[i] for i in sorted(attempts)]
    return row, problems


def _time(value: table_files.Cell, field: str) -> object:
    # Spreadsheet users write 2026/11/20 9:30 as often as 2026-11-20 09:30.
    if field in ("at", "finished_at") and isinstance(value, str):
        text = _SLASH_DATE.sub(lambda m: f"{m[1]}-{int(m[2]):02d}-{int(m[3]):02d}", value)
        return _SHORT_HOUR.sub(lambda m: f"0{m[1]}:", text)
    return value


@dataclass(frozen=True)
class TemplateFile:
    name: str
    media_type: str
    body: bytes


def template_file(fmt: TableFormat) -> TemplateFile:
    """An empty 回访 file to fill in: the Chinese headers (3 calls) and one example row."""
    headers = [c for c in COLUMNS if not _beyond_template(c)]
    widths = [max(10, len(c) * 2 + 4) for c in headers]
    writer = TableWriter(fmt, sheet="12345回访", headers=headers, widths=widths)
    with writer:
        writer.append([TEMPLATE_ROW.get(column, "") for column in headers])
    body = writer.finish()
    return TemplateFile(f"12345回访导入模板.{fmt}", MEDIA_TYPES[fmt], body)


def _beyond_template(column: str) -> bool:
    match = re.match(r"^第(\d+)次", column)
    return match is not None and int(match.group(1)) > TEMPLATE_ATTEMPTS
