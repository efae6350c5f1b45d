"""The citizens' web chat in Chromium on a phone-sized screen (390×844): the demo survey
along both skip-logic paths with and without JavaScript, a reload mid-survey, going back,
关怀模式 and English; axe-core on every page in both modes and both languages (no critical
or serious violation; 7:1 contrast in care mode) and every control's box measured
(≥ 44×44 px, ≥ 60×60 px in care mode); reflow at 320 px and at 200% zoom."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, ViewportSize, expect

from tests.browser.conftest import Shot

pytestmark = pytest.mark.asyncio
PHONE: ViewportSize = {"width": 390, "height": 844}
UNIT = "市审批服务局"
CONTROLS = "a[href], button, input:not([type=hidden]), textarea, select"

Open = Callable[..., Awaitable[Page]]


@pytest_asyncio.fixture(loop_scope="module")
async def phone(browser: Browser, base_url: str) -> AsyncIterator[Open]:
    """``await phone(js=True, locale="zh-CN")``: a page in a fresh phone-sized context."""
    contexts = []

    async def open_page(*, js: bool = True, locale: str = "zh-CN") -> Page:
        context = await browser.new_context(
            viewport=PHONE, base_url=base_url, locale=locale, java_script_enabled=js
        )
        contexts.append(context)
        return await context.new_page()

    yield open_page
    for context in contexts:
        await context.close()


async def survey_link(page: Page) -> str:
    await page.goto("/c/")
    link = page.locator("a[href^='/c/s/']").first
    href = await link.get_attribute("href")
    assert href is not None
    return href


async def choose(page: Page, label: str) -> None:
    """Press an answer that moves on to another question."""
    question = page.locator("#question")
    before = await question.inner_text()
    await page.get_by_role("button", name=label, exact=True).click()
    await expect(question).not_to_have_text(before)


async def tick(page: Page, label: str) -> None:
    button = page.get_by_role("button", name=label, exact=True)
    await button.click()
    await expect(page.get_by_role("button", name=label, exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )


async def audit(page: Page, *, care: bool) -> None:
    """axe-core: no critical or serious violation; every control at least the target."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.add_script_tag(url="/static/vendor/axe.min.js")
    rules = {"color-contrast-enhanced": {"enabled": care}}
    result = await page.evaluate("(rules) => axe.run(document, {rules})", rules)
    serious = [
        (v["id"], [n["target"] for n in v["nodes"]])
        for v in result["violations"]
        if v["impact"] in ("critical", "serious")
    ]
    assert serious == [], f"{page.url}: {serious}"
    least = 60 if care else 44
    small = await page.evaluate(
        """([selector, least]) => Array.from(document.querySelectorAll(selector))
            .filter((e) => e.getClientRects().length > 0)
            .map((e) => [e.outerHTML.slice(0, 90), e.getBoundingClientRect()])
            .filter(([, r]) => r.width < least || r.height < least)
            .map(([html, r]) => [html, Math.round(r.width), Math.round(r.height)])""",
        [CONTROLS, least],
    )
    assert small == [], f"{page.url}: controls under {least}px: {small}"
    wide = await page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
    assert not wide, f"{page.url} scrolls sideways"


async def text_size(page: Page) -> tuple[float, float]:
    """The body's font size and line height in px."""
    size, height = await page.evaluate(
        """() => { const s = getComputedStyle(document.body);
                   return [parseFloat(s.fontSize), parseFloat(s.lineHeight)]; }"""
    )
    return float(size), float(height)


async def short_path(page: Page, *, care: bool | None = None) -> None:
    """From the first question: no service used in six months, to the thank-you page."""
    await tick(page, "近六个月未办理过")
    if care is not None:
        await audit(page, care=care)
    await choose(page, "完成")
    await choose(page, "满意")
    if care is not None:
        await audit(page, care=care)
    await choose(page, "基本满意")
    await choose(page, "30岁以下")
    if care is not None:
        await audit(page, care=care)
    await page.get_by_role("button", name="跳过", exact=True).click()
    await page.wait_for_url("**/c/thanks")
    await expect(page.locator("main")).to_contain_text("问卷已完成")


