"""The demo's people: a few staff accounts per unit (the 承办人 of its cases) and the
evaluation office's supervisors, who decide 申诉 for every unit.

They have no console password, as accounts made by ``minyi staff add``: nobody can sign in
as them until an administrator gives one a one-time password (``minyi --as admin user reset
NAME``), so the demo adds no sign-in anyone could guess. Names are made from the seed and
the unit's code (``jiuyuan.gao``); a second call adds nothing.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.access import StaffRole
from surveys.accounts.models import StaffUnit, StaffUser, Unit
from surveys.core.models import pk

STAFF_PER_UNIT = (2, 3)
SURNAMES = (
    "wang", "li", "zhang", "liu", "chen", "yang", "zhao", "huang", "zhou", "wu",
    "xu", "sun", "ma", "hu", "guo", "he", "gao", "lin", "luo", "zheng",
)  # fmt: skip
# 考评办 (the 牵头考核单位 of seed 004): city-wide supervisors, no units of their own.
SUPERVISORS = ("kaopingban.zhao", "kaopingban.qian")


@dataclass(frozen=True)
class Person:
    id: int
    username: str


@dataclass(frozen=True)
class Crew:
    """Who works the demo cases: each unit's staff, and the supervisors."""

    staff: Mapping[int, Sequence[Person]]  # unit id -> its staff, by username
    supervisors: Sequence[Person]
    added: int  # accounts this call created


def staff_names(unit_code: str, seed: int) -> list[str]:
    """The demo staff of a unit: 2 or 3 usernames ``<unit code>.<surname>``."""
    rng = random.Random(f"{seed}:staff:{unit_code}")
    surnames = rng.sample(SURNAMES, rng.randint(*STAFF_PER_UNIT))
    return [f"{unit_code}.{surname}" for surname in surnames]


async def ensure_crew(
    *, session: AsyncSession, units: Sequence[Unit], seed: int, now: datetime
) -> Crew:
    """The demo staff of every given unit and the supervisors, creating those missing."""
    wanted = {name: pk(unit) for unit in units for name in staff_names(unit.code, seed)}
    names = [*wanted, *SUPERVISORS]
    known = await _ids(session, names)
    missing = [name for name in names if name not in known]
    if missing:
        await session.exec(
            sa.insert(StaffUser), params=[_account(n, wanted, now) for n in missing]
        )
        known = await _ids(session, names)
        links = [{"user_id": known[n], "unit_id": wanted[n]} for n in missing if n in wanted]
        if links:
            await session.exec(sa.insert(StaffUnit), params=links)
    supervisors = [Person(known[name], name) for name in SUPERVISORS]
    return Crew(await _serving(session, wanted), supervisors, len(missing))


def _account(name: str, units: Mapping[str, int], now: datetime) -> dict[str, Any]:
    role = StaffRole.staff if name in units else StaffRole.supervisor
    return {"username": name, "role": role.value, "active": True, "password_hash": None,
            "must_change_password": True, "failed_logins": 0, "session_version": 1,
            "created_at": now}  # fmt: skip


async def _ids(session: AsyncSession, names: Sequence[str]) -> dict[str, int]:
    statement = select(StaffUser.username, StaffUser.id).where(col(StaffUser.username).in_(names))
    return {name: int(user_id or 0) for name, user_id in (await session.exec(statement)).all()}


async def _serving(session: AsyncSession, wanted: Mapping[str, int]) -> dict[int, list[Person]]:
    """The demo staff who do serve their unit (an account of that name made by hand for
    something else is left out)."""
    statement = (
        select(StaffUser.username, StaffUser.id, StaffUnit.unit_id)
        .join(StaffUnit, col(StaffUnit.user_id) == col(StaffUser.id))
        .where(col(StaffUser.username).in_(list(wanted)), StaffUser.role == StaffRole.staff)
        .order_by(col(StaffUser.username))
    )
    staff: dict[int, list[Person]] = {}
    for name, user_id, unit_id in (await session.exec(statement)).all():
        if wanted[name] == unit_id:
            staff.setdefault(unit_id, []).append(Person(int(user_id or 0), name))
    return staff
