"""The queue's case work as a browser without JavaScript: search, 我的工单, the workload, bulk
assign and 督办 with refusals in Chinese, saved views, the 台账 links, the case's 办件."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlmodel import col, select

from surveys.accounts.access import StaffRole
from surveys.accounts.models import AuditEvent
from surveys.core.db import SessionMaker, unit_of_work
from tests.api.console.conftest import OTHER_UNIT, OWN_UNIT, Browser, add_user
from tests.api.console.test_cases_pages import case_links, load_case, make_case

BrowserFor = Any


@pytest.fixture
async def people(sessionmaker: SessionMaker) -> None:
    await add_user(sessionmaker, "li", StaffRole.staff, [OWN_UNIT])
    await add_user(sessionmaker, "wang", StaffRole.staff, [OWN_UNIT])
    await add_user(sessionmaker, "zhao", StaffRole.supervisor, [OWN_UNIT])


async def audit(sessionmaker: SessionMaker, action: str) -> list[AuditEvent]:
    async with unit_of_work(sessionmaker) as session:
        statement = select(AuditEvent).where(AuditEvent.action == action)
        return list((await session.exec(statement.order_by(col(AuditEvent.id)))).all())


class TestQueueWork:
    async def test_search_my_cases_and_the_ledger_links(
        self, browser_for: BrowserFor, sessionmaker: SessionMaker, people: None
    ) -> None:
        wanted = await make_case(sessionmaker, item="不动产登记")
        await make_case(sessionmaker, item="企业开办登记")
        li: Browser = await browser_for("li")

        found = await li.get("/console/cases?q=不动产")
        assert case_links(found.text) == {wanted}
        assert 'href="/console/cases/ledger.csv?q=%E4%B8%8D%E5%8A%A8%E4%BA%A7"' in found.text
        assert (await li.get("/console/cases?assignee=me")).status_code == 200
        assert case_links((await li.get("/console/cases?assignee=me")).text) == set()
        long = await li.get("/console/cases?q=" + "x" * 65)
        assert long.status_code == 422
        assert "搜索内容过长" in long.text

    async def test_the_supervisor_assigns_in_bulk_and_refusals_are_named(
        self, browser_for: BrowserFor, sessionmaker: SessionMaker, people: None
    ) -> None:
        mine = await make_case(sessionmaker)
        foreign = await make_case(sessionmaker, OTHER_UNIT)
        zhao: Browser = await browser_for("zhao")
        queue = await zhao.get("/console/cases")
        assert "承办人工作量" in queue.text

        response = await zhao.post(
            "/console/cases/bulk",
            {"case": [str(mine), str(foreign)], "action": "assign", "assignee": "li"},
        )

        assert response.status_code == 200
        assert f"已指派 1 件：#{mine}" in response.text
        assert f"第 {foreign} 号未处理" in response.text
        assert (await load_case(sessionmaker, mine)).assignee_id is not None
        (row,) = await audit(sessionmaker, "case.bulk_assign")
        assert row.detail["cases"] == [mine]
        assert row.detail["refused"] == [foreign]

    async def test_unit_staff_have_no_bulk_form_and_are_refused(
        self, browser_for: BrowserFor, sessionmaker: SessionMaker, people: None
    ) -> None:
        case_id = await make_case(sessionmaker)
        li: Browser = await browser_for("li")
        queue = await li.get("/console/cases")
        assert 'id="bulk"' not in queue.text
        assert "承办人工作量" not in queue.text

        response = await li.post(
            "/console/cases/bulk", {"case": str(case_id), "action": "escalate"}
        )

        assert response.status_code == 403
        assert await audit(sessionmaker, "case.bulk_escalate") == []

    async def test_a_form_without_its_csrf_token_changes_nothing(
        self, browser_for: BrowserFor, sessionmaker: SessionMaker, people: None
    ) -> None:
        case_id = await make_case(sessionmaker)
        zhao: Browser = await browser_for("zhao")

        response = await zhao.client.post(
            "/console/cases/bulk", data={"case": str(case_id), "action": "escalate"}
        )

        assert response.status_code == 403
        assert (await load_case(sessionmaker, case_id)).escalated_at is None


class TestViews:
    async def test_save_list_apply_and_delete(
        self, browser_for: BrowserFor, sessionmaker: SessionMaker, people: None
    ) -> None:
        li: Browser = await browser_for("li")
        await li.get("/console/cases?overdue=yes")

        saved = await li.post(
            "/console/cases/views", {"name": "逾期的", "query": "overdue=yes&offset=50"}
        )
        assert saved.status_code == 303
        assert saved.headers["location"] == "/console/cases?overdue=yes&done=view_saved"
        queue = await li.get("/console/cases")
        assert re.search(r'<a href="/console/cases\?overdue=yes">逾期的</a>', queue.text)
        taken = await li.post("/console/cases/views", {"name": "逾期的", "query": "state=整改中"})
        assert taken.status_code == 409
        assert "已有名为“逾期的”的视图" in taken.text
        # Another person's list is their own.
        assert "逾期的" not in (await (await browser_for("wang")).get("/console/cases")).text

        gone = await li.post("/console/cases/views/delete", {"name": "逾期的"})
        assert gone.headers["location"] == "/console/cases?done=view_deleted"
        assert "逾期的" not in (await li.get("/console/cases")).text


class TestCasePage:
    async def test_shows_the_service_the_consent_and_offers_the_claim(
        self, browser_for: BrowserFor, sessionmaker: SessionMaker, people: None
    ) -> None:
        case_id = await make_case(sessionmaker, item="不动产登记")
        li: Browser = await browser_for("li")

        page = await li.get(f"/console/cases/{case_id}")
        assert "办件编号" in page.text
        assert "同意联系" in page.text
        assert "移动端" in page.text  # channel 2
        assert f'action="/console/cases/{case_id}/claim"' in page.text
        assert 'action="/console/cases/{case_id}/assign"' not in page.text

        claimed = await li.post(f"/console/cases/{case_id}/claim")
        assert claimed.status_code == 303
        page = await li.get(claimed.headers["location"])
        assert "已认领" in page.text
        assert re.search(r'<dd class="assignee">li</dd>', page.text)
        assert "承办人：未分配 → li" in page.text
