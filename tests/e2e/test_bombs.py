"""No file or request takes the real ``minyi serve`` down.

Each bomb is sent to the running server: sparse workbooks that declare 100 million and 17
billion cells, a zip bomb, a 100 MB JSON body without a token, a 200 MB sign-in form sent
chunked and a survey file nested 20,000 levels deep. Each must be refused clearly (413 or
422, in Chinese) while ``/healthz`` keeps answering within a second, and the server's peak
resident memory while it handles the bomb (VmHWM, reset just before) stays under 300 MB.
The figures are printed (``pytest -rA`` shows them).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from surveys.accounts.access import StaffRole
from tests.e2e.harness import ConsoleClient, MinyiApi
from tests.fakes import bombs

pytestmark = pytest.mark.asyncio(loop_scope="module")

ADMIN = "bomb-admin"
PEAK_RSS_MB = 300  # the server's peak resident memory while a bomb is handled
HEALTHZ_SECONDS = 1.0  # a bound for a stuck event loop, not a speed expectation
DEADLINE = 120.0  # a bound for a hung server
MB = 1024 * 1024
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Figures:
    bomb: str
    status: int
    seconds: float  # from sending to the refusal
    healthz_max: float  # slowest /healthz while the bomb was in flight
    healthz_count: int
    rss_before_mb: float
    peak_rss_mb: float  # VmHWM from just before sending to the refusal

    def line(self) -> str:
        return (
            f"{self.bomb:<36} {self.status}  refused in {self.seconds:5.2f} s  "
            f"/healthz max {self.healthz_max * 1000:4.0f} ms ({self.healthz_count} probes)  "
            f"RSS before {self.rss_before_mb:4.0f} MB, peak {self.peak_rss_mb:4.0f} MB"
        )


def _status(process: MinyiApi, field: str) -> float:
    assert process.process is not None
    status = Path(f"/proc/{process.process.pid}/status").read_text()
    for line in status.splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} in /proc/<pid>/status")


def reset_peak_rss(process: MinyiApi) -> float:
    """Start the peak (VmHWM) afresh at the current RSS, which is returned, in MB.

    The server idles at about 250 MB and signing in (argon2, 64 MiB) peaks above that
    for a moment; what counts here is the peak while one bomb is handled.
    """
    assert process.process is not None
    Path(f"/proc/{process.process.pid}/clear_refs").write_text("5")
    return _status(process, "VmRSS")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def minyi(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[MinyiApi]:
    process = MinyiApi(tmp_path_factory.mktemp("minyi-bombs"))
    await process.prepare()
    await process.account(ADMIN, StaffRole.admin, [])
    await process.start_api()
    yield process
    await process.stop()
    assert "Traceback" not in process.log(), process.log()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def console(minyi: MinyiApi) -> AsyncIterator[ConsoleClient]:
    client = ConsoleClient(minyi.base_url)
    client.client.timeout = httpx.Timeout(DEADLINE, connect=10)
    await client.sign_in(ADMIN)
    yield client
    await client.aclose()


async def under_fire(
    minyi: MinyiApi, bomb: str, send: Callable[[], Awaitable[httpx.Response]]
) -> tuple[httpx.Response, Figures]:
    """Send the bomb and, until it is answered, probe /healthz with a 1 s timeout."""
    latencies: list[float] = []
    before = reset_peak_rss(minyi)
    async with (
        httpx.AsyncClient(base_url=minyi.base_url, timeout=HEALTHZ_SECONDS) as probe,
        asyncio.timeout(DEADLINE),
    ):
        started = time.monotonic()
        sent = asyncio.ensure_future(send())
        while True:
            asked = time.monotonic()
            health = await probe.get("/healthz")  # a ReadTimeout here fails the test
            latencies.append(time.monotonic() - asked)
            assert health.status_code == 200
            if sent.done():
                break
            await asyncio.sleep(0.05)
        response = await sent
        seconds = time.monotonic() - started
    peak = _status(minyi, "VmHWM")
    figures = Figures(
        bomb, response.status_code, seconds, max(latencies), len(latencies), before, peak
    )
    print(figures.line())
    assert max(latencies) < HEALTHZ_SECONDS
    assert figures.peak_rss_mb < PEAK_RSS_MB, figures.line()
    return response, figures


async def upload(console: ConsoleClient, path: str, name: str, content: bytes) -> httpx.Response:
    page = "/console/scoring" if path == "/console/scoring/import" else "/console/imports"
    await console.get(page)  # the CSRF token
    data = {"period": "2026H1", "component": "日常监测"} if "scoring" in path else {}
    return await console.client.post(
        path, data=console.form(data), files={"file": (name, content, XLSX)}
    )


@pytest.mark.parametrize(
    ("bomb", "path", "content", "expected"),
    [
        (
            "sparse A1 + ALL100000 (ratings)",
            "/console/imports",
            lambda: bombs.sparse_xlsx([(1, 1, "source_id"), (100_000, 1000, "x")]),
            "声明的范围是 A1:ALL100000（100000 行 × 1000 列），超过导入上限 200000 行 × 50 列",
        ),
        (
            "sparse A1 + ALL100000 (monitoring)",
            "/console/scoring/import",
            lambda: bombs.sparse_xlsx([(1, 1, "单位编码"), (100_000, 1000, "x")]),
            "声明的范围是 A1:ALL100000（100000 行 × 1000 列），超过导入上限 1000 行 × 50 列",
        ),
        (
            "XFD1048576 (ratings)",
            "/console/imports",
            lambda: bombs.sparse_xlsx([(1, 1, "source_id"), (1_048_576, 16_384, "x")]),
            "声明的范围是 A1:XFD1048576（1048576 行 × 16384 列）",
        ),
        (
            "zip bomb, 400 MB unpacked (ratings)",
            "/console/imports",
            lambda: bombs.zip_bomb_xlsx(unpacked_mb=400),
            "解压后共 400 MB，超过上限 256 MB（疑似压缩炸弹），未读取",
        ),
    ],
)
async def test_a_spreadsheet_bomb_is_refused_by_what_it_declares(
    minyi: MinyiApi,
    console: ConsoleClient,
    bomb: str,
    path: str,
    content: Callable[[], bytes],
    expected: str,
) -> None:
    data = content()
    assert len(data) < 2 * MB  # small on the wire: the danger is what it declares

    response, _ = await under_fire(minyi, bomb, lambda: upload(console, path, "bomb.xlsx", data))

    assert response.status_code == 422, response.text[:2000]
    assert expected in response.text


def post_from_a_thread(
    minyi: MinyiApi, path: str, content: bytes | Iterator[bytes], headers: dict[str, str]
) -> Awaitable[httpx.Response]:
    """POST from a worker thread: pushing 100 MB must not slow this loop's /healthz probes."""

    def post() -> httpx.Response:
        with httpx.Client(base_url=minyi.base_url, timeout=DEADLINE) as client:
            return client.post(path, content=content, headers=headers)

    return asyncio.to_thread(post)


