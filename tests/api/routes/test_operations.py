"""Machine endpoints: /readyz (database and Redis answer, within two seconds, else 503 with
the JSON error in Chinese) and /metrics (Prometheus text, behind an API token, the outbox
gauges read at the scrape)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient, Response

from api.main import create_app
from api.routes import health
from surveys.accounts import tokens
from surveys.accounts.access import StaffRole
from surveys.core.db import SessionMaker, create_engine, create_sessionmaker, unit_of_work
from surveys.core.settings import Settings
from surveys.delivery import outbox
from surveys.delivery.outbox import Result

CHAT_ID = 6_660_004_321


async def call(app: FastAPI, path: str, headers: dict[str, str] | None = None) -> Response:
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        return await client.get(path, headers=headers)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again on leaving: nothing listens


@pytest.fixture
async def silent_server() -> AsyncIterator[int]:
    """A port that accepts connections and never says a word (a hung Redis)."""
    held: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    yield int(server.sockets[0].getsockname()[1])
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


def with_redis(settings: Settings, url: str) -> Settings:
    return settings.model_copy(update={"redis_url": url})


def assert_not_ready(response: Response, part: str) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "5"
    assert response.json() == {
        "code": "error.not_ready",
        "message": f"服务尚未就绪：{part}无法连接。",
    }


class TestReadyz:
    async def test_ready_when_the_database_answers(
        self, settings: Settings, sessionmaker: SessionMaker
    ) -> None:
        response = await call(create_app(settings, sessionmaker), "/readyz")

        assert (response.status_code, response.json()) == (200, {"status": "ready"})

    async def test_not_ready_when_redis_is_configured_and_refuses(
        self, settings: Settings, sessionmaker: SessionMaker
    ) -> None:
        configured = with_redis(settings, f"redis://127.0.0.1:{closed_port()}/0")

        response = await call(create_app(configured, sessionmaker), "/readyz")

        assert_not_ready(response, "Redis")

    async def test_a_silent_redis_is_not_waited_for_past_the_timeout(
        self, settings: Settings, sessionmaker: SessionMaker, silent_server: int
    ) -> None:
        configured = with_redis(settings, f"redis://127.0.0.1:{silent_server}/0")
        started = time.monotonic()

        response = await call(create_app(configured, sessionmaker), "/readyz")

        assert_not_ready(response, "Redis")
        assert time.monotonic() - started < health.READY_TIMEOUT + 1.5

    async def test_not_ready_when_the_database_does_not_answer(self, settings: Settings) -> None:
        url = f"postgresql+psycopg://minyi:x@127.0.0.1:{closed_port()}/minyi"
        engine = create_engine(url)
        configured = with_redis(settings, f"redis://127.0.0.1:{closed_port()}/0")
        try:
            response = await call(create_app(configured, create_sessionmaker(engine)), "/readyz")
        finally:
            await engine.dispose()

        assert_not_ready(response, "数据库、Redis")  # both named, checked at once


class TestMetrics:
    async def test_needs_an_api_token(
        self, settings: Settings, sessionmaker: SessionMaker
    ) -> None:
        app = create_app(settings, sessionmaker)

        missing = await call(app, "/metrics")
        response = await call(app, "/metrics", {"Authorization": "Bearer my_unknown"})

        assert missing.status_code == 401

        assert response.status_code == 401
        assert response.json()["code"].startswith("error.")

    async def test_the_outbox_gauges_count_the_rows_at_the_scrape(
        self, settings: Settings, sessionmaker: SessionMaker
    ) -> None:
        now = datetime.now(UTC)
        async with unit_of_work(sessionmaker) as session:
            _, raw = await tokens.create_token(
                session=session, name="prometheus", unit=None, role=StaffRole.viewer
            )
            for n in range(3):
                await outbox.enqueue(
                    session,
                    chat_id=CHAT_ID + n,
                    method="sendMessage",
                    payload={"chat_id": CHAT_ID + n, "text": "您好"},
                    now=now - timedelta(minutes=n),
                )
            failed = await outbox.enqueue(
                session, chat_id=CHAT_ID + 9, method="sendMessage", payload={}, now=now
            )
            await outbox.settle(
                session, message_id=failed, result=Result.failed, outcome="400", now=now
            )
        app = create_app(settings, sessionmaker)

        response = await call(app, "/metrics", {"Authorization": f"Bearer {raw}"})

        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/plain")
        lines = response.text.splitlines()
        assert "minyi_outbox_waiting 3.0" in lines
        assert "minyi_outbox_failed 1.0" in lines
        assert "minyi_outbox_unreachable 0.0" in lines
        oldest = next(
            line for line in lines if line.startswith("minyi_outbox_oldest_age_seconds ")
        )
        assert 120 <= float(oldest.split()[1]) < 180
        assert "# TYPE minyi_outbox_sends_total counter" in lines
        assert str(CHAT_ID) not in response.text
