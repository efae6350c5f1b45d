"""Browser tests: Debian's Chromium driven by async Playwright against the real ``minyi serve``.

One app process and one browser per test module (both are slow to start), a fresh browser
context per test. Setup is the project's own: ``make test`` runs ``make assets browser`` first
(scripts/assets.sh, scripts/fonts.sh, scripts/chromium.sh).

Fixtures:

- ``minyi_web``: ``minyi serve`` without BOT_TOKEN (API and static files only) on a free port,
  with a migrated temporary SQLite database holding the demo data (``MinyiWeb``, a
  ``MinyiProcess`` from tests/e2e/harness.py; ``.cli(...)``, ``.query(...)``, ``.log()``).
- ``base_url``: ``http://127.0.0.1:<port>`` of that process.
- ``browser``: headless Chromium (``/usr/bin/chromium``, or ``$CHROMIUM``); fails, never skips,
  when it is missing.
- ``page``: a page in a fresh context (zh-CN, 1280x900) whose relative URLs resolve against
  ``base_url``: ``await page.goto("/healthz")``.
- ``shot``: ``await shot(page, "name")`` saves test-output/screenshots/<name>.png.

Async tests here run in the module's event loop (the loop the module-scoped fixtures live in);
``pytest_collection_modifyitems`` below sets that for every async test in this folder.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, ViewportSize, async_playwright

from tests.e2e.harness import MINYI, MinyiProcess

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-output" / "screenshots"
HERE = Path(__file__).resolve().parent
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
LOCALE = "zh-CN"
VIEWPORT: ViewportSize = {"width": 1280, "height": 900}

Shot = Callable[[Page, str], Awaitable[Path]]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run every async test of this folder in the module's loop, as its fixtures are."""
    for item in items:
        if not item.path.is_relative_to(HERE):
            continue
        marker = item.get_closest_marker("asyncio")
        if marker is not None and not (marker.kwargs.get("loop_scope") or marker.args):
            item.add_marker(pytest.mark.asyncio(loop_scope="module"), append=False)


def chromium_path() -> str:
    """$CHROMIUM, else Debian's /usr/bin/chromium, else whatever `chromium` is on PATH."""
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium") or "/usr/bin/chromium"


class MinyiWeb(MinyiProcess):
    """``minyi serve`` with the API and static files only: no BOT_TOKEN, so no Telegram."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir, telegram_url="http://127.0.0.1:9")
        for name in ("BOT_TOKEN", "TELEGRAM_API_URL", "WEBHOOK_URL", "BOT_MODE"):
            self.env.pop(name, None)
        self.base_url = f"http://127.0.0.1:{self.env['API_PORT']}"

    async def start_api(self, timeout: float = 30) -> None:
        """Start ``minyi serve`` and wait until /healthz answers."""
        log = self.log_path.open("ab")
        self.process = await asyncio.create_subprocess_exec(
            MINYI, "serve", env=self.env, cwd=self.data_dir, stdout=log, stderr=log
        )
        log.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with httpx.AsyncClient(base_url=self.base_url, timeout=2) as client:
            while True:
                if self.process.returncode is not None:
                    pytest.fail(f"minyi serve exited ({self.process.returncode}):\n{self.log()}")
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if loop.time() > deadline:
                    await self.stop()
                    pytest.fail(f"no answer from /healthz in {timeout}s; log:\n{self.log()}")
                await asyncio.sleep(0.2)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def minyi_web(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[MinyiWeb]:
    """A migrated database with the demo data, and ``minyi serve`` answering HTTP."""
    process = MinyiWeb(tmp_path_factory.mktemp("minyi-web"))
    await process.cli("db", "upgrade")
    await process.cli("demo", "load")
    await process.cli("user", "add", "admin", "--role", "admin")  # the first account
    await process.start_api()
    yield process
    await process.stop()
    assert "Traceback" not in process.log(), process.log()


@pytest.fixture(scope="module")
def base_url(minyi_web: MinyiWeb) -> str:
    return minyi_web.base_url


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    executable = chromium_path()
    if not os.access(executable, os.X_OK):
        pytest.fail(
            f"no Chromium at {executable}: run `make browser` (scripts/chromium.sh installs "
            "Debian's chromium package), or set CHROMIUM=/path/to/chromium",
            pytrace=False,
        )
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser: Browser, base_url: str) -> AsyncIterator[Page]:
    context = await browser.new_context(locale=LOCALE, viewport=VIEWPORT, base_url=base_url)
    try:
        yield await context.new_page()
    finally:
        await context.close()


@pytest.fixture
def shot() -> Shot:
    """``await shot(page, name)``: a full-page PNG under test-output/screenshots/."""

    async def save(page: Page, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{re.sub(r'[^A-Za-z0-9._-]+', '-', name).strip('-')}.png"
        await page.screenshot(path=str(path), full_page=True)
        return path

    return save
