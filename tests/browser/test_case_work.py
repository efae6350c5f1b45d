"""Case work in Debian's Chromium against the real ``minyi serve``: a supervisor finds a 差评
case by its 办件编号 in the queue search and assigns it to a staff member of the unit; the
staff member finds it under 我的工单 and works it to 已反馈.

Screenshots go to test-output/screenshots/case-work-*.png.
"""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook  # type: ignore[import-untyped]
from playwright.async_api import Page, expect

from tests.browser.conftest import MinyiWeb, Shot

pytestmark = pytest.mark.asyncio(loop_scope="module")
SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_PASSWORD = "case-work-password-1"
SERVICE_NUMBER = "HN2026-CW-4711"


async def _account(minyi_web: MinyiWeb, name: str, *role: str) -> str:
    out = await minyi_web.cli("--as", "admin", "user", "add", name, "--role", *role)
    return out.strip().splitlines()[-1].strip()


async def _sign_in(page: Page, name: str, password: str) -> None:
    """Sign in with the one-time password and set a new one, as a new account does."""
    await page.goto("/console/login")
    await page.fill("input[name=username]", name)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")
    await expect(page).to_have_url(re.compile(r"/console/password$"))
    await page.fill("input[name=current]", password)
    await page.fill("input[name=new]", NEW_PASSWORD)
    await page.fill("input[name=repeat]", NEW_PASSWORD)
    await page.click("main button[type=submit]")
    await expect(page).to_have_url(re.compile(r"/console/dashboard$"))


async def _case_with_number(minyi_web: MinyiWeb, tmp_path: Path) -> int:
    rated = (datetime.now(SHANGHAI) - timedelta(days=3)).replace(microsecond=0).isoformat()
    ratings = tmp_path / "ratings.csv"
    ratings.write_text(
        "source_id,unit,level,channel,rated_at,item_name,reasons,comment,contact_ok\n"
        f"{SERVICE_NUMBER},spj,dissatisfied,4,{rated},不动产登记,材料要求,材料反复要求,true\n",
        "utf-8",
    )
    await minyi_web.cli("--as", "admin", "import", "ratings", str(ratings))
    rows = minyi_web.query(
        "SELECT c.id FROM follow_up_case c JOIN rating r ON r.id = c.rating_id "
        "WHERE r.source_id = ?",
        SERVICE_NUMBER,
    )
    assert len(rows) == 1
    return int(rows[0][0])


async def _ledger_ids(page: Page) -> list[int]:
    """The case numbers of the 台账 the queue's XLSX link downloads, read with openpyxl."""
    async with page.expect_download() as waiting:
        await page.click("a.ledger-xlsx")
    download = await waiting.value
    assert download.suggested_filename.endswith(".xlsx"), download.suggested_filename
    path = await download.path()
    sheet = load_workbook(io.BytesIO(path.read_bytes()), read_only=True)["差评台账"]
    header, *rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert header[0] == "案件编号"
    return [int(row[0]) for row in rows]


async def _queue_ids(page: Page) -> list[int]:
    links = page.locator("table.cases tbody tr.case-row td:first-child a")
    return [int(text) for text in await links.all_inner_texts()]


async def test_the_ledger_download_matches_the_queue(
    page: Page, minyi_web: MinyiWeb, tmp_path: Path
) -> None:
    """Every filtered queue's 台账 lists the same cases in the same order (one page here)."""
    now = datetime.now(SHANGHAI).replace(microsecond=0)
    ratings = tmp_path / "ledger.csv"
    rows = [
        f"LEDGER-{n},{unit},{level},4,{(now - timedelta(days=days)).isoformat()},不动产登记,"
        "材料要求,,false"
        for n, (unit, level, days) in enumerate(
            [("spj", "dissatisfied", 1), ("spj", "very_dissatisfied", 20),
             ("jiuyuan", "dissatisfied", 2), ("jiuyuan", "dissatisfied", 30)]
        )
    ]  # fmt: skip
    header = "source_id,unit,level,channel,rated_at,item_name,reasons,comment,contact_ok"
    ratings.write_text("\n".join([header, *rows]) + "\n", "utf-8")
    await minyi_web.cli("--as", "admin", "import", "ratings", str(ratings))
    boss = await _account(
        minyi_web, "qian-ledger", "supervisor", "--unit", "spj", "--unit", "jiuyuan"
    )
    await _sign_in(page, "qian-ledger", boss)
    for query in ("state=open", "unit=spj", "overdue=yes", "assignee=none", ""):
        await page.goto(f"/console/cases?{query}&limit=200")
        shown = await _queue_ids(page)
        assert await _ledger_ids(page) == shown, query
    assert shown, "the supervisor's queue is empty: nothing was compared"


async def test_find_by_service_number_assign_and_work_to_replied(
    page: Page, minyi_web: MinyiWeb, shot: Shot, tmp_path: Path
) -> None:
    case_id = await _case_with_number(minyi_web, tmp_path)
    boss = await _account(minyi_web, "zhao-work", "supervisor", "--unit", "spj")
    worker = await _account(minyi_web, "li-work", "staff", "--unit", "spj")
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    # The supervisor types the 办件编号 into the queue's search: one case, with its number.
    await _sign_in(page, "zhao-work", boss)
    await page.goto("/console/cases")
    await page.fill("form.filters input[name=q]", SERVICE_NUMBER.lower())
    await page.click("form.filters button[type=submit]")
    rows = page.locator("table.cases tbody tr.case-row")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text(SERVICE_NUMBER)
    await expect(page.locator("a.ledger-xlsx")).to_have_attribute(
        "href", re.compile(r"/console/cases/ledger\.xlsx\?q=")
    )
    await shot(page, "case-work-search")
    assert await _ledger_ids(page) == [case_id]
    await rows.first.locator(f"a[href='/console/cases/{case_id}']").click()
    await expect(page).to_have_url(re.compile(rf"/console/cases/{case_id}$"))
    await expect(page.locator("dd.case-no")).to_have_text(SERVICE_NUMBER)
    await expect(page.locator("dd.consent")).to_have_text("同意联系")

    # Assign it to the unit's staff member.
    await page.select_option("form.assign select[name=assignee]", "li-work")
    await page.click("form.assign button[type=submit]")
    await expect(page.locator("dd.assignee")).to_have_text("li-work")
    await expect(page.locator("table.timeline")).to_contain_text("承办人：未分配 → li-work")
    await shot(page, "case-work-assigned")

    # The staff member finds it under 我的工单 and works it to 已反馈.
    await page.context.clear_cookies()
    await _sign_in(page, "li-work", worker)
    await page.goto("/console/cases")
    await page.click("a#my-cases")
    await expect(page).to_have_url(re.compile(r"assignee=me"))
    mine = page.locator("table.cases tbody tr.case-row")
    await expect(mine).to_have_count(1)
    await expect(mine.first.locator("td.days-left")).to_have_text(re.compile(r"^-?\d+"))
    await mine.first.locator(f"a[href='/console/cases/{case_id}']").click()
    for state in ("核实中", "整改中", "已反馈"):
        await page.fill(
            "form.moves textarea[name=note]", f"{state}：已与市民沟通，材料清单已公示。"
        )
        await page.click(f"form.moves button[name=to][value='{state}']")
        await expect(page.locator("h1 .state")).to_contain_text(state)
    await shot(page, "case-work-replied")

    stored = minyi_web.query(
        "SELECT c.state, u.username FROM follow_up_case c JOIN staff_user u "
        "ON u.id = c.assignee_id WHERE c.id = ?",
        case_id,
    )
    assert stored == [("已反馈", "li-work")]
    assert errors == []
