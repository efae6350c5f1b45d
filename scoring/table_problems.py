"""What the imported tables of the scoring (日常监测, 实地调研, 第三方评估 and outside 民意
results) share: where a problem is (file, sheet, spreadsheet row, column letter and name), the
refusal that lists every problem, and the checks of a row that do not depend on its columns.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from surveys.core import table_files
from surveys.core.exceptions import InvalidFile
from surveys.core.i18n import N_, Translator
from surveys.core.spreadsheet import QUOTE, starts_formula
from surveys.core.table_files import Header, column_letter

MAX_PROBLEMS = 100  # listed; the rest are counted
IGNORED = frozenset({"序号", "备注", "说明"})  # common in office tables; not imported

Problem = tuple[int, int, str]  # (spreadsheet row or 0, column index or -1, sentence)


@dataclass(frozen=True)
class Place:
    """Says where a problem is: file, sheet, row, column."""

    source: str
    sheet: str | None
    names: Sequence[str] = ()

    def where(self, t: Translator, row: int = 0, column: int = -1) -> str:
        file = table_files.file_name(self.source)
        place = t(N_("import.where.sheet"), file=file, sheet=self.sheet) if self.sheet else file
        if not row:
            return place
        if column < 0:
            return t(N_("import.where.row"), place=place, row=row)
        letter = column_letter(column)
        name = self.names[column] if column < len(self.names) else ""
        if not name:
            return t(N_("import.where.column"), place=place, row=row, letter=letter)
        return t(N_("import.where.cell"), place=place, row=row, letter=letter, column=name)

    def refuse(self, t: Translator, problems: Sequence[Problem]) -> InvalidFile:
        ordered = sorted(problems, key=lambda p: (p[0], p[1]))
        lines = [
            t(N_("import.where.problem"), where=self.where(t, row, column), problem=text)
            for row, column, text in ordered[:MAX_PROBLEMS]
        ]
        if len(ordered) > MAX_PROBLEMS:
            lines.append(t(N_("import.more_problems"), count=len(ordered) - MAX_PROBLEMS,
                           shown=MAX_PROBLEMS))  # fmt: skip
        return InvalidFile(self.source, lines)


def read_columns(
    header: Header, known: frozenset[str], unknown: str, t: Translator
) -> tuple[dict[str, int], list[Problem], list[Problem]]:
    """Each known column's (first) index by name, the header's problems that stop reading (a
    column twice) and the other ones (a column not in ``known``, said with the key
    ``unknown``); :data:`IGNORED` and unnamed columns are passed over."""
    row = header.row
    stop: list[Problem] = []
    other: list[Problem] = []
    seen: dict[str, int] = {}
    for index, name in enumerate(header.names):
        if not name or name in IGNORED:
            continue
        if name not in known:
            other.append((row, index, t(unknown, column=name)))
        elif name in seen:
            stop.append((row, index, t(N_("import.monitoring.column_twice"), column=name,
                                       letter=column_letter(seen[name]))))  # fmt: skip
        seen.setdefault(name, index)
    return seen, stop, other


@dataclass
class Rows:
    """The data rows of one file: a cell by its column's name, and the problems found."""

    header: Header
    t: Translator
    seen: dict[str, int] = field(default_factory=dict, kw_only=True)  # unit code: first row
    problems: list[Problem] = field(default_factory=list, kw_only=True)

    def index(self, name: str) -> int:
        return self.header.names.index(name) if name in self.header.names else -1

    def cell(self, cells: Sequence[str], name: str) -> str:
        at = self.index(name)
        return cells[at] if 0 <= at < len(cells) else ""

    def extra(self, row: int, cells: Sequence[str]) -> None:
        """A problem for a filled cell right of the header's last column."""
        width = len(self.header.names)
        beyond = [i for i in range(width, len(cells)) if cells[i] != ""]
        if beyond:
            problem = self.t(N_("import.monitoring.extra_cells"), letter=column_letter(width - 1))
            self.problems.append((row, beyond[0], problem))


def stored_name(name: str) -> str:
    """A unit's name as stored: our template writes a name a spreadsheet could run as a
    formula with an apostrophe."""
    return name[1:] if name.startswith(QUOTE) and starts_formula(name[1:]) else name


def rows_digest(rows: Sequence[Sequence[object]]) -> str:
    """The SHA-256 of rows given without a file (the demo, a test)."""
    canonical = json.dumps([[str(c) for c in row] for row in rows], ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def found_at(header: Header, sheet: str | None, t: Translator) -> tuple[str, str]:
    """Where an import's header was found, to tell the person: the sheet (in a sentence, or
    empty) and the header's rows (``3`` or ``2–3``)."""
    rows = (f"{header.first}–{header.row}" if header.first != header.row
            else str(header.row))  # fmt: skip
    place = t(N_("import.monitoring.in_sheet"), sheet=sheet) if sheet else ""
    return place, rows
