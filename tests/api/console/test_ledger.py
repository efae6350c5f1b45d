"""The 差评 台账 (ledger) download: the queue's cases for the same filter, one row each, opened
as a spreadsheet program would (openpyxl) or read as CSV; masked, formula-safe, audited.

Cases are opened by the service as in test_cases_pages (a 差评 of 2025-09-30, long overdue
unless a test moves its deadlines).
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from typing import Any

import openpyxl  # type: ignore[import-untyped]
import pytest
from sqlmodel import col, select

from surveys.accounts import accounts
from surveys.accounts.access import StaffRole
from surveys.accounts.models import AuditEvent
from surveys.cases.models import CaseState, CloseReason, FollowUpCase
from surveys.cases.workdays import WorkCalendar
from surveys.core.clock import today
from surveys.core.db import SessionMaker, unit_of_work
from surveys.core.models import pk
from surveys.core.settings import Settings
from tests.api.console.conftest import OTHER_UNIT, OWN_UNIT, Browser, add_user, bearer
from tests.api.console.test_cases_pages import FAR, case_links, make_case

S = CaseState
HEADERS = [
    "案件编号", "办件编号", "事项", "窗口", "评价渠道", "评价时间", "责任单位", "立案日期",
    "核实期限", "整改期限", "状态", "承办人", "逾期工作日", "复评结果", "结案日期", "差评原因",
    "评价内容（已脱敏）",
]  # fmt: skip
PHONE = "13812345678"
BrowserFor = Any


def workbook(body: bytes) -> Any:
    return openpyxl.load_workbook(io.BytesIO(body))


def sheet_rows(body: bytes) -> list[dict[str, Any]]:
    sheet = workbook(body)["差评台账"]
    rows = list(sheet.iter_rows(values_only=True))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def csv_rows(body: bytes) -> list[dict[str, str]]:
    assert body.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 Chinese with a BOM
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


async def queue_ids(browser: Browser, query: str = "") -> list[int]:
    """The case ids the console queue lists for ``query``, in its order (one page of 200)."""
    page = await browser.get(f"/console/cases?limit=200&{query}")
    assert page.status_code == 200, page.text
    found = [int(n) for n in re.findall(r'href="/console/cases/(\d+)"', page.text)]
    assert set(found) == case_links(page.text)
    return list(dict.fromkeys(found))


async def ledger_audits(sessionmaker: SessionMaker) -> list[AuditEvent]:
    async with sessionmaker() as session:
        statement = select(AuditEvent).where(AuditEvent.action == "export.ledger")
        return list((await session.exec(statement.order_by(col(AuditEvent.id)))).all())


@pytest.fixture
async def admin(browser_for: BrowserFor, sessionmaker: SessionMaker) -> Browser:
    await add_user(sessionmaker, "boss", StaffRole.admin, [])
    browser: Browser = await browser_for("boss")
    return browser


@pytest.fixture
async def staff(browser_for: BrowserFor, sessionmaker: SessionMaker) -> Browser:
    await add_user(sessionmaker, "li", StaffRole.staff, [OWN_UNIT])
    browser: Browser = await browser_for("li")
    return browser


@pytest.fixture
async def world(sessionmaker: SessionMaker) -> dict[str, int]:
    """Cases of two units in several states, one far from its deadline."""
    return {
        "own_old": await make_case(sessionmaker, OWN_UNIT, comment=f"电话{PHONE}，没人理"),
        "own_far": await make_case(sessionmaker, OWN_UNIT, state=S.rectifying, due=FAR),
        "own_formula": await make_case(sessionmaker, OWN_UNIT, item='=HYPERLINK("x")'),
        "other": await make_case(sessionmaker, OTHER_UNIT, state=S.verifying),
        "other_far": await make_case(sessionmaker, OTHER_UNIT, due=FAR),
    }


class TestLedgerEqualsTheQueue:
    @pytest.mark.parametrize(
        "query",
        ["", "overdue=yes", "state=整改中", f"unit={OWN_UNIT}", "q=HYPERLINK", "assignee=none"],
    )
    async def test_admin_gets_the_queues_cases_in_its_order(
        self, admin: Browser, world: dict[str, int], query: str
    ) -> None:
        expected = await queue_ids(admin, query)
        assert expected  # each filter shows some cases
        response = await admin.get(f"/console/cases/ledger.xlsx?{query}")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith(
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
        assert "attachment" in response.headers["content-disposition"]
        assert [row["案件编号"] for row in sheet_rows(response.content)] == expected

    async def test_the_queues_own_link_downloads_its_cases(
        self, admin: Browser, world: dict[str, int]
    ) -> None:
        page = await admin.get(f"/console/cases?unit={OWN_UNIT}&overdue=yes&limit=200")
        link = re.search(r'<a href="([^"]+)" class="ledger-xlsx">', page.text)
        assert link, "the queue offers its 台账"
        expected = await queue_ids(admin, f"unit={OWN_UNIT}&overdue=yes")
        response = await admin.get(link.group(1).replace("&amp;", "&"))
        assert [row["案件编号"] for row in sheet_rows(response.content)] == expected
        assert len(expected) == 2

    async def test_unit_staff_get_only_their_units_cases(
        self, staff: Browser, world: dict[str, int]
    ) -> None:
        expected = await queue_ids(staff)
        assert set(expected) == {world["own_old"], world["own_far"], world["own_formula"]}
        response = await staff.get("/console/cases/ledger.xlsx")
        assert [row["案件编号"] for row in sheet_rows(response.content)] == expected

    async def test_another_units_filter_is_refused(
        self, staff: Browser, world: dict[str, int]
    ) -> None:
        response = await staff.get(f"/console/cases/ledger.csv?unit={OTHER_UNIT}")
        assert response.status_code == 404

    async def test_csv_holds_the_same_rows(self, admin: Browser, world: dict[str, int]) -> None:
        expected = await queue_ids(admin, "overdue=yes")
        response = await admin.get("/console/cases/ledger.csv?overdue=yes")
        assert response.headers["content-type"].startswith("text/csv")
        rows = csv_rows(response.content)
        assert list(rows[0]) == HEADERS
        assert [int(row["案件编号"]) for row in rows] == expected

    async def test_the_page_of_the_queue_is_ignored(
        self, admin: Browser, world: dict[str, int]
    ) -> None:
        response = await admin.get("/console/cases/ledger.csv?limit=1&offset=1")
        assert len(csv_rows(response.content)) == len(world)

    async def test_a_bad_filter_is_explained_not_exported(
        self, admin: Browser, sessionmaker: SessionMaker, world: dict[str, int]
    ) -> None:
        response = await admin.get("/console/cases/ledger.xlsx?opened_from=yesterday")
        assert response.status_code == 422
        assert "yesterday" in response.text
        assert await ledger_audits(sessionmaker) == []


class TestLedgerFile:
    async def test_sheet_headers_frozen_row_and_widths(
        self, admin: Browser, world: dict[str, int]
    ) -> None:
        book = workbook((await admin.get("/console/cases/ledger.xlsx")).content)
        assert book.sheetnames == ["差评台账"]
        sheet = book["差评台账"]
        assert [cell.value for cell in sheet[1]] == HEADERS
        assert sheet.freeze_panes == "A2"
        assert sheet.column_dimensions["Q"].width >= 40  # the comment column is wide
        assert all(sheet.column_dimensions[c].width for c in "ABCDEFGHIJKLMNOPQ")

    async def test_citizens_text_is_masked(self, admin: Browser, world: dict[str, int]) -> None:
        xlsx = (await admin.get("/console/cases/ledger.xlsx")).content
        rows = {row["案件编号"]: row for row in sheet_rows(xlsx)}
        assert rows[world["own_old"]]["评价内容（已脱敏）"] == "电话138****5678，没人理"
        csv_body = (await admin.get("/console/cases/ledger.csv")).content
        assert PHONE.encode() not in csv_body
        assert b"138****5678" in csv_body

    async def test_no_cell_is_a_formula(self, admin: Browser, world: dict[str, int]) -> None:
        book = workbook((await admin.get("/console/cases/ledger.xlsx")).content)
        cells = [cell for row in book["差评台账"].iter_rows() for cell in row]
        assert all(cell.data_type != "f" for cell in cells)
        items = {cell.value for cell in cells if cell.column == 3}
        assert '\'=HYPERLINK("x")' in items
        csv_body = (await admin.get("/console/cases/ledger.csv")).content.decode("utf-8-sig")
        assert "'=HYPERLINK" in csv_body

    async def test_state_closed_with_its_reason_assignee_and_rerating(
        self, admin: Browser, sessionmaker: SessionMaker, world: dict[str, int]
    ) -> None:
        await add_user(sessionmaker, "zhang", StaffRole.staff, [OWN_UNIT])
        async with unit_of_work(sessionmaker) as session:
            user = await accounts.get_user(session=session, username="zhang")
            assert user is not None
            case = await session.get(FollowUpCase, world["own_far"])
            assert case is not None
            case.state, case.close_reason = S.closed, CloseReason.no_rerating.value
            case.rerating = "neutral"
            case.assignee_id = pk(user)
        rows = {
            r["案件编号"]: r
            for r in sheet_rows((await admin.get("/console/cases/ledger.xlsx")).content)
        }
        row = rows[world["own_far"]]
        assert row["状态"] == "已关闭（未复评）"
        assert row["承办人"] == "zhang"
        assert row["复评结果"] == "基本满意"
        assert rows[world["own_old"]]["承办人"] is None
        assert rows[world["other"]]["状态"] == "核实中"

    async def test_working_days_overdue(
        self, admin: Browser, settings: Settings, world: dict[str, int]
    ) -> None:
        rows = {
            r["案件编号"]: r
            for r in sheet_rows((await admin.get("/console/cases/ledger.xlsx")).content)
        }
        old = rows[world["own_old"]]
        due = old["核实期限"]  # 待核实: the contact deadline is the one missed
        due = due.date() if hasattr(due, "date") else due
        expected = WorkCalendar().working_days_between(due, today(settings.tz))
        assert expected > 200
        assert old["逾期工作日"] == expected
        assert rows[world["own_far"]]["逾期工作日"] == 0
        assert old["评价渠道"] == "移动服务端"
        assert old["事项"] == "企业开办登记"
        assert old["差评原因"] == "等候时间长"
        assert old["立案日期"] is not None

    async def test_each_download_is_audited_once(
        self, admin: Browser, sessionmaker: SessionMaker, world: dict[str, int]
    ) -> None:
        await admin.get(f"/console/cases/ledger.xlsx?unit={OWN_UNIT}&overdue=yes")
        await admin.get("/console/cases/ledger.csv")
        first, second = await ledger_audits(sessionmaker)
        assert first.actor == "boss"
        assert first.target == OWN_UNIT
        assert first.detail == {
            "fmt": "xlsx", "rows": 2, "filters": {"unit_code": OWN_UNIT, "overdue": True}
        }  # fmt: skip
        assert second.detail == {"fmt": "csv", "rows": len(world), "filters": {}}

    async def test_a_viewer_may_not_export(
        self, browser_for: BrowserFor, sessionmaker: SessionMaker, world: dict[str, int]
    ) -> None:
        await add_user(sessionmaker, "wang", StaffRole.viewer, [OWN_UNIT])
        viewer = await browser_for("wang")
        assert (await viewer.get("/console/cases/ledger.xlsx")).status_code == 403
        assert await ledger_audits(sessionmaker) == []


class TestLedgerApi:
    async def test_a_units_token_gets_its_units_cases(
        self, app: Any, sessionmaker: SessionMaker, world: dict[str, int]
    ) -> None:
        from httpx import ASGITransport, AsyncClient

        headers = await bearer(sessionmaker, "erp", StaffRole.staff, OWN_UNIT)
        transport = ASGITransport(app=app)
        async with AsyncClient(transport=transport, base_url="http://t", headers=headers) as c:
            response = await c.get("/api/v1/cases/ledger", params={"format": "csv"})
            assert response.status_code == 200, response.text
            ids = {int(row["案件编号"]) for row in csv_rows(response.content)}
            assert ids == {world["own_old"], world["own_far"], world["own_formula"]}
            xlsx = await c.get("/api/v1/cases/ledger?format=xlsx&overdue=no")
            assert [r["案件编号"] for r in sheet_rows(xlsx.content)] == [world["own_far"]]
            refused = await c.get(
                "/api/v1/cases/ledger?opened_from=2026-02-01&opened_to=2026-01-01"
            )
            assert refused.status_code == 422
            assert refused.json()["code"] == "error.request_invalid"
        audits = await ledger_audits(sessionmaker)
        assert [a.actor for a in audits] == ["token:erp", "token:erp"]

    async def test_dates_are_dates(self, admin: Browser, world: dict[str, int]) -> None:
        rows = sheet_rows((await admin.get("/console/cases/ledger.xlsx")).content)
        assert all(isinstance(row["整改期限"], date) for row in rows)
