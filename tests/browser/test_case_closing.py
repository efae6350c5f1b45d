"""Every case can end, in Chromium against the real ``minyi serve``: unit staff work a 差评 to
已反馈 with its 反馈; when the clock is moved past the 复评 window (``minyi case
close-unrerated --today``) the case reads 已关闭（未复评）; a supervisor closes another case
with a note from its page (结案).

Screenshots go to test-output/screenshots/case-closing-*.png.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import MinyiWeb, Shot

pytestmark = pytest.mark.asyncio(loop_scope="module")
SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_PASSWORD = "closing-test-password-1"
FEEDBACK = "已统一材料清单并在窗口公示。"
CLOSE_NOTE = "群众来电表示问题已解决，同意结案。"


async def _account(minyi_web: MinyiWeb, name: str, *role: str) -> str:
    out = await minyi_web.cli("--as", "admin", "user", "add", name, "--role", *role)
    return out.strip().splitlines()[-1].strip()


async def _sign_in(page: Page, name: str, password: str) -> None:
    """The one-time password, then the new one the console asks for first."""
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


async def _two_cases(minyi_web: MinyiWeb, tmp_path: Path) -> tuple[int, int]:
    rated = (datetime.now(SHANGHAI) - timedelta(days=3)).replace(microsecond=0).isoformat()
    ratings = tmp_path / "ratings.csv"
    ratings.write_text(
        "source_id,unit,level,channel,rated_at,item_name\n"
        f"close-1,spj,dissatisfied,4,{rated},不动产登记\n"
        f"close-2,spj,very_dissatisfied,4,{rated},企业开办\n",
        "utf-8",
    )
    await minyi_web.cli("--as", "admin", "import", "ratings", str(ratings))
    rows = minyi_web.query(
        "SELECT r.source_id, c.id FROM follow_up_case c JOIN rating r ON r.id = c.rating_id "
        "WHERE r.source_id LIKE 'close-%'"
    )
    found = dict(rows)
    return int(found["close-1"]), int(found["close-2"])


async def test_a_case_closes_itself_after_the_rerating_window(
    page: Page, minyi_web: MinyiWeb, shot: Shot, tmp_path: Path
) -> None:
    password = await _account(minyi_web, "li-closing", "staff", "--unit", "spj")
    worked, _ = await _two_cases(minyi_web, tmp_path)
    await _sign_in(page, "li-closing", password)

    await page.goto(f"/console/cases/{worked}")
    for state in ("核实中", "整改中", "已反馈"):
        if state == "已反馈":  # its note is the 反馈, sent with the 复评 question
            await page.fill("form.moves textarea[name=note]", FEEDBACK)
        await page.click(f"form.moves button[name=to][value='{state}']")
        await expect(page.locator("h1 .state")).to_have_text(state)
    assert await page.locator("form.close").count() == 0  # 结案 is the supervisor's

    # The clock moves on: a month later the 复评 window is long over.
    later = (datetime.now(SHANGHAI).date() + timedelta(days=30)).isoformat()
    await minyi_web.cli("--as", "admin", "case", "close-unrerated", "--today", later)
    await page.reload()

    await expect(page.locator("h1 .state")).to_have_text("已关闭（未复评）")
    await expect(page.locator("table.timeline")).to_contain_text("系统自动结案")
    await shot(page, "case-closing-unrerated")
    stored = minyi_web.query("SELECT state, close_reason FROM follow_up_case WHERE id = ?", worked)
    assert stored == [("已关闭", "no_rerating")]


async def test_a_supervisor_closes_a_case_with_a_note(
    page: Page, minyi_web: MinyiWeb, shot: Shot, tmp_path: Path
) -> None:
    password = await _account(minyi_web, "zhao-closing", "supervisor")
    rows = minyi_web.query(
        "SELECT c.id FROM follow_up_case c JOIN rating r ON r.id = c.rating_id "
        "WHERE r.source_id = 'close-2'"
    )
    ((case_id,),) = rows
    await _sign_in(page, "zhao-closing", password)

    await page.goto(f"/console/cases/{case_id}")
    await page.fill("form.close textarea[name=note]", CLOSE_NOTE)
    await page.click("form.close button[type=submit]")

    await expect(page.locator("h1 .state")).to_have_text("已关闭（主管结案）")
    await expect(page.locator("table.timeline")).to_contain_text(CLOSE_NOTE)
    await shot(page, "case-closing-supervisor")
    stored = minyi_web.query(
        "SELECT state, close_reason FROM follow_up_case WHERE id = ?", case_id
    )
    assert stored == [("已关闭", "supervisor")]
