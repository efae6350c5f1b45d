"""The latest round counts in the web chat: a 办件 rated again from its receipt replaces the
earlier rating (history kept), and the 复评 on the citizen's contact page is stored as the
2nd round, which alone counts; it opens no case."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlmodel import col, func, select

from scoring.aggregate import rating_counts
from scoring.method import load_method
from surveys.accounts.access import StaffRole
from surveys.accounts.models import Unit
from surveys.cases.models import FollowUpCase
from surveys.core.db import SessionMaker
from surveys.core.models import pk, utcnow
from surveys.haochaping.models import Rating, ServiceEvent
from surveys.haochaping.ratings import period_of
from tests.api.console.conftest import Browser, add_user
from tests.api.webchat.test_contact import contact_path
from tests.api.webchat.test_rating import Phone

TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture
async def phone(app: FastAPI) -> AsyncIterator[Phone]:
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        yield Phone(client)


@pytest.fixture
async def officer(app: FastAPI, sessionmaker: SessionMaker) -> AsyncIterator[Browser]:
    """市审批服务局's staff, signed in to the console."""
    await add_user(sessionmaker, "spj-wu", StaffRole.staff, ["spj"])
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        browser = Browser(client)
        await browser.get("/console/login")
        signed = await browser.post(
            "/console/login", {"username": "spj-wu", "password": "correct-horse-battery"}
        )
        assert signed.status_code == 303
        yield browser


async def rounds(sessionmaker: SessionMaker) -> list[tuple[int, bool, str]]:
    """(round, active, level) of every rating, in the order stored."""
    async with sessionmaker() as session:
        found = await session.exec(
            select(Rating.round, Rating.active, Rating.level).order_by(col(Rating.id))
        )
        return [tuple(row) for row in found.all()]  # type: ignore[misc]


async def counted(sessionmaker: SessionMaker) -> dict[str, int]:
    """市审批服务局's counted ratings by level, as ``minyi score`` counts them."""
    async with sessionmaker() as session:
        unit = (await session.exec(select(Unit).where(col(Unit.code) == "spj"))).one()
        period = period_of(utcnow(), TZ)
        counts = await rating_counts(session=session, period=period, method=load_method())
    return {level: n for level, n in counts.get(pk(unit), {}).items() if n}


class TestRounds:
    async def test_a_receipt_rated_again_replaces_the_first_rating(
        self, phone: Phone, sessionmaker: SessionMaker
    ) -> None:
        async with sessionmaker() as session:
            unit = (await session.exec(select(Unit).where(col(Unit.code) == "spj"))).one()
            session.add(
                ServiceEvent(
                    case_no="B-R1",
                    item_code="11150200MB",
                    item_name="企业开办",
                    unit_id=pk(unit),
                    channel=2,
                    finished_at=utcnow() - timedelta(hours=1),
                    link_token="rcpt-web-r1",
                )  # fmt: skip
            )
            await session.commit()
        await phone.get("/c/r/rcpt-web-r1")
        await phone.pick("基本满意")

        await phone.get("/c/r/rcpt-web-r1")
        await phone.pick("非常满意")

        assert await rounds(sessionmaker) == [(1, False, "neutral"), (1, True, "very_satisfied")]
        assert await counted(sessionmaker) == {"very_satisfied": 1}

    async def test_the_rerating_on_the_contact_page_is_the_second_round(
        self, phone: Phone, officer: Browser, sessionmaker: SessionMaker
    ) -> None:
        path = await contact_path(phone)
        async with sessionmaker() as session:
            case_id = pk((await session.exec(select(FollowUpCase))).one())
        await officer.get(f"/console/cases/{case_id}")
        for state in ("核实中", "整改中", "已反馈"):
            note = "已补充材料清单。" if state == "已反馈" else ""
            moved = await officer.post(
                f"/console/cases/{case_id}/transition", {"to": state, "note": note}
            )
            assert moved.status_code == 303
        assert await counted(sessionmaker) == {"very_dissatisfied": 1}

        rerated = await phone.client.post(f"{path}/rerate", data={"i": "1"})  # 基本满意

        assert rerated.status_code == 303
        assert await rounds(sessionmaker) == [
            (1, False, "very_dissatisfied"),
            (2, True, "neutral"),
        ]
        assert await counted(sessionmaker) == {"neutral": 1}
        async with sessionmaker() as session:
            case = await session.get_one(FollowUpCase, case_id)
            cases = (await session.exec(select(func.count()).select_from(FollowUpCase))).one()
        assert (case.state, case.rerating, cases) == ("已复评", "neutral", 1)
