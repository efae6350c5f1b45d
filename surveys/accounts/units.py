"""Units (考评对象): loading from CSV and lookups."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.models import Unit, UnitKind
from surveys.core.exceptions import InvalidFile, UnknownUnit
from surveys.core.i18n import N_, Translator

REQUIRED_COLUMNS = ("code", "name", "kind")
UNIT_CODE = re.compile(r"^[A-Za-z0-9-]{1,32}$")
TRUE_WORDS = {"", "1", "true", "yes", "y", "是"}
FALSE_WORDS = {"0", "false", "no", "n", "否"}
SHOWN_CHARS = 40  # a value quoted in a problem is cut there


def parse_units_csv(text: str, *, source: str) -> list[Unit]:
    """Validate every row; raise :class:`InvalidFile` listing each bad row and column, each
    problem a Chinese sentence (``第 3 行 kind 列：…``)."""
    t = Translator()
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        problem = t(N_("unitsimport.missing_columns"), columns="、".join(missing))
        raise InvalidFile(source, [t(N_("unitsimport.where.row"), row=1, problem=problem)])
    units: list[Unit] = []
    problems: list[str] = []
    seen: set[str] = set()
    for line, row in enumerate(reader, start=2):
        unit, row_problems = _parse_row(row, line, seen)
        problems += row_problems
        if unit is not None:
            units.append(unit)
    if not units and not problems:
        problems.append(t(N_("unitsimport.no_rows"), file=source))
    if problems:
        raise InvalidFile(source, problems)
    return units


def _parse_row(row: dict[str, str], line: int, seen: set[str]) -> tuple[Unit | None, list[str]]:
    code = (row.get("code") or "").strip()
    name = (row.get("name") or "").strip()
    kind = (row.get("kind") or "").strip()
    active = (row.get("active") or "").strip().lower()
    t = Translator()
    found: list[tuple[str, str]] = []  # (column, problem)
    if not UNIT_CODE.match(code):
        found.append(("code", t(N_("unitsimport.bad_code"), code=_shown(code))))
    elif code in seen:
        found.append(("code", t(N_("unitsimport.code_twice"), code=code)))
    if not name:
        found.append(("name", t(N_("unitsimport.no_name"))))
    if kind not in {k.value for k in UnitKind}:
        allowed = "、".join(k.value for k in UnitKind)
        found.append(("kind", t(N_("unitsimport.bad_kind"), kind=_shown(kind), kinds=allowed)))
    if active not in TRUE_WORDS | FALSE_WORDS:
        found.append(("active", t(N_("unitsimport.bad_active"), active=_shown(active))))
    problems = [
        t(N_("unitsimport.where.cell"), row=line, column=column, problem=problem)
        for column, problem in found
    ]
    seen.add(code)
    if problems:
        return None, problems
    unit = Unit(code=code, name=name, kind=UnitKind(kind), active=active in TRUE_WORDS)
    return unit, []


def _shown(value: str) -> str:
    return value if len(value) <= SHOWN_CHARS else value[:SHOWN_CHARS] + "…"


async def upsert_units(*, session: AsyncSession, units: Sequence[Unit]) -> tuple[int, int]:
    """Insert new units and update existing ones by code; returns (created, updated)."""
    existing = {u.code: u for u in (await session.exec(select(Unit))).all()}
    created = updated = 0
    for unit in units:
        current = existing.get(unit.code)
        if current is None:
            session.add(unit)
            created += 1
        elif (current.name, current.kind, current.active) != (unit.name, unit.kind, unit.active):
            current.name, current.kind, current.active = unit.name, unit.kind, unit.active
            session.add(current)
            updated += 1
    await session.flush()
    return created, updated


async def list_units(*, session: AsyncSession, active_only: bool = False) -> list[Unit]:
    """Units in a stable order: by id, as loaded."""
    statement = select(Unit).order_by(col(Unit.id))
    if active_only:
        statement = statement.where(col(Unit.active).is_(True))
    return list((await session.exec(statement)).all())


async def get_unit_or_raise(*, session: AsyncSession, code: str) -> Unit:
    unit = (await session.exec(select(Unit).where(Unit.code == code))).first()
    if unit is None:
        raise UnknownUnit(code=code)
    return unit
