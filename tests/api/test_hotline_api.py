"""POST /api/v1/hotline-visits: a 12345 system's records stored whole, or refused with every
problem in Chinese named by item and field; counts in the answer; one audit row."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlmodel import col, func, select

from api.main import create_app
from scoring.demo import survey as demo
from surveys.accounts import tokens, units
from surveys.accounts.access import StaffRole
from surveys.accounts.models import AuditEvent
from surveys.cases.models import FollowUpCase
from surveys.core.db import SessionMaker, unit_of_work
from surveys.core.models import utcnow
from surveys.core.settings import Settings
from surveys.hotline.models import HotlineVisit

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
URL = "/api/v1/hotline-visits"


def visit(ticket: str, **fields: Any) -> dict[str, Any]:
    return {
        "ticket_no": ticket,
        "unit": "spj",
        "item_name": "营业执照办理咨询",
        "finished_at": "2026-11-20T16:30:00+08:00",
        "attempts": [{"at": "2026-11-23T10:00:00+08:00", "outcome": "接通"}],
        "contacted": True,
        "resolved": True,
        "satisfaction": "满意",
        **fields,
    }


UNREACHABLE_SOON = {
    "outcome": "无法联系",
    "attempts": [{"at": "2026-11-23T10:00:00+08:00", "outcome": "无人接听"}],
    "contacted": None,
    "resolved": None,
    "satisfaction": None,
}


@pytest.fixture
async def app(settings: Settings, sessionmaker: SessionMaker) -> FastAPI:
    parsed = units.parse_units_csv(demo.UNITS_CSV.read_text("utf-8"), source="units.csv")
    async with unit_of_work(sessionmaker) as session:
        await units.upsert_units(session=session, units=parsed)
    app = create_app(settings, sessionmaker)
    app.dependency_overrides[utcnow] = lambda: NOW
    return app


@pytest.fixture
async def client(app: FastAPI, sessionmaker: SessionMaker) -> AsyncIterator[AsyncClient]:
    async with unit_of_work(sessionmaker) as session:
        unit = await units.get_unit_or_raise(session=session, code="spj")
        _, raw = await tokens.create_token(session=session, name="hotline-12345", unit=unit)
    headers = {"Authorization": f"Bearer {raw}"}
    transport = ASGITransport(app=app)
    async with AsyncClient(transport=transport, base_url="http://test", headers=headers) as c:
        yield c


async def _count(sessionmaker: SessionMaker, model: type[Any]) -> int:
    async with sessionmaker() as session:
        return int((await session.exec(select(func.count()).select_from(model))).one())


async def test_a_batch_round_trip(client: AsyncClient, sessionmaker: SessionMaker) -> None:
    batch = [
        visit("T-1"),
        visit("T-2", satisfaction="不满意", resolved=False),
        visit("T-3", **UNREACHABLE_SOON),
    ]
    response = await client.post(URL, json=batch)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "accepted": 3, "duplicates": 0, "flagged": 1, "retired": 0, "cases_opened": 1,
    }  # fmt: skip
    again = await client.post(URL, json=[visit("T-1"), visit("T-2", round=2)])
    assert again.json() == {
        "accepted": 1, "duplicates": 1, "flagged": 0, "retired": 1, "cases_opened": 0,
    }  # fmt: skip
    assert await _count(sessionmaker, HotlineVisit) == 4
    assert await _count(sessionmaker, FollowUpCase) == 1
    async with sessionmaker() as session:
        stored = (await session.exec(select(HotlineVisit).order_by(col(HotlineVisit.id)))).all()
        audits = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "hotline.push"))
        ).all()
    assert [(v.ticket_no, v.round, v.active, v.source) for v in stored] == [
        ("T-1", 1, True, "api"), ("T-2", 1, False, "api"), ("T-3", 1, True, "api"),
        ("T-2", 2, True, "api"),
    ]  # fmt: skip
    assert all(v.token_id is not None for v in stored)
    assert [a.detail["created"] for a in audits] == [3, 1]
    assert audits[0].detail["flagged"] == 1


async def test_a_bad_batch_is_refused_whole_in_chinese(
    client: AsyncClient, sessionmaker: SessionMaker
) -> None:
    batch = [visit("T-1"), visit("T-2", unit="kundulun"), visit("T-3", finished_at="昨天")]
    response = await client.post(URL, json=batch)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "hotline.invalid"
    assert body["message"] == "回访记录（request）有 2 处错误，未保存任何内容。"
    assert body["problems"] == [
        "第 2 条记录（[1]）unit：此令牌只能提交这些单位的回访记录：spj。",
        "第 3 条记录（[2]）finished_at：“昨天”不是日期时间，"
        "请写成 2026-11-23T10:00:00+08:00 这样的格式。",
    ]
    assert await _count(sessionmaker, HotlineVisit) == 0


async def test_a_viewer_token_may_not_push(app: FastAPI, sessionmaker: SessionMaker) -> None:
    async with unit_of_work(sessionmaker) as session:
        _, raw = await tokens.create_token(
            session=session, name="reader", unit=None, role=StaffRole.viewer
        )
    transport = ASGITransport(app=app)
    async with AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post(
            URL, json=[visit("T-1")], headers={"Authorization": f"Bearer {raw}"}
        )
    assert response.status_code == 403
    assert await _count(sessionmaker, HotlineVisit) == 0
