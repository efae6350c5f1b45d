"""The console at phone width (390 x 844), as an administrator, unit staff and a supervisor:
no page is wider than the screen, and no table cell is squeezed to a character per line.

The pages are found by crawling: from the dashboard, every same-origin link under /console
(GET pages only: no sign-out, downloads, exports or PDFs), one page per shape of address
(``/console/cases/12`` and ``/console/cases/40`` are one shape; so are two pager links), so
pages added later are measured too. Screenshots: test-output/screenshots/phone_*.png.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from urllib.parse import parse_qsl, urlsplit

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Error, Page, ViewportSize, expect

from tests.browser.conftest import LOCALE, MinyiWeb, Shot

pytestmark = pytest.mark.asyncio(loop_scope="module")
PHONE: ViewportSize = {"width": 390, "height": 844}
PASSWORD = "phone-width-password-1"
MAX_PAGES = 80  # per account; a crawl that finds more has found a loop, not pages
# Addresses that are not pages to look at: they sign out, download or print to PDF.
NOT_PAGES = re.compile(r"/logout|/export|/pdf$|\.(csv|xlsx|pdf|json|zip)$|/template|/download")

# How wide the page is, and the table cells narrower than two characters whose text wraps
# (the "one character per line" column). A cell holding one short word on one line is fine.
MEASURE = """() => {
  const squeezed = [];
  for (const cell of document.querySelectorAll('td, th')) {
    const text = cell.innerText.replace(/\\s+/g, '');
    const box = cell.getBoundingClientRect();
    if (text.length < 2 || box.width === 0) continue;
    const style = getComputedStyle(cell);
    const padding = parseFloat(style.paddingLeft) + parseFloat(style.paddingRight);
    const inner = cell.clientWidth - padding;
    if (inner >= 2 * parseFloat(style.fontSize)) continue;
    const range = document.createRange();
    range.selectNodeContents(cell);
    const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
    const width = Math.round(box.width);
    if (tops.size > 1) squeezed.push(`${cell.tagName} "${text.slice(0, 12)}" ${width}px`);
  }
  return {
    width: document.documentElement.scrollWidth,
    viewport: window.innerWidth,
    squeezed: squeezed.slice(0, 5),
  };
}"""
WIDTH = "() => document.documentElement.scrollWidth"
LINKS = """() => [...document.querySelectorAll('a[href]')]
  .filter((a) => !a.hasAttribute('download'))
  .map((a) => a.href)"""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def minyi_web(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[MinyiWeb]:
    """The demo with its activity (ratings, cases, imports, 考评结果, the account ``admin``):
    full tables are what a phone has to fit."""
    process = MinyiWeb(tmp_path_factory.mktemp("minyi-phone"))
    await process.cli("db", "upgrade")
    await process.cli("demo", "load")
    await process.cli("demo", "activity")
    await process.start_api()
    yield process
    await process.stop()
    assert "Traceback" not in process.log(), process.log()


def shape(url: str) -> str:
    """One key per kind of page: ids and codes after /console/<page>/ and the values of the
    query are left out (``/console/cases/*?state``)."""
    parts = urlsplit(url)
    segments = parts.path.strip("/").split("/")
    path = "/".join(segments[:2] + ["*"] * (len(segments) - 2))
    keys = sorted({key for key, _ in parse_qsl(parts.query, keep_blank_values=True)})
    return f"/{path}?{'&'.join(keys)}"


def page_worth_visiting(url: str, origin: str) -> bool:
    parts = urlsplit(url)
    return (
        f"{parts.scheme}://{parts.netloc}" == origin
        and parts.path.startswith("/console")
        and not NOT_PAGES.search(parts.path)
    )


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
    await expect(page).to_have_url(re.compile(r"/console/password$"))
    await page.fill("input[name=current]", password)
    await page.fill("input[name=new]", PASSWORD)
    await page.fill("input[name=repeat]", PASSWORD)
    await page.click("main button[type=submit]")
    await expect(page).to_have_url(re.compile(r"/console/dashboard$"))
    return context, page


async def crawl(page: Page, base_url: str, *starts: str) -> dict[str, dict[str, object]]:
    """Every kind of console page reachable from the dashboard (and ``starts``), measured:
    shape → figures."""
    measured: dict[str, dict[str, object]] = {}
    queue = [f"{base_url}{path}" for path in ("/console/dashboard", *starts)]
    seen = {shape(url) for url in queue}
    while queue and len(measured) < MAX_PAGES:
        url = queue.pop(0)
        try:
            response = await page.goto(url)
        except Error as error:  # a link that turned out to be a download
            if "Download is starting" in str(error):
                continue
            raise
        if response is None or "text/html" not in (response.headers.get("content-type") or ""):
            continue
        await page.wait_for_load_state("load")
        figures = await page.evaluate(MEASURE)
        figures["url"] = url.removeprefix(base_url)
        figures["status"] = response.status
        measured[shape(url)] = figures
        for link in await page.evaluate(LINKS):
            link = link.split("#")[0]
            if page_worth_visiting(link, base_url) and shape(link) not in seen:
                seen.add(shape(link))
                queue.append(link)
    return measured


async def case_pages(minyi_web: MinyiWeb, role: tuple[str, ...]) -> list[str]:
    """A case the account may open, in case the queue's first page links none."""
    unit = role[role.index("--unit") + 1] if "--unit" in role else None
    rows = minyi_web.query(
        "SELECT c.id FROM follow_up_case c JOIN unit u ON u.id = c.unit_id "
        "WHERE ? IS NULL OR u.code = ? ORDER BY c.id LIMIT 1",
        unit,
        unit,
    )
    return [f"/console/cases/{rows[0][0]}"] if rows else []


def problems(measured: dict[str, dict[str, object]]) -> list[str]:
    found = []
    for figures in measured.values():
        if int(str(figures["width"])) > int(str(figures["viewport"])):
            found.append(f"{figures['url']}: {figures['width']} px wide in {figures['viewport']}")
        if figures["squeezed"]:
            found.append(f"{figures['url']}: squeezed cells {figures['squeezed']}")
    return found


@pytest.mark.parametrize(
    ("username", "role", "must_see"),
    [
        (
            "phone-admin",
            ("admin",),
            {
                "/console/cases?",
                "/console/cases/*?",
                "/console/results?",
                "/console/scoring?",
                "/console/feedback/*?period",
                "/console/audit?",
            },
        ),
        ("phone-staff", ("staff", "--unit", "spj"), {"/console/cases/*?", "/console/results?"}),
        ("phone-supervisor", ("supervisor",), {"/console/cases/*?", "/console/cases?"}),
    ],
)
async def test_no_console_page_is_wider_than_a_phone(
    browser: Browser,
    base_url: str,
    minyi_web: MinyiWeb,
    username: str,
    role: tuple[str, ...],
    must_see: set[str],
) -> None:
    context, page = await sign_in(browser, base_url, minyi_web, username, *role)
    try:
        measured = await crawl(page, base_url, *await case_pages(minyi_web, role))
    finally:
        await context.close()
    assert must_see <= set(measured), "\n".join(f"{k} {v}" for k, v in measured.items())
    assert not [f for f in measured.values() if int(str(f["status"])) >= 500], measured
    assert problems(measured) == [], "\n".join(problems(measured))


async def test_phone_screenshots_of_the_queue_dashboard_and_results(
    browser: Browser, base_url: str, minyi_web: MinyiWeb, shot: Shot
) -> None:
    context, page = await sign_in(browser, base_url, minyi_web, "phone-shots", "admin")
    try:
        await page.wait_for_selector("body[data-charts-ready='1']")
        await shot(page, "phone_dashboard")

        # The queue shows a card per case on a phone: every row's cells one under another,
        # each led by its column's name, and nothing wider than the screen.
        await page.goto("/console/cases")
        rows = page.locator("main table.cases tbody tr")
        await expect(rows.first).to_be_visible()
        card = await rows.first.evaluate(
            "(r) => [getComputedStyle(r).display, r.getBoundingClientRect().width,"
            " getComputedStyle(r.querySelector('td.assignee'), '::before').content]"
        )
        assert card[0] == "block", card
        assert card[1] <= PHONE["width"], card
        assert "承办人" in card[2], card
        assert await page.evaluate(WIDTH) <= PHONE["width"]
        await shot(page, "phone_queue")

        await page.goto("/console/scoring")
        await shot(page, "phone_scoring")
        feedback = page.locator("a[href^='/console/feedback/']").first
        await feedback.click()
        await expect(page).to_have_url(re.compile(r"/console/feedback/"))
        await shot(page, "phone_feedback")

        # The audit log speaks Chinese, an entry per card.
        await page.goto("/console/audit")
        actions = page.locator("table.audit td.action")
        for label in ("修改密码", "登录", "创建控制台账号"):
            await expect(actions.filter(has_text=label).first).to_be_visible()
        await expect(page.locator("table.audit thead")).to_be_hidden()
        await shot(page, "phone_audit")
    finally:
        await context.close()
