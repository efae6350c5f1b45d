"""好差评 ratings from a CSV or XLSX file: a whole file is stored, or nothing.

Every problem is named as ``line N, column C: message``, where N is the spreadsheet row
(the header is line 1), so the office can fix the file and import it again.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.core import table_files
from surveys.core.exceptions import InvalidFile
from surveys.haochaping import ratings
from surveys.haochaping.models import RatingSource
from surveys.questionnaire.definitions import Level

COLUMNS = (
    "source_id", "unit", "level", "channel", "rated_at", "case_no", "item_code", "item_name",
    "window", "reasons", "comment", "contact_ok", "round", "is_default", "level_scale",
)  # fmt: skip
REQUIRED = ("source_id", "unit", "level", "channel", "rated_at")
LEVEL_LABELS = {
    "非常满意": Level.very_satisfied,
    "满意": Level.satisfied,
    "基本满意": Level.neutral,
    "不满意": Level.dissatisfied,
    "非常不满意": Level.very_dissatisfied,
}
SCALES: dict[str, Callable[[int], Level]] = {
    "gbt39046": ratings.level_from_gbt39046,
    "interface": ratings.level_from_interface,
}
LEVEL_NUMBERS = {"1", "2", "3", "4", "5"}
REASON_SEPARATOR = re.compile("[;；]")
FLAGS = ("contact_ok", "is_default")
CHINESE_FLAGS = {"是": "true", "否": "false"}

LEVEL_COLUMNS = ("level", "level_scale")

# A ratings file: up to 200,000 rows of at most 50 columns (the header names 15), 64 MB;
# over that it is refused before it is read (surveys.core.table_files).
LIMITS = table_files.TableLimits(rows=200_000, columns=50)

Cell = table_files.Cell
_Problem = tuple[int, str, str]  # (line, column, message)


@dataclass
class _Line:
    """One data row of the file: its spreadsheet row number, values and own problems."""

    number: int
    row: dict[str, object]
    problems: list[tuple[str, str]] = field(default_factory=list)  # (column, message)


def read_ratings_file(
    path: Path, *, tz: ZoneInfo | None = None, name: str | None = None
) -> list[dict[str, object]]:
    """The rows of a ratings file, ready for :func:`surveys.ratings.validate_rows`.

    Levels become codes; reasons become lists. Spreadsheet date cells carry no offset:
    with ``tz`` they are read as local time there, otherwise they stay naive (and fail
    validation, as a time without offset does in the API). Problems name the file ``name``
    (an upload's own name, not its temporary copy's), by default ``path``.
    """
    source = name or str(path)
    lines = _read_lines(path, source, tz)
    problems = [_where(line.number, c, m) for line in lines for c, m in line.problems]
    if problems:
        raise InvalidFile(source, problems)
    return [line.row for line in lines]


async def import_ratings(
    *,
    session: AsyncSession,
    path: Path,
    tz: ZoneInfo,
    now: datetime,
    grace_days: int,
    name: str | None = None,
) -> ratings.IngestResult:
    """Import every rating of the file or none; already imported source ids are skipped.

    Problems name the file ``name`` (an upload's own name), by default ``path``.
    """
    source = name or str(path)
    lines = await asyncio.to_thread(_read_lines, path, source, tz)
    items, found = _validate(lines)
    # Checked before anything is added: a refused file leaves nothing to flush.
    checked = await ratings.check(
        session=session, items=items, source=RatingSource.file, tz=tz, now=now,
        grace_days=grace_days,
    )  # fmt: skip
    found += [(lines[e.row].number, _column(e.field), e.message) for e in checked.errors]
    if found:
        found.sort(key=lambda problem: problem[0])
        raise InvalidFile(source, [_where(*problem) for problem in found])
    return await ratings.ingest(
        session=session, items=items, source=RatingSource.file, tz=tz, now=now,
        grace_days=grace_days,
    )  # fmt: skip


def _validate(lines: Sequence[_Line]) -> tuple[list[ratings.RatingIn | None], list[_Problem]]:
    items, errors = ratings.validate_rows([line.row for line in lines])
    found = [(line.number, c, m) for line in lines for c, m in line.problems]
    found += _repeated_source_ids(lines)
    for error in errors:
        line = lines[error.row]
        column = _column(error.field)
        # A level the file spelled wrongly is already reported, in the file's own words.
        if column != "level" or not any(c in LEVEL_COLUMNS for c, _ in line.problems):
            found.append((line.number, column, error.message))
    # A row with a problem of its own is refused even when it validates.
    valid = [None if line.problems else item for line, item in zip(lines, items, strict=True)]
    return valid, found


def _where(line: int, column: str, message: str) -> str:
    return f"line {line}, column {column}: {message}" if column else f"line {line}: {message}"


def _column(loc: str) -> str:
    # Pydantic names list items "reasons.3"; the file has one column "reasons".
    head = loc.split(".")[0]
    return "" if head == "(row)" else head


def _repeated_source_ids(lines: Sequence[_Line]) -> list[_Problem]:
    # Source ids are the unit's own (as in the API batch): the same id for two units is
    # two ratings; the same unit twice in one file is refused.
    first: dict[tuple[object, object], int] = {}
    found: list[_Problem] = []
    for line in lines:
        source_id, unit = _key_part(line.row.get("source_id")), _key_part(line.row.get("unit"))
        if source_id is None or unit is None:
            continue  # refused by validation, which names the missing value
        key = (unit, source_id)
        if key in first:
            message = f"{source_id!r} is also on line {first[key]}"
            found.append((line.number, "source_id", message))
        first.setdefault(key, line.number)
    return found


def _key_part(value: object) -> object:
    # Compared as validation will store them: text stripped.
    return value.strip() if isinstance(value, str) else value


# Reading ------------------------------------------------------------------------------


def _read_lines(path: Path, source: str, tz: ZoneInfo | None) -> list[_Line]:
    table = _read_table(path, source)
    if not table:
        raise InvalidFile(source, ["the file is empty"])
    header = [str(cell).strip() for cell in table[0]]
    _check_header(source, header)
    lines: list[_Line] = []
    for number, cells in enumerate(table[1:], start=2):
        if all(cell == "" for cell in cells):
            continue
        lines.append(_line(number, header, cells, tz))
    if not lines:
        raise InvalidFile(source, ["the file has no rating rows"])
    return lines


def _read_table(path: Path, source: str) -> Sequence[Sequence[Cell]]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return table_files.read_csv(source, path, LIMITS)
    if suffix == ".xlsx":
        return table_files.read_xlsx(source, path, LIMITS)
    raise InvalidFile(source, [f"{suffix or 'no extension'}: only .csv and .xlsx are read"])


def _check_header(source: str, header: Sequence[str]) -> None:
    named = [name for name in header if name]
    problems = []
    unknown = [name for name in named if name not in COLUMNS]
    if unknown:
        problems.append(f"line 1: unknown column(s) {', '.join(unknown)}")
    missing = [name for name in REQUIRED if name not in named]
    if missing:
        problems.append(f"line 1: missing column(s) {', '.join(missing)}")
    twice = sorted({name for name in named if named.count(name) > 1})
    if twice:
        problems.append(f"line 1: column(s) {', '.join(twice)} appear twice")
    if problems:
        raise InvalidFile(source, problems)


# One row ------------------------------------------------------------------------------


def _line(number: int, header: Sequence[str], cells: Sequence[Cell], tz: ZoneInfo | None) -> _Line:
    line = _Line(number, {})
    if len(cells) > len(header) and any(cell != "" for cell in cells[len(header) :]):
        line.problems.append(("", f"{len(cells)} cells, but the header names {len(header)}"))
    values = {name: cell for name, cell in zip(header, cells, strict=False) if name and cell != ""}
    scale = str(values.pop("level_scale", "")).strip().lower()
    for name, value in values.items():
        if isinstance(value, datetime) and value.tzinfo is None and tz is not None:
            value = value.replace(tzinfo=tz)
        line.row[name] = value
    if "level" in values:
        _convert_level(line, str(values["level"]), scale)
    if "reasons" in values:
        parts = REASON_SEPARATOR.split(str(values["reasons"]))
        line.row["reasons"] = [part.strip() for part in parts if part.strip()]
    for flag in FLAGS:
        if flag in values:
            line.row[flag] = CHINESE_FLAGS.get(str(values[flag]), values[flag])
    return line


def _convert_level(line: _Line, level: str, scale: str) -> None:
    if scale:
        _convert_number(line, level, scale)
    elif level in LEVEL_LABELS:
        line.row["level"] = LEVEL_LABELS[level].value
    elif level in LEVEL_NUMBERS:
        hint = "gbt39046 (1 = 非常满意) or interface (1 = 非常不满意)"
        line.problems.append(("level", f"{level!r} is a number: add a column level_scale, {hint}"))


def _convert_number(line: _Line, level: str, scale: str) -> None:
    if scale not in SCALES:
        line.problems.append(("level_scale", f"{scale!r} is not one of {', '.join(SCALES)}"))
        return
    if level not in LEVEL_NUMBERS:
        line.problems.append(("level", f"{level!r} is not a number 1-5 of the {scale} scale"))
        return
    line.row["level"] = SCALES[scale](int(level)).value
