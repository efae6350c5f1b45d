"""PostgreSQL stopped while ``minyi serve`` runs: requests get a clear 503 (no 500, no
traceback, nothing half-stored), and everything works again once the server is back.

The cluster is one of this test's own (``scripts/postgres.sh``), so stopping it disturbs no
other test.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from tests import servers
from tests.e2e.harness import MinyiApi

pytestmark = pytest.mark.asyncio(loop_scope="module")
UNIT = "spj"


def rating(source_id: str) -> dict[str, object]:
    at = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    return {
        "source_id": source_id,
        "unit": UNIT,
        "level": "satisfied",
        "channel": 4,
        "rated_at": at,
    }


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def outage(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[MinyiApi, str, int]]:
    folder = tempfile.mkdtemp(prefix="minyi-outage-")
    Path(folder).chmod(0o777)  # the server's own user must reach it when run as root
    cluster = servers.start_postgres(folder)
    try:
        cluster.create_database("minyi_outage")
        process = MinyiApi(tmp_path_factory.mktemp("minyi-outage"))
        process.database_url = cluster.url("minyi_outage")
        process.env["DATABASE_URL"] = process.database_url
        process.env.pop("REDIS_URL", None)
        await process.prepare()
        process.push = await process.token("outage-push", UNIT)  # type: ignore[attr-defined]
        await process.start_api()
        yield process, folder, cluster.port
        await process.stop()
        assert "Traceback" not in process.log(), process.log()
    finally:
        servers.stop_postgres(folder)


async def test_a_stopped_database_gives_503_and_recovery_when_it_is_back(
    outage: tuple[MinyiApi, str, int],
) -> None:
    process, folder, port = outage
    headers = process.push  # type: ignore[attr-defined]
    async with httpx.AsyncClient(base_url=process.base_url, timeout=30) as client:
        stored = await client.post("/api/v1/ratings", json=rating("outage-1"), headers=headers)
        assert stored.status_code == 200, stored.text

        await asyncio.to_thread(servers.stop_postgres, folder)
        for method, url, body in (
            ("GET", "/healthz", None),
            ("GET", "/api/v1/units", None),
            ("POST", "/api/v1/ratings", rating("outage-2")),
        ):
            refused = await client.request(method, url, json=body, headers=headers)
            assert refused.status_code == 503, (url, refused.status_code, refused.text)
            assert refused.json() == {
                "code": "error.database_unavailable",
                "message": "数据库暂时无法连接，本次操作未保存，请稍后重试。",
            }
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert "数据库" in ready.json()["message"]

        started = await asyncio.to_thread(
            servers.run_script, servers.POSTGRES_SCRIPT, "start", folder, str(port)
        )
        assert started.returncode == 0, servers.script_output(started)
        for _ in range(100):  # the pool reconnects on its own
            if (await client.get("/healthz")).status_code == 200:
                break
            await asyncio.sleep(0.2)
        again = await client.post("/api/v1/ratings", json=rating("outage-2"), headers=headers)
        assert again.status_code == 200, again.text
    rows = process.read_only(
        "SELECT source_id FROM rating WHERE source_id LIKE 'outage-%' ORDER BY source_id"
    )
    assert rows == [("outage-1",), ("outage-2",)]
