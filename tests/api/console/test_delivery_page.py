"""The 消息投递 page (admins only) and 无法送达 on a case: what did not reach the citizen,
never to whom (no chat id) nor what (no message text)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from surveys.accounts.access import StaffRole
from surveys.core.db import SessionMaker, unit_of_work
from surveys.delivery import outbox
from surveys.delivery.outbox import Result
from tests.api.console.conftest import OWN_UNIT, Browser, add_user, bearer
from tests.api.console.test_cases_pages import make_case

CHAT_ID = 5_550_001_234
SHORT_CHAT = 4321
TEXT = "您好，关于您反映的问题，请拨打13912340008联系王科长"
NOW = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)  # 16:00 in Shanghai


@pytest.fixture
async def admin(browser_for: Any, sessionmaker: SessionMaker) -> Browser:
    await add_user(sessionmaker, "boss", StaffRole.admin, [])
    browser: Browser = await browser_for("boss")
    return browser


async def queue(
    sessionmaker: SessionMaker,
    *,
    chat_id: int = CHAT_ID,
    purpose: str = "relay",
    case_id: int | None = None,
    result: Result | None = None,
    outcome: str | None = None,
    at: datetime = NOW,
) -> int:
    """One message queued at ``at``, then (``result``) settled as the sender would."""
    async with unit_of_work(sessionmaker) as session:
        message_id = await outbox.enqueue(
            session,
            chat_id=chat_id,
            method="sendMessage",
            payload={"chat_id": chat_id, "text": TEXT},
            purpose=purpose,
            case_id=case_id,
            now=at,
        )
        if result is not None:
            await outbox.settle(
                session, message_id=message_id, result=result, outcome=outcome, now=at
            )
    return message_id


class TestDeliveryPage:
    async def test_shows_the_depth_and_what_did_not_arrive(
        self, admin: Browser, sessionmaker: SessionMaker
    ) -> None:
        case_id = await make_case(sessionmaker)
        recently = datetime.now(UTC) - timedelta(minutes=1)
        await queue(sessionmaker, chat_id=CHAT_ID + 1, purpose="survey", at=recently)
        await queue(
            sessionmaker, chat_id=CHAT_ID + 2, at=recently - timedelta(hours=3, minutes=10)
        )
        await queue(
            sessionmaker, case_id=case_id, result=Result.unreachable, outcome="403", at=NOW
        )
        await queue(
            sessionmaker,
            chat_id=SHORT_CHAT,
            purpose="notice",
            result=Result.failed,
            outcome="502",
            at=NOW - timedelta(minutes=1),
        )
        await queue(
            sessionmaker, chat_id=SHORT_CHAT + 1, purpose="invite", result=Result.failed,
            outcome="400", at=NOW - timedelta(minutes=2),
        )  # fmt: skip
        await queue(
            sessionmaker, chat_id=SHORT_CHAT + 2, purpose="mystery", result=Result.failed,
            outcome="429", at=NOW - timedelta(minutes=3),
        )  # fmt: skip
        await queue(sessionmaker, chat_id=SHORT_CHAT + 3, result=Result.sent)  # delivered

        response = await admin.get("/console/delivery")

        html = response.text
        assert response.status_code == 200, html
        assert "<h1>消息投递</h1>" in html
        stats = [
            ("待发送", "2"),
            ("最早等待", "3 小时"),
            ("已失败", "3"),
            ("无法送达", "1"),
        ]
        for label, value in stats:
            shown = rf'<span class="label">{label}</span>\s*<span class="value">{value}</span>'
            assert re.search(shown, html), label
        rows = html.split("<tbody>")[1].split("</tbody>")[0].split("<tr>")[1:]
        assert len(rows) == 4  # newest first; the waiting and the delivered are not listed
        expected = [
            ("2026-11-29 16:00", "无法送达", "联络回复", "<code>403</code> 对方已屏蔽机器人"),
            ("2026-11-29 15:59", "已失败", "员工通知", "<code>502</code> 服务器错误"),
            ("2026-11-29 15:58", "已失败", "邀请", "<code>400</code> 请求被拒绝"),
            ("2026-11-29 15:57", "已失败", "其他（mystery）", "<code>429</code> 限流"),
        ]
        for row, cells in zip(rows, expected, strict=True):
            assert [cell for cell in cells if cell not in row] == [], row
        assert f'href="/console/cases/{case_id}">差评件 {case_id}</a>' in rows[0]
        for secret in (str(CHAT_ID), str(SHORT_CHAT), "13912340008", "王科长", "sendMessage"):
            assert secret not in html, secret

    async def test_an_empty_outbox(self, admin: Browser) -> None:
        html = (await admin.get("/console/delivery")).text

        assert "没有未送达的消息。" in html
        assert '<span class="value">—</span>' in html  # nothing waits: no oldest age

    async def test_is_in_the_admins_menu_only(
        self, admin: Browser, browser_for: Any, sessionmaker: SessionMaker
    ) -> None:
        await add_user(sessionmaker, "li", StaffRole.staff, [OWN_UNIT])
        staff: Browser = await browser_for("li")

        assert 'href="/console/delivery"' in (await admin.get("/console/dashboard")).text
        assert 'href="/console/delivery"' not in (await staff.get("/console/dashboard")).text
        assert (await staff.get("/console/delivery")).status_code == 403


class TestUndeliverableCase:
    async def test_the_case_page_and_the_api_say_the_citizen_cannot_be_reached(
        self, admin: Browser, app: FastAPI, sessionmaker: SessionMaker
    ) -> None:
        blocked, fine = await make_case(sessionmaker), await make_case(sessionmaker)
        await queue(sessionmaker, case_id=blocked, result=Result.unreachable, outcome="403")
        await queue(sessionmaker, case_id=fine, result=Result.sent)
        headers = await bearer(sessionmaker, "cases", StaffRole.viewer, OWN_UNIT)

        blocked_page = (await admin.get(f"/console/cases/{blocked}")).text
        fine_page = (await admin.get(f"/console/cases/{fine}")).text
        async with AsyncClient(
            transport=ASGITransport(app=app), base_url="http://test", headers=headers
        ) as api:
            blocked_json = (await api.get(f"/api/v1/cases/{blocked}")).json()
            fine_json = (await api.get(f"/api/v1/cases/{fine}")).json()

        assert '<span class="badge overdue">无法送达</span>' in blocked_page
        assert "请记录在案" in blocked_page
        assert "无法送达" not in fine_page
        assert (blocked_json["undeliverable"], fine_json["undeliverable"]) == (True, False)
        assert str(CHAT_ID) not in blocked_page + str(blocked_json)
