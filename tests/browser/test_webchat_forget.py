"""删除我的联系方式 in the web chat, in Chromium on a phone (390×844).

A citizen rates window W03 非常不满意 and agrees to be contacted, so their browser keeps a
private contact link; they open 删除我的联系方式 from the foot of the page, switch to 关怀模式,
read what goes and what stays and confirm. The link is then a 404 page and the case is marked
无法联系. axe-core on the page and the confirmation in both modes (no critical or serious
violation; 7:1 contrast in care mode) and every control measured (≥ 44 px, ≥ 60 px in care
mode). The pages are plain forms (no script of their own); axe needs JavaScript, so the
browser has it; the HTTP tests (tests/api/webchat/test_forget.py) post as a phone without.

Screenshots go to test-output/screenshots/webchat-forget-*.png.
"""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from tests.browser.conftest import MinyiWeb, Shot
from tests.browser.test_webchat import PHONE, audit, text_size

pytestmark = pytest.mark.asyncio
WINDOW = "/c/w/spj/W03"


async def test_erase_at_phone_width_in_both_modes(
    browser: Browser, base_url: str, minyi_web: MinyiWeb, shot: Shot
) -> None:
    context = await browser.new_context(viewport=PHONE, base_url=base_url, locale="zh-CN")
    try:
        page = await context.new_page()
        page.set_default_timeout(20_000)
        await page.goto(WINDOW)
        await page.get_by_role("button", name="非常不满意", exact=True).click()
        await page.get_by_role("button", name="服务态度").click()
        await page.get_by_role("button", name="完成", exact=True).click()
        await page.get_by_role("button", name="跳过", exact=True).click()
        await page.get_by_role("button", name="同意联系", exact=True).click()
        await page.wait_for_url("**/c/rate/thanks")
        contact_url = await page.locator("#contact-url").get_attribute("href")
        assert contact_url is not None

        await page.get_by_role("link", name="删除我的联系方式").click()
        await page.wait_for_url("**/c/forget")
        await expect(page.locator("h1")).to_have_text("删除我的联系方式")
        await expect(page.locator("main")).to_contain_text("将保留")
        await audit(page, care=False)
        await shot(page, "webchat-forget-ask")
        await page.get_by_role("button", name="关怀模式（大字）").click()
        await expect(page.locator("body")).to_have_class("care")
        size, _ = await text_size(page)
        assert size >= 22
        await audit(page, care=True)
        await shot(page, "webchat-forget-ask-care")

        await page.get_by_role("button", name="确认删除").click()
        await page.wait_for_url("**/c/forget/done")
        await expect(page.locator("main")).to_contain_text("已删除")
        await audit(page, care=True)
        await shot(page, "webchat-forget-done-care")
        await page.get_by_role("button", name="退出关怀模式").click()
        await expect(page.locator("body")).to_have_class("standard")
        await audit(page, care=False)

        gone = await page.goto(contact_url)
        assert gone is not None
        assert gone.status == 404
        marked = minyi_web.query("SELECT count(*) FROM case_event WHERE kind = 'unreachable'")
        assert marked == [(1,)]
        assert minyi_web.query("SELECT count(*) FROM citizen_contact") == [(0,)]
        await page.goto("/c/contact")  # the browser forgot the link too
        await expect(page.locator("main")).to_contain_text("本浏览器没有保存联络页面。")
    finally:
        await context.close()
