"""The body limit: refused before parsing and before sign-in, by declared length or by count."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from httpx import ASGITransport, AsyncClient
from starlette.types import Message, Receive, Scope, Send

from api.limits import MB, BodyLimit, limit_for
from api.main import create_app
from surveys.core.db import SessionMaker
from surveys.core.settings import Settings

JSON_413 = {
    "code": "error.body_too_large",
    "message": "请求内容超过 1 MB 的上限，未处理。文件请拆分后分别上传。",
}


class Recorder:
    """An application that reads the whole body and answers with its size."""

    def __init__(self) -> None:
        self.calls = 0
        self.received = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        while True:
            message: Message = await receive()
            if message["type"] == "http.disconnect":
                break
            self.received += len(message.get("body", b""))
            if not message.get("more_body", False):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(self.received).encode()})


@pytest.fixture
def small(settings: Settings) -> Settings:
    return settings.model_copy(update={"max_body_mb": 1, "max_upload_mb": 3})


async def chunks(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    """A body sent without Content-Length (chunked), 64 KiB at a time."""
    for start in range(0, total, size):
        yield b"x" * min(size, total - start)


class TestMiddleware:
    @pytest.fixture
    def app(self) -> Recorder:
        return Recorder()

    @pytest.fixture
    async def client(self, app: Recorder, small: Settings) -> AsyncIterator[AsyncClient]:
        limited = BodyLimit(app, settings=small)
        async with AsyncClient(transport=ASGITransport(app=limited), base_url="http://t") as c:
            yield c

    async def test_a_declared_length_over_the_limit_is_refused_unread(
        self, client: AsyncClient, app: Recorder
    ) -> None:
        response = await client.post("/api/v1/x", content=b"{" * (MB + 1))

        assert response.status_code == 413
        assert response.json() == JSON_413
        assert app.calls == 0

    async def test_a_body_at_the_limit_passes(self, client: AsyncClient, app: Recorder) -> None:
        response = await client.post("/api/v1/x", content=b"x" * MB)

        assert response.status_code == 200
        assert response.text == str(MB)

    async def test_a_streamed_body_is_cut_where_it_passes_the_limit(
        self, client: AsyncClient, app: Recorder
    ) -> None:
        response = await client.post("/api/v1/x", content=chunks(5 * MB))

        assert response.status_code == 413
        assert response.json() == JSON_413
        # The application got the body up to the limit, then saw the client leave; its own
        # answer was dropped.
        assert MB - 64 * 1024 < app.received <= MB

    async def test_console_paths_get_a_chinese_page(self, client: AsyncClient) -> None:
        response = await client.post("/console/login", content=chunks(2 * MB))

        assert response.status_code == 413
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert "<title>请求内容过大</title>" in response.text
        assert "请求内容超过 1 MB 的上限" in response.text

    async def test_uploads_may_be_larger(self, client: AsyncClient) -> None:
        for path in ("/console/imports", "/console/units", "/console/scoring/import"):
            assert (await client.post(path, content=b"x" * (2 * MB))).status_code == 200
            assert (await client.post(path, content=b"x" * (3 * MB + 1))).status_code == 413


class TestLimitFor:
    @pytest.mark.parametrize(
        ("method", "path", "headers", "expected"),
        [
            ("POST", "/api/v1/ratings", [(b"authorization", b"Bearer abc")], 20),
            ("POST", "/api/v1/ratings", [], 2),  # no token: never more than JSON's limit
            ("POST", "/api/v1/ratings", [(b"authorization", b"Basic abc")], 2),
            ("POST", "/api/v1/surveys", [(b"authorization", b"Bearer abc")], 2),
            ("POST", "/console/imports", [], 20),
            ("POST", "/console/scoring/import", [], 20),
            ("POST", "/console/login", [], 2),
            ("GET", "/console/imports", [], 2),
        ],
    )
    def test_which_requests_get_the_upload_limit(
        self, method: str, path: str, headers: list[tuple[bytes, bytes]], expected: int
    ) -> None:
        scope = {"type": "http", "method": method, "path": path, "headers": headers}

        assert limit_for(scope, body=2, upload=20) == expected


class TestInTheApp:
    """In create_app the limit comes before the CSRF check, the session and the token."""

    @pytest.fixture
    async def client(
        self, small: Settings, sessionmaker: SessionMaker
    ) -> AsyncIterator[AsyncClient]:
        app = create_app(small, sessionmaker)
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as c:
            yield c

    async def test_an_anonymous_json_body_over_the_limit_is_413_not_401(
        self, client: AsyncClient
    ) -> None:
        big = await client.post(
            "/api/v1/ratings", content=b"[" + b"{}," * (MB // 3) + b"{}]",
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        small = await client.post("/api/v1/ratings", json=[{}])

        assert (big.status_code, big.json()) == (413, JSON_413)
        assert small.status_code == 401

    async def test_a_batch_with_a_token_gets_the_upload_limit_and_then_the_token_is_checked(
        self, client: AsyncClient
    ) -> None:
        body = b"[" + b"{}," * (2 * MB // 3) + b"{}]"
        headers = {"Content-Type": "application/json", "Authorization": "Bearer wrong"}

        response = await client.post("/api/v1/ratings", content=body, headers=headers)

        assert response.status_code == 401

    async def test_a_large_sign_in_form_is_413_before_the_csrf_check(
        self, client: AsyncClient
    ) -> None:
        form = b"username=a&password=" + b"x" * (2 * MB)
        headers = {"Content-Type": "application/x-www-form-urlencoded"}

        response = await client.post("/console/login", content=form, headers=headers)
        small = await client.post("/console/login", content=form[:100], headers=headers)

        assert response.status_code == 413
        assert "请求内容超过 1 MB 的上限" in response.text
        assert small.status_code == 403  # no CSRF token: the form itself reaches the check