async def test_long_path_with_javascript_going_back(phone: Open, shot: Shot) -> None:
    page = await phone()
    await page.goto(await survey_link(page))
    await audit(page, care=False)
    await shot(page, "webchat-unit")
    await choose(page, UNIT)
    await expect(page.locator("#question")).to_be_focused()
    await expect(page.locator("#live")).to_contain_text("您通过哪些渠道办理过政务服务")
    url = page.url
    await tick(page, "蒙速办APP")
    await tick(page, "12345政务服务便民热线")
    assert page.url == url  # swapped in place, no reload
    await audit(page, care=False)
    await shot(page, "webchat-multi")
    await choose(page, "完成")
    await choose(page, "不满意")
    await choose(page, "返回上一题")  # change the overall satisfaction
    await expect(page.locator("#question")).to_contain_text("总体来看")
    await choose(page, "满意")
    await expect(page.locator("#question")).to_contain_text("蒙速办APP或政府网站")
    await choose(page, "满意")  # online
    await choose(page, "基本满意")  # hotline
    await choose(page, "1次")
    await audit(page, care=False)
    await shot(page, "webchat-scale")
    await choose(page, "9")
    await choose(page, "满意")
    await choose(page, "满意")
    await choose(page, "60岁及以上")
    await choose(page, "非常满意")
    await audit(page, care=False)
    await page.get_by_label("请在此输入您的回答").fill("希望网上能办的事更多一些")
    await shot(page, "webchat-text")
    await page.get_by_role("button", name="提交", exact=True).click()
    await page.wait_for_url("**/c/thanks")
    await audit(page, care=False)
    await shot(page, "webchat-thanks")
    size, height = await text_size(page)
    assert size >= 17
    assert height >= 1.5 * size


async def test_without_javascript_both_paths_and_a_reload(phone: Open, shot: Shot) -> None:
    page = await phone(js=False)
    link = await survey_link(page)
    await page.goto(link)
    await choose(page, UNIT)
    await tick(page, "政府网站")
    await choose(page, "完成")
    await choose(page, "非常不满意")
    await tick(page, "需要提交的材料多")
    await page.reload()  # resumes at the same question with the tick kept
    await expect(page.locator("#question")).to_contain_text("您不满意的主要原因")
    await expect(
        page.get_by_role("button", name="需要提交的材料多", exact=True)
    ).to_have_attribute("aria-pressed", "true")
    await choose(page, "完成")
    await choose(page, "不满意")
    await choose(page, "2次")
    await choose(page, "3")
    await choose(page, "满意")
    await choose(page, "满意")
    await choose(page, "45—59岁")
    await shot(page, "webchat-nojs-text")
    await page.get_by_role("button", name="跳过", exact=True).click()
    await page.wait_for_url("**/c/thanks")

    other = await phone(js=False)
    await other.goto(link)
    await choose(other, UNIT)
    await short_path(other)
    await shot(other, "webchat-nojs-thanks")


async def test_care_mode(phone: Open, shot: Shot) -> None:
    page = await phone()
    link = await survey_link(page)
    await page.get_by_role("button", name="关怀模式（大字）").click()
    await expect(page.locator("body")).to_have_class("care")
    await audit(page, care=True)
    size, height = await text_size(page)
    assert size >= 22
    assert height >= 1.5 * size
    await page.goto(link)
    await choose(page, UNIT)
    await expect(page.locator(".transcript")).to_have_count(0)
    await expect(page.get_by_role("button", name="朗读题目")).to_be_visible()
    await shot(page, "webchat-care-question")
    await short_path(page, care=True)
    await audit(page, care=True)
    await page.get_by_role("button", name="退出关怀模式").click()
    await expect(page.locator("body")).to_have_class("standard")


async def test_english_in_both_modes(phone: Open, shot: Shot) -> None:
    page = await phone(locale="en-US")
    link = await survey_link(page)
    assert await page.get_attribute("html", "lang") == "en"
    await expect(page.locator("h1")).to_have_text("Open surveys")
    await audit(page, care=False)
    await page.goto(link)
    await choose(page, UNIT)
    await expect(page.locator(".progress")).to_have_text(re.compile(r"Question 1 of about \d+"))
    await audit(page, care=False)
    await shot(page, "webchat-en")
    await page.get_by_role("button", name="Care mode (large text)").click()
    await expect(page.locator("body")).to_have_class("care")
    await audit(page, care=True)
    await shot(page, "webchat-en-care")
    await page.get_by_role("button", name="中文").click()
    await expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    await audit(page, care=True)
    await page.goto("/c/s/no-such-survey")
    await audit(page, care=True)


async def test_reflow_at_320_px_and_at_200_percent_zoom(browser: Browser, base_url: str) -> None:
    """WCAG 1.4.10: no sideways scrolling at 320 CSS px, nor at 200% zoom of a 640 px screen
    (the same 320 CSS px, drawn twice as large), on the list, a question and a rating."""
    screens: list[tuple[ViewportSize, str]] = [
        ({"width": 320, "height": 640}, "100%"),
        ({"width": 640, "height": 900}, "200%"),
    ]
    for viewport, zoom in screens:
        context = await browser.new_context(viewport=viewport, base_url=base_url, locale="zh-CN")
        page = await context.new_page()
        for path in ("/c/", "/c/w/spj/A01", await survey_link(page)):
            await page.goto(path)
            await page.evaluate("(zoom) => { document.body.style.zoom = zoom; }", zoom)
            wide = await page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
            assert not wide, f"{path} at {viewport['width']} px, zoom {zoom}: scrolls sideways"
        await context.close()
