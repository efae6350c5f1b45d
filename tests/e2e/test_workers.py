"""``minyi serve --workers 2`` in webhook mode: updates reach either worker, an update
delivered twice (or to both workers at once) is handled once, and one worker sends.

In the PostgreSQL + Redis run (``MINYI_TEST_BACKEND=postgres``) the workers share
PostgreSQL and aiogram's Redis storage, as when scaling out; otherwise one SQLite file.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.e2e.harness import MINYI, MinyiProcess, eventually, press, say
from tests.e2e.test_webhook import SECRET_HEADER, WEBHOOK_SECRET, _api_url, _survey_code
from tests.fakes.telegram import FakeTelegram

pytestmark = pytest.mark.asyncio(loop_scope="module")
WORKERS = 2


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


async def serve_workers(
    data_dir: Path, tg: FakeTelegram, **env: str
) -> AsyncIterator[MinyiProcess]:
    """``minyi serve --workers 2`` in webhook mode on a migrated database with the demo data,
    ready (the webhook set, /healthz answering) until the caller is done; ``env`` adds
    settings."""
    process = MinyiProcess(data_dir, tg.base_url)
    process.env["BOT_MODE"] = "webhook"
    process.env["WEBHOOK_URL"] = _api_url(process)
    process.env["WEBHOOK_SECRET"] = WEBHOOK_SECRET
    process.env.update(env)
    await process.cli("db", "upgrade")
    await process.cli("demo", "load")
    log = process.log_path.open("ab")
    process.process = await asyncio.create_subprocess_exec(
        MINYI,
        "serve",
        "--workers",
        str(WORKERS),
        env=process.env,
        cwd=process.data_dir,
        stdout=log,
        stderr=log,
    )
    log.close()
    started = process.process
    await tg.wait_until(
        lambda: tg.webhook is not None or started.returncode is not None,
        timeout=60,
        message="the workers did not set the webhook",
    )
    async with httpx.AsyncClient(base_url=_api_url(process), timeout=5) as client:
        for _ in range(300):
            try:
                if (await client.get("/healthz")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    yield process
    await process.stop()
    assert "Traceback" not in process.log(), process.log()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def minyi(
    tmp_path_factory: pytest.TempPathFactory, tg: FakeTelegram
) -> AsyncIterator[MinyiProcess]:
    async for process in serve_workers(tmp_path_factory.mktemp("minyi-workers"), tg):
        yield process


async def test_two_workers_serve_and_a_batch_delivered_twice_is_stored_once(
    tg: FakeTelegram, minyi: MinyiProcess
) -> None:
    assert minyi.process is not None
    assert len(_children(minyi.process.pid)) >= WORKERS, minyi.log()
    users = [tg.user(7300 + i) for i in range(4)]
    for user in users:
        await say(tg, user, f"/start s_{_survey_code()}_donghe")
        await press(tg, user, "12345政务服务便民热线")
        await press(tg, user, "完成")
        await press(tg, user, "满意")
    for user in users:
        await eventually(tg, lambda u=user: sorted(minyi.answers(u.id)), ["channels", "overall"])
    answers = minyi.query("SELECT count(*) FROM answer")
    sent_before = {user.id: tg.delivered(user) for user in users}

    # Telegram redelivers: every update again, twice at once, spread over both workers.
    recorded: list[dict[str, Any]] = list(tg.updates)
    async with httpx.AsyncClient(base_url=_api_url(minyi), timeout=30) as client:

        async def post(update: dict[str, Any]) -> int:
            response = await client.post(
                "/telegram/webhook", json=update, headers={SECRET_HEADER: WEBHOOK_SECRET}
            )
            return response.status_code

        statuses = await asyncio.gather(*(post(u) for u in recorded for _ in range(2)))
    assert set(statuses) == {200}
    await tg.settle(quiet=1.0)
    assert minyi.query("SELECT count(*) FROM answer") == answers
    assert {user.id: tg.delivered(user) for user in users} == sent_before
    assert tg.duplicates() == []


async def test_one_worker_sends_the_other_waits(minyi: MinyiProcess) -> None:
    """Only one of the workers holds the sender's lock (SQLite: a file lock)."""
    if os.environ.get("MINYI_TEST_BACKEND") == "postgres":
        rows = minyi.query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")
        assert rows[0][0] == 2  # the sender's and the jobs' locks, each held once
        return
    locks = sorted(minyi.data_dir.rglob("*.lock"))
    assert [p.name for p in locks] == ["minyi.db.scheduler.lock", "minyi.db.sender.lock"]
    for path in locks:  # held by a worker: nobody else can take it
        fd = os.open(path, os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
