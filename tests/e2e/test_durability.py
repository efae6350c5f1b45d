"""A 2xx means committed: SIGKILL the real ``minyi serve`` the moment a write's success
response arrives, restart it on the same SQLite file, and find the write there.

Each write kind is sent on a streamed request: the process is killed as soon as the status
line and headers are in, before the body is read, so a transaction that ended after the
response would be lost. Without killing, each of 20 rating pushes in a row is read back from
the file, through a read-only connection, right after its 200.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio

from surveys.accounts.access import StaffRole
from tests.e2e.harness import ConsoleClient, MinyiApi

pytestmark = pytest.mark.asyncio(loop_scope="module")

UNIT = "spj"  # 市审批服务局, a demo unit
_ids = itertools.count(1)


def _at() -> str:
    """An hour ago: inside the open half-year, never in the future."""
    return (datetime.now(UTC) - timedelta(hours=1)).isoformat()


def rating(source_id: str, level: str = "satisfied") -> dict[str, Any]:
    return {
        "source_id": source_id,
        "unit": UNIT,
        "level": level,
        "channel": 4,
        "rated_at": _at(),
    }


class Server:
    """The process, the tokens and console accounts the tests use."""

    def __init__(self, process: MinyiApi) -> None:
        self.process = process
        self.push: dict[str, str] = {}  # the unit's staff token: push, reply, move cases
        self.staff = "clerk"  # console account of the unit
        self.admin = "boss"  # console admin (imports)

    @property
    def base_url(self) -> str:
        return self.process.base_url

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, timeout=30)

    async def running(self) -> None:
        process = self.process.process
        if process is None or process.returncode is not None:
            await self.process.start_api()

    async def kill_on(
        self,
        method: str,
        url: str,
        expect: int,
        client: httpx.AsyncClient | None = None,
        **kwargs: Any,
    ) -> None:
        """Send one request; SIGKILL the server the moment its ``expect`` status arrives."""
        async with contextlib.AsyncExitStack() as stack:
            if client is None:
                client = await stack.enter_async_context(self.client())
            response = await stack.enter_async_context(client.stream(method, url, **kwargs))
            if response.status_code == expect:
                self.process.kill_now()
            else:
                body = (await response.aread()).decode(errors="replace")
                pytest.fail(f"{method} {url}: {response.status_code} (not {expect}): {body}")
        await self.process.stop(crash=True)  # reaps the killed process
        assert self.process.process is not None
        assert self.process.process.returncode == -9, "the server was not killed by SIGKILL"

    async def restart(self) -> None:
        await self.process.start_api()

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return self.process.read_only(sql, *params)

    async def open_case(self) -> int:
        """A 差评 pushed (not killed) opens a case of the unit; its id."""
        source_id = f"dur-bad-{next(_ids)}"
        async with self.client() as client:
            pushed = await client.post(
                "/api/v1/ratings", json=rating(source_id, "dissatisfied"), headers=self.push
            )
        assert pushed.status_code == 200, pushed.text
        assert pushed.json()["cases_opened"] == 1, pushed.text
        found = self.rows(
            "SELECT c.id FROM follow_up_case c JOIN rating r ON r.id = c.rating_id "
            "WHERE r.source_id = ?",
            source_id,
        )
        assert len(found) == 1
        case_id = int(found[0][0])
        async with self.client() as client:
            listed = await client.get(
                "/api/v1/cases", params={"state": "待核实", "limit": 200}, headers=self.push
            )
        assert listed.status_code == 200, listed.text
        assert case_id in [c["id"] for c in listed.json()["data"]]
        return case_id


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    process = MinyiApi(tmp_path_factory.mktemp("minyi-durability"))
    await process.prepare()
    found = Server(process)
    found.push = await process.token("durability-push", UNIT)
    await process.account(found.staff, StaffRole.staff, [UNIT])
    await process.account(found.admin, StaffRole.admin, [])
    await process.start_api()
    yield found
    await process.stop()
    assert "Traceback" not in process.log(), process.log()


@pytest_asyncio.fixture(loop_scope="module")
async def live(server: Server) -> Server:
    """The server, started again if the previous test killed it."""
    await server.running()
    return server


async def test_a_single_rating_survives_a_kill_after_its_200(live: Server) -> None:
    source_id = f"dur-one-{next(_ids)}"
    await live.kill_on("POST", "/api/v1/ratings", 200, json=rating(source_id), headers=live.push)
    await live.restart()
    assert live.rows("SELECT level FROM rating WHERE source_id = ?", source_id) == [("satisfied",)]


async def test_a_rating_batch_survives_a_kill_after_its_200(live: Server) -> None:
    prefix = f"dur-batch-{next(_ids)}-"
    batch = [rating(f"{prefix}{i}") for i in range(2000)]
    await live.kill_on("POST", "/api/v1/ratings", 200, json=batch, headers=live.push)
    await live.restart()
    stored = live.rows("SELECT count(*) FROM rating WHERE source_id LIKE ?", f"{prefix}%")
    assert stored == [(2000,)]


async def test_a_service_event_survives_a_kill_after_its_201(live: Server) -> None:
    case_no = f"BJDUR{next(_ids):010d}"
    event = {
        "case_no": case_no,
        "item_code": "11150200MB",
        "item_name": "建设工程规划许可证核发",
        "unit": UNIT,
        "window": "W03",
        "channel": 4,
        "finished_at": _at(),
        "link_token": f"rcpt-{case_no}",
    }
    await live.kill_on("POST", "/api/v1/service-events", 201, json=event, headers=live.push)
    await live.restart()
    assert live.rows("SELECT count(*) FROM service_event WHERE case_no = ?", case_no) == [(1,)]


async def test_a_case_reply_survives_a_kill_after_its_200(live: Server) -> None:
    case_id = await live.open_case()
    text = f"您好，已收到您的意见 #{next(_ids)}"
    body = {"actor": "王工", "text": text}
    await live.kill_on("POST", f"/api/v1/cases/{case_id}/reply", 200, json=body, headers=live.push)
    await live.restart()
    replies = live.rows(
        "SELECT actor, note FROM case_event WHERE case_id = ? AND kind = 'reply'", case_id
    )
    assert replies == [("王工", text)]


async def test_a_case_transition_survives_a_kill_after_its_200(live: Server) -> None:
    case_id = await live.open_case()
    body = {"actor": "王工", "to": "核实中", "note": "已联系"}
    url = f"/api/v1/cases/{case_id}/transition"
    await live.kill_on("POST", url, 200, json=body, headers=live.push)
    await live.restart()
    assert live.rows("SELECT state FROM follow_up_case WHERE id = ?", case_id) == [("核实中",)]
    async with live.client() as client:
        shown = await client.get(f"/api/v1/cases/{case_id}", headers=live.push)
    assert shown.status_code == 200, shown.text
    assert shown.json()["state"] == "核实中"


async def test_a_console_case_reply_survives_a_kill_after_its_303(live: Server) -> None:
    case_id = await live.open_case()
    console = ConsoleClient(live.base_url)
    try:
        await console.sign_in(live.staff)
        page = await console.get(f"/console/cases/{case_id}")
        assert page.status_code == 200, page.text
        text = f"控制台回复 #{next(_ids)}"
        url = f"/console/cases/{case_id}/reply"
        form = console.form({"text": text})
        await live.kill_on("POST", url, 303, console.client, data=form)
    finally:
        await console.aclose()
    await live.restart()
    replies = live.rows(
        "SELECT actor, note FROM case_event WHERE case_id = ? AND kind = 'reply'", case_id
    )
    assert replies == [(live.staff, text)]


async def test_a_console_ratings_import_survives_a_kill_after_its_200(live: Server) -> None:
    prefix = f"dur-import-{next(_ids)}-"
    at = _at()
    lines = "".join(f"{prefix}{i},{UNIT},满意,4,{at}\n" for i in range(50))
    data = f"source_id,unit,level,channel,rated_at\n{lines}".encode()
    console = ConsoleClient(live.base_url)
    try:
        await console.sign_in(live.admin)
        page = await console.get("/console/imports")
        assert page.status_code == 200, page.text
        await live.kill_on(
            "POST",
            "/console/imports",
            200,
            console.client,
            data=console.form(),
            files={"file": ("ratings.csv", data, "text/csv")},
        )
    finally:
        await console.aclose()
    await live.restart()
    stored = live.rows("SELECT count(*) FROM rating WHERE source_id LIKE ?", f"{prefix}%")
    assert stored == [(50,)]


async def test_each_rating_is_in_the_file_when_its_200_arrives(live: Server) -> None:
    """Not killed: 20 pushes in a row, each read back from the file right after its 200."""
    missing = []
    async with live.client() as client:
        for _ in range(20):
            source_id = f"dur-seq-{next(_ids)}"
            response = await client.post(
                "/api/v1/ratings", json=rating(source_id), headers=live.push
            )
            assert response.status_code == 200, response.text
            assert response.json()["created"] == [source_id]
            if not live.rows("SELECT 1 FROM rating WHERE source_id = ?", source_id):
                missing.append(source_id)
    assert missing == []
