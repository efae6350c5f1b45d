"""Reads are never refused while one long write runs: the real ``minyi serve`` stores a
60,000-row rating batch while waves of 20 concurrent API reads and ``/healthz`` are sent.

The reads go out only once the batch's transaction holds SQLite's write lock (seen from this
process: ``BEGIN IMMEDIATE`` on the file is refused), and keep going, wave after wave, until
the batch is answered. Every read and the batch must succeed.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from tests.e2e.harness import MinyiApi

pytestmark = pytest.mark.asyncio(loop_scope="module")

UNIT = "spj"
BATCH_ROWS = 60_000  # the API takes a batch of any size: one request, one transaction
READERS = 20
MAX_WAVES = 3
READS = ["/api/v1/ratings", "/api/v1/cases", "/api/v1/units"]
DEADLINE = 90.0  # a bound for a hung server, not an expectation (~20 s on 2 idle cores)


def write_lock_held(db: Path) -> bool:
    """Whether another connection holds the file's write lock (never waits for it)."""
    connection = sqlite3.connect(db, timeout=0, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return True
        raise
    else:
        connection.execute("ROLLBACK")
        return False
    finally:
        connection.close()


@dataclass
class Reads:
    statuses: list[tuple[str, int | str]] = field(default_factory=list)
    waves_sent_under_lock: int = 0
    answered_under_lock: int = 0  # reads answered while the batch still held the lock


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def minyi(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[MinyiApi]:
    process = MinyiApi(tmp_path_factory.mktemp("minyi-read-during-write"))
    await process.prepare()
    await process.start_api()
    yield process
    await process.stop()
    assert "Traceback" not in process.log(), process.log()


async def test_reads_and_healthz_succeed_while_a_60000_row_batch_is_stored(
    minyi: MinyiApi,
) -> None:
    headers = await minyi.token("bulk-push", UNIT)
    at = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    batch = [
        {
            "source_id": f"bulk-{i}",
            "unit": UNIT,
            "level": "satisfied",
            "channel": 4,
            "rated_at": at,
        }
        for i in range(BATCH_ROWS)
    ]
    body = json.dumps(batch).encode()
    before = minyi.read_only("SELECT count(*) FROM rating")[0][0]
    reads = Reads()
    timeout = httpx.Timeout(DEADLINE, connect=10)
    limits = httpx.Limits(max_connections=READERS + 4)

    async with (
        httpx.AsyncClient(base_url=minyi.base_url, timeout=timeout, limits=limits) as client,
        asyncio.timeout(DEADLINE + 5),
    ):
        push = asyncio.create_task(
            client.post(
                "/api/v1/ratings",
                content=body,
                headers={**headers, "Content-Type": "application/json"},
            )
        )

        async def read(url: str) -> None:
            try:
                response = await client.get(url, headers=headers)
            except httpx.HTTPError as exc:
                reads.statuses.append((url, f"{type(exc).__name__}: {exc}"))
                return
            reads.statuses.append((url, response.status_code))
            if not push.done() and write_lock_held(minyi.db_path):
                reads.answered_under_lock += 1

        # Wait until the batch's transaction holds the write lock (or the batch is done).
        while not push.done() and not write_lock_held(minyi.db_path):
            await asyncio.sleep(0.05)
        for _ in range(MAX_WAVES):
            if push.done() or not write_lock_held(minyi.db_path):
                break
            reads.waves_sent_under_lock += 1
            wave = [read(READS[i % len(READS)]) for i in range(READERS)]
            await asyncio.gather(*wave, read("/healthz"))
        pushed = await push

    assert pushed.status_code == 200, pushed.text[:2000]
    received = pushed.json()
    assert received["errors"] == []
    assert len(received["created"]) == BATCH_ROWS
    assert minyi.read_only("SELECT count(*) FROM rating")[0][0] == before + BATCH_ROWS
    failed = [(url, status) for url, status in reads.statuses if status not in (200,)]
    assert failed == [], f"{len(failed)} of {len(reads.statuses)} reads failed: {failed[:5]}"
    # The reads really ran during the write: sent while the lock was held, and answered too.
    assert reads.waves_sent_under_lock >= 1
    assert len(reads.statuses) == reads.waves_sent_under_lock * (READERS + 1)
    assert reads.answered_under_lock >= 1
    print(  # shown with -s: how much overlapped
        f"\n{BATCH_ROWS} rows stored; {reads.waves_sent_under_lock} wave(s) of {READERS} reads"
        f" + /healthz sent under the write lock, {len(reads.statuses)} reads all 200,"
        f" {reads.answered_under_lock} answered while the batch held the lock"
    )
