"""好差评 in the web chat in Chromium on a phone (390×844), with the console in between.

A citizen scans window W03 of 市审批服务局, rates 非常不满意 with two reasons and a comment and
agrees to be contacted; the thank-you page shows their private contact link (保密联络). A
staff member of the unit finds the case in the console (channel 网页, no citizen identity),
replies and moves it to 已反馈; the citizen reads the reply on their page, writes back and
re-rates 满意. Then another citizen rates 满意 in 关怀模式 and English: a 好评, so no case.
axe-core on every citizen page (no critical or serious violation; 7:1 contrast in care
mode) and every control measured (≥ 44 px, ≥ 60 px in care mode).

Screenshots go to test-output/screenshots/webchat-rating-*.png.
"""

from __future__ import annotations

import json
import re

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import VIEWPORT, MinyiWeb, Shot
from tests.browser.test_webchat import PHONE, audit, text_size, tick

pytestmark = pytest.mark.asyncio
WINDOW = "/c/w/spj/W03"
COMMENT = "窗口人员态度冷淡，排队一个多小时"
REPLY = "您好，已对窗口人员批评教育并增设取号窗口，欢迎再次办理。"
WRITE_BACK = "收到，谢谢单位的答复"
STAFF_PASSWORD = "rating-staff-password-1"
NEWEST_CASE = (
    "SELECT c.id, r.respondent_id, r.level, r.reasons, r.comment, r.contact_ok "
    "FROM follow_up_case c JOIN rating r ON r.id = c.rating_id ORDER BY c.id DESC LIMIT 1"
)


async def press(page: Page, label: str) -> None:
    """Press a button whose answer brings another question (or page) in its place."""
    question = page.locator("#question")
    before = await question.inner_text()
    await page.get_by_role("button", name=label, exact=True).click()
    await expect(question).not_to_have_text(before)


async def staff_sign_in(page: Page, minyi_web: MinyiWeb) -> None:
    """A new staff account of 市审批服务局 signs in and sets its own password."""
    out = await minyi_web.cli(
        "--as", "admin", "user", "add", "zhao-rating", "--role", "staff", "--unit", "spj"
    )
    password = out.strip().splitlines()[-1].strip()
    await page.goto("/console/login")
    await page.fill("input[name=username]", "zhao-rating")
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")
    await expect(page).to_have_url(re.compile(r"/console/password$"))
    await page.fill("input[name=current]", password)
    await page.fill("input[name=new]", STAFF_PASSWORD)
    await page.fill("input[name=repeat]", STAFF_PASSWORD)
    await page.click("main button[type=submit]")
    await expect(page).to_have_url(re.compile(r"/console/dashboard$"))


