"""The console's 12345回访 page in Chromium at phone width (390 x 844) against the real
``minyi serve`` with the demo's 回访: the administrator sees a card per unit with the four
rates, nothing wider than the screen, uploads a file through the form and reads its counts;
unit staff see their own unit only and no upload form.

Screenshot: test-output/screenshots/hotline_page.png.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, ViewportSize, expect

from tests.browser.conftest import LOCALE, MinyiWeb, Shot

pytestmark = pytest.mark.asyncio(loop_scope="module")
PHONE: ViewportSize = {"width": 390, "height": 844}
PASSWORD = "hotline-page-password-1"
SHANGHAI = ZoneInfo("Asia/Shanghai")
WIDTH = "() => document.documentElement.scrollWidth"
BEFORE = "(cell) => getComputedStyle(cell, '::before').content"
HEADER = (
    "工单号,单位编码,事项名称,办结时间,第1次回访时间,第1次回访结果,是否联系,是否解决,是否满意\n"
)
DONE = "新增 1 条，重复跳过 0 条，呼叫不足标记 0 条，旧轮次转为历史 0 条，不满意转差评立案 1 件。"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def minyi_web(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[MinyiWeb]:
    """The demo with its activity: about 350 回访 over the demo units and two half-years."""
    process = MinyiWeb(tmp_path_factory.mktemp("minyi-hotline"))
    await process.cli("db", "upgrade")
    await process.cli("demo", "load")
    await process.cli("demo", "activity")
    await process.start_api()
    yield process
    await process.stop()
    assert "Traceback" not in process.log(), process.log()


async def sign_in(
    browser: Browser, base_url: str, minyi_web: MinyiWeb, username: str, *role: str
) -> tuple[BrowserContext, Page]:
    """A new account of ``role`` signs in at phone width and sets its own password."""
    out = await minyi_web.cli("--as", "admin", "user", "add", username, "--role", *role)
    password = out.strip().splitlines()[-1].strip()
    context = await browser.new_context(locale=LOCALE, viewport=PHONE, base_url=base_url)
    page = await context.new_page()
    await page.goto("/console/login")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")
    await page.fill("input[name=current]", password)
    await page.fill("input[name=new]", PASSWORD)
    await page.fill("input[name=repeat]", PASSWORD)
    await page.click("main button[type=submit]")
    await expect(page).to_have_url(re.compile(r"/console/dashboard$"))
    return context, page


def _file(tmp_path: Path) -> Path:
    """One answered 回访 of 市审批服务局, 不满意, finished three days ago."""
    now = datetime.now(SHANGHAI).replace(second=0, microsecond=0)
    finished, called = now - timedelta(days=3), now - timedelta(days=2)
    path = tmp_path / "回访.csv"
    times = f"{finished:%Y-%m-%d %H:%M},{called:%Y-%m-%d %H:%M}"
    path.write_text(f"{HEADER}PHONE-1,spj,企业开办咨询,{times},接通,是,否,不满意\n", "utf-8")
    return path


async def test_the_office_reads_and_imports_at_phone_width(
    browser: Browser, base_url: str, minyi_web: MinyiWeb, shot: Shot, tmp_path: Path
) -> None:
    context, page = await sign_in(browser, base_url, minyi_web, "hotline-admin", "admin")
    try:
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.click("header.top nav a[href='/console/hotline']")
        await expect(page).to_have_url(re.compile(r"/console/hotline$"))
        await expect(page.locator("h1")).to_contain_text(
            re.compile(r"12345回访 \d{4}年[上下]半年")
        )
        units = page.locator("#hotline-units tbody tr[data-unit]")
        assert await units.count() > 30  # every demo unit has 回访 in the current half-year
        card = page.locator("#hotline-units tr[data-unit='spj']")
        # A card on a phone: each figure led by its column's name.
        label = await card.locator("td").nth(3).evaluate(BEFORE)
        assert label == '"回访率："', label
        await expect(page.locator("#hotline-definitions")).to_contain_text("接通的回访 ÷ 全部回访")
        assert await page.evaluate(WIDTH) <= PHONE["width"]
        assert await card.evaluate("(row) => getComputedStyle(row).display") == "block"
        await shot(page, "hotline_page")

        # Another half-year through the chooser.
        await page.select_option("select[name=period]", index=1)
        await page.click("form.filters button[type=submit]")
        await expect(page).to_have_url(re.compile(r"/console/hotline\?period=\d{4}H[12]$"))
        assert await units.count() > 30

        # An upload through the form: its counts, and the case it opened.
        before = minyi_web.query("SELECT count(*) FROM follow_up_case")[0][0]
        await page.goto("/console/hotline")
        await page.set_input_files("#hotline-import input[type=file]", _file(tmp_path))
        await page.click("#hotline-import button[type=submit]")
        await expect(page.locator("#hotline-imported")).to_contain_text(DONE)
        assert await page.evaluate(WIDTH) <= PHONE["width"]
        assert minyi_web.query("SELECT count(*) FROM follow_up_case")[0][0] == before + 1
        assert errors == []
    finally:
        await context.close()


async def test_unit_staff_see_their_unit_only(
    browser: Browser, base_url: str, minyi_web: MinyiWeb, shot: Shot
) -> None:
    context, page = await sign_in(
        browser, base_url, minyi_web, "hotline-staff", "staff", "--unit", "spj"
    )
    try:
        await page.goto("/console/hotline")
        rows = page.locator("#hotline-units tbody tr[data-unit]")
        assert await rows.evaluate_all("(rs) => rs.map((r) => r.dataset.unit)") == ["spj"]
        await expect(page.locator("#hotline-import")).to_have_count(0)
        assert await page.evaluate(WIDTH) <= PHONE["width"]
        await shot(page, "hotline_page_staff")
    finally:
        await context.close()
