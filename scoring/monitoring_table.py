"""Checking a monitoring table (日常监测, 实地调研, 第三方评估) against the units.

The header is found among the first rows (a title or a note may stand above it; it may have
two levels, the areas under a merged cell; a note in brackets such as （满分 25） is read
past). It names 单位编码, 单位名称 and either the seven areas (each 0..the area's points; a
总分 beside them must be their sum) or 总分 (0..100); 序号 and 备注 columns are left aside.
Then one row per active unit. Every problem is one Chinese sentence from the catalogue naming
the file, the sheet, the spreadsheet row and the column (letter and name).
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from scoring.models import ImportLayout
from scoring.table_problems import Place, Problem, Rows, read_columns, stored_name
from surveys.accounts.models import Unit
from surveys.core import table_files
from surveys.core.exceptions import InvalidFile
from surveys.core.i18n import N_, Translator
from surveys.core.table_files import Header
from surveys.questionnaire.definitions import AREAS

CODE_COLUMN = "单位编码"
NAME_COLUMN = "单位名称"
TOTAL_COLUMN = "总分"
TOTAL_MAX = 100
# Other names offices give these columns.
ALIASES = {"单位代码": CODE_COLUMN, "合计": TOTAL_COLUMN, "总得分": TOTAL_COLUMN}
KNOWN = frozenset({CODE_COLUMN, NAME_COLUMN, TOTAL_COLUMN, *AREAS})
SUM_TOLERANCE = 0.05  # a 总分 beside the areas may be their sum rounded to 0.1


def header_for(layout: ImportLayout) -> list[str]:
    scores = list(AREAS) if layout is ImportLayout.area else [TOTAL_COLUMN]
    return [CODE_COLUMN, NAME_COLUMN, *scores]


def column_max(column: str) -> int:
    return AREAS.get(column, TOTAL_MAX)


def layout_text(layout: ImportLayout, t: Translator) -> str:
    """按领域 or 按总分."""
    if layout == ImportLayout.area:  # a stored layout may come back as its text
        return t(N_("import.monitoring.layout_area"))
    return t(N_("import.monitoring.layout_total"))


@dataclass
class Checked:
    """A validated file: its layout, header and, per unit code, the score per area (None =
    total)."""

    layout: ImportLayout
    header: Header
    scores: dict[str, dict[str | None, float]] = field(default_factory=dict)


def _canonical(name: str) -> str:
    return ALIASES.get(name, name)


def _layout(
    header: Header, t: Translator
) -> tuple[ImportLayout | None, list[Problem], list[Problem]]:
    """The layout, the problems of the header that stop reading, and the other ones."""
    row = header.row
    seen, stop, other = read_columns(header, KNOWN, N_("import.monitoring.unknown_column"), t)
    has_areas = any(area in seen for area in AREAS)
    layout = ImportLayout.area if has_areas else ImportLayout.total
    if has_areas:
        missing = [name for name in header_for(layout) if name not in seen]
    else:
        missing = [name for name in (CODE_COLUMN, NAME_COLUMN) if name not in seen]
        if TOTAL_COLUMN not in seen:
            stop.append((row, -1, t(N_("import.monitoring.no_scores"), areas="、".join(AREAS))))
    if missing:
        stop.append((row, -1, t(N_("import.monitoring.missing_columns"),
                                columns="、".join(missing))))  # fmt: skip
    return (None if stop else layout), stop, other


def _number(text: str, column: str, t: Translator) -> tuple[float | None, str]:
    cleaned = unicodedata.normalize("NFKC", text).strip()
    if cleaned == "":
        return None, t(N_("import.monitoring.missing_score"), max=column_max(column))
    try:
        value = float(cleaned)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        return None, t(N_("import.monitoring.not_a_number"), text=text, max=column_max(column))
    if value < 0:
        return None, t(N_("import.monitoring.below_zero"), text=cleaned)
    if value > column_max(column):
        return None, t(N_("import.monitoring.above_max"), text=cleaned, column=column,
                       max=column_max(column))  # fmt: skip
    return value, ""


@dataclass
class _Rows(Rows):
    """Checks the data rows of one file against the units."""

    layout: ImportLayout
    units: dict[str, Unit]

    def unit(self, row: int, cells: Sequence[str]) -> Unit | None:
        t, code, at = self.t, self.cell(cells, CODE_COLUMN), self.index(CODE_COLUMN)
        unit = self.units.get(code)
        if not code:
            self.problems.append((row, at, t(N_("import.monitoring.missing_code"))))
            return None
        if unit is None:
            self.problems.append((row, at, t(N_("import.monitoring.unknown_unit"), code=code)))
            return None
        found: list[Problem] = []
        if not unit.active:
            found.append((row, at, t(N_("import.monitoring.inactive_unit"), code=code,
                                     name=unit.name)))  # fmt: skip
        if code in self.seen:
            found.append((row, at, t(N_("import.monitoring.unit_twice"), code=code,
                                     line=self.seen[code])))  # fmt: skip
        self.seen.setdefault(code, row)
        name = stored_name(self.cell(cells, NAME_COLUMN))
        if name and name != unit.name:
            found.append((row, self.index(NAME_COLUMN), t(N_("import.monitoring.name_mismatch"),
                          name=name, code=code, stored=unit.name)))  # fmt: skip
        self.problems += found
        return None if found else unit

    def scores(self, row: int, cells: Sequence[str]) -> dict[str | None, float] | None:
        columns = header_for(self.layout)[2:]
        if all(self.cell(cells, column) == "" for column in columns):
            self.problems.append((row, -1, self.t(N_("import.monitoring.row_unfilled"))))
            return None
        scores: dict[str | None, float] = {}
        for column in columns:
            value, message = _number(self.cell(cells, column), column, self.t)
            if message:
                self.problems.append((row, self.index(column), message))
            elif value is not None:
                scores[None if self.layout is ImportLayout.total else column] = value
        if len(scores) < len(columns):
            return None
        self._check_sum(row, cells, scores)
        return scores

    def _check_sum(self, row: int, cells: Sequence[str], scores: dict[str | None, float]) -> None:
        if self.layout is not ImportLayout.area or TOTAL_COLUMN not in self.header.names:
            return
        text = self.cell(cells, TOTAL_COLUMN)
        at, total = self.index(TOTAL_COLUMN), math.fsum(scores.values())
        value, message = _number(text, TOTAL_COLUMN, self.t) if text else (None, "")
        if message:
            self.problems.append((row, at, message))
        elif value is not None and abs(value - total) > SUM_TOLERANCE:
            self.problems.append((row, at, self.t(N_("import.monitoring.sum_mismatch"),
                                                  text=text, total=f"{total:g}")))  # fmt: skip


def _data_rows(table: Sequence[Sequence[str]], header: Header) -> list[tuple[int, list[str]]]:
    """(spreadsheet row, cells) of every filled row below the header."""
    return [
        (number, [cell.strip() for cell in cells])
        for number, cells in enumerate(table[header.row :], start=header.row + 1)
        if any(cell.strip() for cell in cells)
    ]


def _unfilled(rows: _Rows, data: Sequence[tuple[int, list[str]]]) -> bool:
    columns = header_for(rows.layout)[2:]
    return bool(data) and all(
        all(rows.cell(cells, column) == "" for column in columns) for _, cells in data
    )


def _columns_text(layout: ImportLayout, t: Translator) -> str:
    if layout is ImportLayout.total:
        return t(N_("import.monitoring.total_column"))
    names = list(AREAS)
    return t(N_("import.monitoring.area_columns"), first=names[0], last=names[-1])


def validate_table(
    table: Sequence[Sequence[str]], units: Sequence[Unit], *, source: str,
    sheet: str | None = None,
) -> Checked:  # fmt: skip
    """Check a whole file against the units; :class:`InvalidFile` lists every problem."""
    t = Translator()
    place = Place(source, sheet)
    if not any(any(str(cell).strip() for cell in row) for row in table):
        raise place.refuse(t, [(0, -1, t(N_("import.monitoring.empty")))])
    top = table[: table_files.HEADER_SCAN + 1]
    header = table_files.find_header(
        [[_canonical(table_files.header_name(cell)) for cell in row] for row in top],
        KNOWN, lower=AREAS,
    )  # fmt: skip
    if header is None:
        problem = t(N_("import.monitoring.no_header"), rows=table_files.HEADER_SCAN)
        raise place.refuse(t, [(0, -1, problem)])
    place = Place(source, sheet, header.names)
    layout, stop, other = _layout(header, t)
    if layout is None:
        raise place.refuse(t, stop + other)
    rows = _Rows(header, t, layout, {unit.code: unit for unit in units})
    data = _data_rows(table, header)
    if _unfilled(rows, data):
        # One sentence, not one per empty cell (a blank template has hundreds).
        problem = t(N_("import.monitoring.unfilled"), place=place.where(t), count=len(data),
                    columns=_columns_text(layout, t))  # fmt: skip
        raise InvalidFile(source, [problem])
    checked = Checked(layout, header)
    for number, cells in data:
        rows.extra(number, cells)
        unit = rows.unit(number, cells)
        scores = rows.scores(number, cells)
        if unit is not None and scores is not None:
            checked.scores[unit.code] = scores
    found = other + rows.problems
    if not data:
        found.append((header.row, -1, t(N_("import.monitoring.no_rows"))))
    absent = [f"{u.code} {u.name}" for u in units if u.active and u.code not in rows.seen]
    if absent and data:
        found.append((0, -1, t(N_("import.monitoring.missing_units"), count=len(absent),
                               units="、".join(absent))))  # fmt: skip
    if found:
        raise place.refuse(t, found)
    return checked