async def test_bad_rating_case_reply_and_rerating(
    browser: Browser, base_url: str, minyi_web: MinyiWeb, shot: Shot
) -> None:
    phone = await browser.new_context(viewport=PHONE, base_url=base_url, locale="zh-CN")
    desk = await browser.new_context(viewport=VIEWPORT, base_url=base_url, locale="zh-CN")
    errors: list[str] = []
    try:
        page = await phone.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))

        # The citizen scans the window's QR code and rates 非常不满意.
        await page.goto(WINDOW)
        await expect(page).to_have_url(re.compile(r"/c/rate$"))
        await expect(page.locator(".intro")).to_contain_text("市审批服务局")
        await expect(page.locator(".intro")).to_contain_text("W03")
        await expect(page.locator("#question")).to_have_text("请对本次办事服务进行评价：")
        await audit(page, care=False)
        await shot(page, "webchat-rating-levels")
        await press(page, "非常不满意")
        await expect(page.locator("#question")).to_contain_text("不满意的原因")
        await tick(page, "服务态度")
        await tick(page, "办事效率")
        await audit(page, care=False)
        await shot(page, "webchat-rating-reasons")
        await press(page, "完成")
        await page.get_by_label("请在此输入您的回答").fill(COMMENT)
        await audit(page, care=False)
        await press(page, "提交")
        await expect(page.locator("#question")).to_contain_text("是否同意办理单位")
        await audit(page, care=False)
        await page.get_by_role("button", name="同意联系", exact=True).click()
        await page.wait_for_url("**/c/rate/thanks")
        await expect(page.locator("main")).to_contain_text("专属联络页面")
        link = page.locator("#contact-url")
        contact_url = await link.get_attribute("href")
        assert contact_url is not None
        assert re.fullmatch(rf"{re.escape(base_url)}/c/contact/[\w-]{{20,}}", contact_url)
        token = contact_url.rsplit("/", 1)[1]
        await audit(page, care=False)
        await shot(page, "webchat-rating-thanks")

        rows = minyi_web.query(NEWEST_CASE)
        case_id, respondent_id, level, reasons, comment, contact_ok = rows[0]
        assert (level, comment, contact_ok) == ("very_dissatisfied", COMMENT, 1)
        assert json.loads(reasons) == ["服务态度", "办事效率"]
        (pseudonym,) = minyi_web.query(
            "SELECT pseudonym FROM respondent WHERE id = ?", respondent_id
        )[0]
        cookie = next(c for c in await phone.cookies() if c["name"] == "minyi_citizen")
        secrets = (pseudonym, cookie["value"].split(".")[0], token)

        # Staff of the unit find the case: channel 网页, what was said, nobody's identity.
        console = await desk.new_page()
        console.on("pageerror", lambda error: errors.append(str(error)))
        await staff_sign_in(console, minyi_web)
        await console.goto("/console/cases")
        await console.locator(f"a[href='/console/cases/{case_id}']").first.click()
        await expect(console).to_have_url(re.compile(rf"/console/cases/{case_id}$"))
        facts = console.locator("dl.facts")
        await expect(facts).to_contain_text("网页")
        await expect(facts).to_contain_text("非常不满意")
        await expect(facts).to_contain_text("服务态度、办事效率")
        await expect(facts).to_contain_text(COMMENT)
        html = await console.content()
        assert not [secret for secret in secrets if secret in html]
        await console.fill("form.reply textarea[name=text]", REPLY)
        await console.click("form.reply button[type=submit]")
        await expect(console.locator("body")).to_contain_text(REPLY)
        for state in ("核实中", "整改中", "已反馈"):
            if state == "已反馈":  # its note is the 反馈, sent with the 复评 question
                await console.fill("form.moves textarea[name=note]", "材料清单已统一公示。")
            await console.click(f"form.moves button[name=to][value='{state}']")
            await expect(console.locator("h1 .state")).to_have_text(state)
        await shot(console, "webchat-rating-console-case")

        # Back on the phone: the reply is on the citizen's page; write back, then 复评.
        await page.goto(contact_url)
        await expect(page.locator("dd.state")).to_have_text("已反馈，请您复评")
        await expect(page.locator(".transcript")).to_contain_text(REPLY)
        await expect(page.locator(".transcript")).to_contain_text("【市审批服务局答复】")
        await audit(page, care=False)
        await shot(page, "webchat-rating-contact-replied")
        await page.get_by_label("请输入您想对办理单位说的话").fill(WRITE_BACK)
        await page.get_by_role("button", name="发送给办理单位").click()
        await expect(page.locator(".notice")).to_have_text("已转交办理单位，感谢您的反馈。")
        await expect(page.locator(".transcript")).to_contain_text(WRITE_BACK)
        rerate = page.get_by_role("form", name="请对本次处理结果进行评价：")
        await rerate.get_by_role("button", name="满意", exact=True).click()
        await expect(page.locator(".notice")).to_contain_text("已记录您的评价：满意")
        await expect(page.locator("dd.state")).to_have_text("已复评")
        await expect(page.get_by_role("form", name="请对本次处理结果进行评价：")).to_have_count(0)
        await audit(page, care=False)
        await shot(page, "webchat-rating-contact-rerated")
        stored = minyi_web.query(
            "SELECT state, rerating FROM follow_up_case WHERE id = ?", case_id
        )
        assert stored == [("已复评", "satisfied")]

        # The staff see what the citizen wrote and their 复评.
        await console.reload()
        await expect(console.locator("h1 .state")).to_have_text("已复评")
        await expect(console.locator("body")).to_contain_text(WRITE_BACK)
        assert errors == []
    finally:
        await phone.close()
        await desk.close()


async def test_good_rating_in_care_mode_and_english(
    browser: Browser, base_url: str, minyi_web: MinyiWeb, shot: Shot
) -> None:
    context = await browser.new_context(viewport=PHONE, base_url=base_url, locale="zh-CN")
    try:
        page = await context.new_page()
        cases = minyi_web.query("SELECT count(*) FROM follow_up_case")
        await page.goto(WINDOW)
        await page.get_by_role("button", name="关怀模式（大字）").click()
        await expect(page.locator("body")).to_have_class("care")
        await page.get_by_role("button", name="English").click()
        await expect(page.locator("html")).to_have_attribute("lang", "en")
        await expect(page.locator("h1")).to_have_text("Rate a service")
        await expect(page.locator("#question")).to_have_text(
            "Please rate the service you received:"
        )
        await expect(page.get_by_role("button", name="Leave care mode")).to_be_visible()
        size, height = await text_size(page)
        assert size >= 22
        assert height >= 1.5 * size
        await audit(page, care=True)
        await shot(page, "webchat-rating-care-en")
        await page.get_by_role("button", name="Satisfied", exact=True).click()
        await page.wait_for_url("**/c/rate/thanks")
        await expect(page.locator("h1")).to_have_text("Thank you")
        await expect(page.locator("main")).to_contain_text("Thank you for your rating!")
        await expect(page.locator("#contact-url")).to_have_count(0)
        await audit(page, care=True)
        await shot(page, "webchat-rating-care-en-thanks")
        assert minyi_web.query("SELECT count(*) FROM follow_up_case") == cases
        level = minyi_web.query("SELECT level FROM rating ORDER BY id DESC LIMIT 1")
        assert level == [("satisfied",)]
    finally:
        await context.close()
