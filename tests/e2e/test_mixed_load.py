"""Everything at once on SQLite: 50 citizens answering in the bot, a 60,000-row ratings import
through the console and the office reloading its heaviest pages, all against one real
``minyi serve`` (bot and API in one process) and the fake Telegram Bot API server.

Every request must succeed, every citizen must reach the end of the survey with every answer
stored, and the import must store all of its rows: nothing may fail with "database is locked".
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import pytest_asyncio

from surveys.accounts.access import StaffRole
from tests.e2e.harness import ConsoleClient, MinyiProcess, prompt_message
from tests.e2e.test_bot_survey import _survey_code
from tests.fakes.telegram import FakeMessage, FakeTelegram, FakeUser

pytestmark = pytest.mark.asyncio(loop_scope="module")

CITIZENS = 50
IMPORT_ROWS = 60_000
UNIT = "spj"
OFFICE = "office"
# The satisfied online path of the demo survey: (button, whether it only ticks an option).
PATH = [
    ("蒙速办APP", True),
    ("政府网站", True),
    ("完成", False),
    ("满意", False),
    ("非常满意", False),
    ("0次（全程网上办理）", False),
    ("9", False),
    ("满意", False),
    ("基本满意", False),
    ("30—44岁", False),
    ("跳过", False),
]
# channels (two ticks, then 完成), overall, online_experience, trips, recommend,
# city_governance, data_protection, age, and the skipped suggestion
ANSWERS_PER_CITIZEN = 9
HEAVY_PAGES = ["/console/dashboard", "/console/scoring", "/api/v1/indicators?group_by=item"]
DEADLINE = 600.0  # a bound for a hung server, not an expectation (~60 s on 2 idle cores)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def minyi(
    tmp_path_factory: pytest.TempPathFactory, tg: FakeTelegram
) -> AsyncIterator[MinyiProcess]:
    process = MinyiProcess(tmp_path_factory.mktemp("minyi-mixed"), tg.base_url)
    # Telegram's own pace is held elsewhere (test_delivery.py); here the bot sends at once.
    process.env.update(SEND_PER_SECOND="10000", API_HOST="127.0.0.1", LOG_LEVEL="WARNING")
    if process.database_url is not None:
        pytest.fail("this test is about SQLite: run it on the default backend")
    await process.cli("db", "upgrade")
    await process.cli("demo", "load")
    await process.cli("user", "add", "admin", "--role", "admin")  # the first account
    await process.account(OFFICE, StaffRole.admin, [])
    await process.start(tg)
    yield process
    await process.stop()
    assert "Traceback" not in process.log(), process.log()


def _newer_prompt(tg: FakeTelegram, user: FakeUser, after: FakeMessage) -> bool:
    """A question sent after ``after`` (the bot moved on), or the thank-you message."""
    messages = tg.messages(user)
    return any(m.seq > after.seq and (m.buttons or "感谢" in (m.text or "")) for m in messages)


async def _answer(tg: FakeTelegram, user: FakeUser, code: str, done: list[int]) -> None:
    user.send_text(f"/start s_{code}_kundulun")
    await tg.wait_until(
        lambda: any(m.buttons for m in tg.messages(user)), timeout=DEADLINE, message="first"
    )
    for label, tick in PATH:
        message = prompt_message(tg, user)
        edits = message.current.seq
        update = tg.press(user, message, label)
        await tg.wait_for_callback_answer(update, timeout=DEADLINE)
        if tick:  # the same question, edited to show the tick
            await tg.wait_until(
                lambda m=message, e=edits: m.current.seq > e, timeout=DEADLINE, message=label
            )
        else:
            await tg.wait_until(
                lambda m=message: _newer_prompt(tg, user, m), timeout=DEADLINE, message=label
            )
    done.append(user.id)


def _ratings_csv() -> bytes:
    at = (datetime.now(UTC) - timedelta(hours=2)).isoformat(timespec="seconds")
    lines = "".join(
        f"mixed-{i},{UNIT},{'不满意' if i % 13 == 0 else '满意'},4,{at}\n"
        for i in range(IMPORT_ROWS)
    )
    return f"source_id,unit,level,channel,rated_at\n{lines}".encode()


async def test_bot_import_and_heavy_pages_at_once_all_succeed(
    tg: FakeTelegram, minyi: MinyiProcess
) -> None:
    base = f"http://127.0.0.1:{minyi.env['API_PORT']}"
    code = _survey_code()
    users = [tg.user(700_000 + i) for i in range(CITIZENS)]
    importer = ConsoleClient(base)
    reader = ConsoleClient(base)
    headers = await minyi.token("mixed-reader", None)
    statuses: list[tuple[str, int | str]] = []
    before = minyi.query("SELECT count(*) FROM rating")[0][0]
    try:
        await importer.sign_in(OFFICE)
        await reader.sign_in(OFFICE)
        page = await importer.get("/console/imports")
        assert page.status_code == 200, page.text
        importing = asyncio.create_task(
            importer.client.post(
                "/console/imports",
                data=importer.form(),
                files={"file": ("ratings.csv", _ratings_csv(), "text/csv")},
                timeout=DEADLINE,
            )
        )
        finished: list[int] = []
        citizens = asyncio.gather(*(_answer(tg, user, code, finished) for user in users))

        async def read_pages() -> None:
            # Until the import and every conversation are done, at least one round.
            rounds = 0
            while rounds == 0 or not (importing.done() and citizens.done()):
                for url in HEAVY_PAGES:
                    client = reader.client
                    extra = headers if url.startswith("/api/") else None
                    try:
                        response = await client.get(url, headers=extra, timeout=DEADLINE)
                    except httpx.HTTPError as exc:
                        statuses.append((url, f"{type(exc).__name__}: {exc}"))
                        continue
                    statuses.append((url, response.status_code))
                rounds += 1

        try:
            async with asyncio.timeout(DEADLINE):
                _, imported, _ = await asyncio.gather(read_pages(), importing, citizens)
        except TimeoutError:
            pytest.fail(
                f"not done in {DEADLINE:.0f} s: import done {importing.done()},"
                f" {len(finished)} of {CITIZENS} citizens finished, {len(statuses)} page loads"
                f" ({[s for s in statuses if s[1] != 200][:3]} failed)\n{minyi.log()[-3000:]}"
            )
    finally:
        await importer.aclose()
        await reader.aclose()

    assert imported.status_code == 200, imported.text[-2000:]
    stored = minyi.query("SELECT count(*) FROM rating WHERE source_id LIKE 'mixed-%'")[0][0]
    assert stored == IMPORT_ROWS
    assert minyi.query("SELECT count(*) FROM rating")[0][0] == before + IMPORT_ROWS
    failed = [(url, status) for url, status in statuses if status != 200]
    assert failed == [], f"{len(failed)} of {len(statuses)} page loads failed: {failed[:5]}"
    assert len(statuses) >= len(HEAVY_PAGES)
    first = minyi.answers(users[0].id)
    assert len(first) == ANSWERS_PER_CITIZEN
    for user in users:
        assert minyi.responses(user.id) == [("kundulun", "completed")], user.id
        assert minyi.answers(user.id) == first, user.id  # the same path, the same answers
    log = minyi.log()
    assert "database is locked" not in log
    assert "DatabaseBusy" not in log
    print(  # shown with -s
        f"\n{CITIZENS} citizens finished, {IMPORT_ROWS} rows imported,"
        f" {len(statuses)} heavy page loads all 200"
    )
