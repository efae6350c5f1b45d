"""The console's ratings upload takes the national 好差评 exchange layout (JSON) too."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from surveys.accounts.access import StaffRole
from surveys.accounts.models import AuditEvent
from surveys.core.db import SessionMaker
from surveys.haochaping.models import Rating
from tests.api.console.conftest import OTHER_UNIT, OWN_UNIT, Browser, add_user


@pytest.fixture
async def admin(browser_for: Any, sessionmaker: SessionMaker) -> Browser:
    await add_user(sessionmaker, "boss", StaffRole.admin, [])
    browser: Browser = await browser_for("boss")
    return browser


def national_json(*records: dict[str, object]) -> bytes:
    return json.dumps({"data": list(records)}, ensure_ascii=False).encode()


def record(eval_id: str, unit: str, satisfaction: object, pf: object) -> dict[str, object]:
    at = (datetime.now(UTC) - timedelta(hours=1)).isoformat(timespec="seconds")
    return {"evalId": eval_id, "deptCode": unit, "pf": pf, "satisfaction": satisfaction,
            "assessNumber": 1, "assessTime": at, "userProp": 1}  # fmt: skip


class TestNationalUpload:
    async def test_a_national_json_is_imported_with_its_codes_mapped(
        self, admin: Browser, sessionmaker: SessionMaker
    ) -> None:
        data = national_json(record("N-1", OWN_UNIT, 5, 2), record("N-2", OTHER_UNIT, 1, 6))
        await admin.get("/console/imports")
        response = await admin.post(
            "/console/imports", files={"file": ("省平台.json", data, "application/json")}
        )
        assert response.status_code == 200, response.text
        assert "新增评价 2 条，已导入过而跳过 0 条，新开差评工单 1 件" in response.text
        async with sessionmaker() as session:
            stored = (await session.exec(select(Rating).order_by(col(Rating.source_id)))).all()
            audited = (
                await session.exec(select(AuditEvent).where(AuditEvent.action == "import.ratings"))
            ).all()
        assert [(r.source_id, r.level, r.channel) for r in stored] == [
            ("N-1", "very_satisfied", 2),
            ("N-2", "very_dissatisfied", 6),
        ]
        assert [a.target for a in audited] == ["省平台.json"]

    async def test_bad_codes_are_listed_by_row_and_field(
        self, admin: Browser, sessionmaker: SessionMaker
    ) -> None:
        data = national_json(record("N-1", OWN_UNIT, 6, 8), record("N-2", OWN_UNIT, 0, 1))
        await admin.get("/console/imports")
        response = await admin.post(
            "/console/imports", files={"file": ("省平台.json", data, "application/json")}
        )
        assert response.status_code == 422
        assert "第 2 行 satisfaction 列：“6”不是 satisfaction 代码" in response.text
        assert "第 2 行 pf 列：“8”不是 pf 评价渠道代码" in response.text
        assert "第 3 行 satisfaction 列：“0”不是 satisfaction 代码" in response.text
        async with sessionmaker() as session:
            assert not (await session.exec(select(Rating))).all()
