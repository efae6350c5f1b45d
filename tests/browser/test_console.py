"""The staff console in Debian's Chromium against the real ``minyi serve``: unit staff sign
in with their one-time password, change it, see the dashboard chart drawn, open an overdue
差评 case, reply, move it to 已反馈, and fail to open another unit's case by URL.

Screenshots go to test-output/screenshots/console-*.png.
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
NEW_PASSWORD = "console-test-password-1"
# Pixels of the chart canvas that are not background: a drawn chart has thousands.
CANVAS_INK = """(selector) => {
  const canvas = document.querySelector(selector + ' canvas');
  if (!canvas) return 0;
  const ctx = canvas.getContext('2d');
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  let ink = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] > 0 && (data[i] < 240 || data[i + 1] < 240 || data[i + 2] < 240)) ink++;
  }
  return ink;
}"""


async def _staff_with_cases(minyi_web: MinyiWeb, tmp_path: Path) -> tuple[str, int, int]:
    """A unit staff account, an overdue 差评 case of its unit and one of another unit."""
    out = await minyi_web.cli(
        "--as", "admin", "user", "add", "li-console", "--role", "staff", "--unit", "spj"
    )
    password = out.strip().splitlines()[-1].strip()
    rated = (datetime.now(SHANGHAI) - timedelta(days=30)).replace(microsecond=0).isoformat()
    ratings = tmp_path / "ratings.csv"
    ratings.write_text(
        "source_id,unit,level,channel,rated_at,item_name,reasons,comment\n"
        f"web-own-1,spj,dissatisfied,4,{rated},不动产登记,材料要求,材料要求反复变化\n"
        f"web-other-1,kundulun,very_dissatisfied,4,{rated},户籍办理,等候时间,排队太久\n",
        "utf-8",
    )
    await minyi_web.cli("--as", "admin", "import", "ratings", str(ratings))
    rows = minyi_web.query(
        "SELECT c.id, u.code FROM follow_up_case c JOIN unit u ON u.id = c.unit_id "
        "JOIN rating r ON r.id = c.rating_id WHERE r.source_id LIKE 'web-%'"
    )
    by_unit = {code: case_id for case_id, code in rows}
    return password, by_unit["spj"], by_unit["kundulun"]


async def test_unit_staff_work_an_overdue_case(
    page: Page, minyi_web: MinyiWeb, shot: Shot, tmp_path: Path
) -> None:
    password, own_case, other_case = await _staff_with_cases(minyi_web, tmp_path)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    # Sign in with the one-time password; the console asks for a new one first.
    await page.goto("/console/cases")
    await expect(page).to_have_url(re.compile(r"/console/login\?next="))
    await page.fill("input[name=username]", "li-console")
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")
    await expect(page).to_have_url(re.compile(r"/console/password$"))
    await page.fill("input[name=current]", password)
    await page.fill("input[name=new]", NEW_PASSWORD)
    await page.fill("input[name=repeat]", NEW_PASSWORD)
    await page.click("main button[type=submit]")
    await expect(page).to_have_url(re.compile(r"/console/dashboard$"))

    # The dashboard draws its charts from the npm-installed ECharts.
    await page.wait_for_selector("body[data-charts-ready='1']")
    assert await page.evaluate(CANVAS_INK, "#chart-trend") > 1000
    assert await page.evaluate(CANVAS_INK, "#chart-units") > 1000
    await expect(page.locator("#units tr[data-unit='spj']")).to_be_visible()
    assert await page.locator("#units tr[data-unit='kundulun']").count() == 0
    await shot(page, "console-dashboard")

    # The queue shows the overdue case highlighted; open it.
    await page.goto("/console/cases?overdue=yes")
    row = page.locator("tr.overdue", has=page.locator(f"a[href='/console/cases/{own_case}']"))
    await expect(row).to_be_visible()
    assert await page.locator(f"a[href='/console/cases/{other_case}']").count() == 0
    await shot(page, "console-queue")
    await row.locator(f"a[href='/console/cases/{own_case}']").first.click()
    await expect(page).to_have_url(re.compile(rf"/console/cases/{own_case}$"))

    # Reply to the citizen (relayed by the bot), then move the case on to 已反馈.
    await page.fill("form.reply textarea[name=text]", "您好，材料清单已统一公示，请再次办理。")
    await page.click("form.reply button[type=submit]")
    await expect(page.locator("body")).to_contain_text("材料清单已统一公示")
    for state in ("核实中", "整改中", "已反馈"):
        if state == "已反馈":  # its note is the 反馈, sent with the 复评 question
            await page.fill("form.moves textarea[name=note]", "材料清单已统一公示。")
        await page.click(f"form.moves button[name=to][value='{state}']")
        await expect(page.locator(".case-state, body").first).to_contain_text(state)
    await expect(page.locator("body")).to_contain_text("已反馈")
    await shot(page, "console-case-replied")
    stored = minyi_web.query("SELECT state FROM follow_up_case WHERE id = ?", own_case)
    assert stored == [("已反馈",)]

    # Another unit's case is not there, whatever its id.
    response = await page.goto(f"/console/cases/{other_case}")
    assert response is not None
    assert response.status == 404
    await shot(page, "console-other-unit-404")
    untouched = minyi_web.query("SELECT state FROM follow_up_case WHERE id = ?", other_case)
    assert untouched == [("待核实",)]
    assert errors == []