async def test_a_100_mb_json_body_without_a_token_is_413_before_it_is_parsed(
    minyi: MinyiApi,
) -> None:
    body = b"[" + b'{"source_id":"x"},' * (100 * MB // 18) + b"{}]"
    headers = {"Content-Type": "application/json"}

    response, _ = await under_fire(
        minyi,
        "100 MB JSON, no token",
        lambda: post_from_a_thread(minyi, "/api/v1/ratings", body, headers),
    )

    assert response.status_code == 413
    assert response.json() == {
        "code": "error.body_too_large",
        "message": "请求内容超过 2 MB 的上限，未处理。文件请拆分后分别上传。",
    }


async def test_a_200_mb_sign_in_form_sent_chunked_is_cut_at_the_limit(minyi: MinyiApi) -> None:
    def form() -> Iterator[bytes]:  # no Content-Length: the server counts what arrives
        yield b"username=a&password="
        for _ in range(200):
            yield b"a" * MB

    headers = {"Content-Type": "application/x-www-form-urlencoded"}

    response, _ = await under_fire(
        minyi,
        "200 MB form to /console/login",
        lambda: post_from_a_thread(minyi, "/console/login", form(), headers),
    )

    assert response.status_code == 413
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "请求内容超过 2 MB 的上限" in response.text


async def test_a_survey_file_nested_20000_levels_deep_is_refused(minyi: MinyiApi) -> None:
    headers = {**await minyi.token("bomb-surveys", None), "Content-Type": "application/yaml"}
    async with httpx.AsyncClient(base_url=minyi.base_url, timeout=DEADLINE) as client:
        response, _ = await under_fire(
            minyi,
            "YAML nested 20,000 deep",
            lambda: client.post(
                "/api/v1/surveys", content=bombs.deep_yaml(20_000).encode(), headers=headers
            ),
        )

    assert response.status_code == 422
    assert response.json()["problems"] == [
        "第 1 行：嵌套超过 20 层，调查文件用不到这么深的结构，未解析。"
    ]
