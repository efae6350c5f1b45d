"""Units, an admin actor and record builders for the 12345 回访 tests."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.access import Actor, StaffRole
from surveys.accounts.models import Unit, UnitKind

# 2026-11-20 is a Friday; 11-21 and 11-22 a weekend; 11-23 .. 11-27 working days.
NOW = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)
ADMIN = Actor(name="admin", role=StaffRole.admin, units=None)
ANSWERED: dict[str, Any] = {
    "ticket_no": "BT-0001",
    "unit": "kundulun",
    "item_name": "供暖不热",
    "item_code": "RX-01",
    "finished_at": "2026-11-20T16:30:00+08:00",
    "attempts": [
        {"at": "2026-11-23T09:10:00+08:00", "outcome": "无人接听"},
        {"at": "2026-11-23T15:40:00+08:00", "outcome": "接通"},
    ],
    "contacted": "是",
    "resolved": True,
    "satisfaction": "满意",
}
UNREACHABLE: dict[str, Any] = {
    "ticket_no": "BT-0002",
    "unit": "kundulun",
    "item_name": "噪音扰民",
    "finished_at": "2026-11-20T16:30:00+08:00",
    "attempts": [
        {"at": "2026-11-23T09:00:00+08:00", "outcome": "no_answer"},
        {"at": "2026-11-23T16:00:00+08:00", "outcome": "busy"},
        {"at": "2026-11-24T10:00:00+08:00", "outcome": "关机"},
    ],
    "outcome": "无法联系",
}


def record(base: dict[str, Any], **fields: Any) -> dict[str, Any]:
    data = copy.deepcopy(base)
    data.update(fields)
    return data


@pytest.fixture
async def units(session: AsyncSession) -> dict[str, Unit]:
    session.add_all(
        [
            Unit(code="kundulun", name="昆都仑区", kind=UnitKind.district),
            Unit(code="qingshan", name="青山区", kind=UnitKind.district),
            Unit(code="old", name="撤并单位", kind=UnitKind.department, active=False),
        ]
    )
    await session.flush()
    return {u.code: u for u in (await session.exec(select(Unit))).all()}
