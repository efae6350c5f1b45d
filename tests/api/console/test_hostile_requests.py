"""Hostile and odd requests against the real app (in-process) and the real ``minyi``:

- whose ``X-Forwarded-For`` is believed (``FORWARDED_ALLOW_IPS``: nobody's by default);
- security headers on pages, exports and API answers, and cacheable static files;
- no 5xx from a multipart form without boundary, an impossible date in a survey file, deep
  JSON, a lone surrogate, bytes that are no text: a Chinese message, nothing stored;
- GBK/GB18030 files from Chinese office software are read, not refused.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlmodel import col, func, select

from api.main import create_app
from api.server import uvicorn_config
from scoring.demo import survey as demo
from scoring.models import MonitoringImport
from surveys.accounts import units
from surveys.accounts.access import StaffRole
from surveys.accounts.models import AuditEvent, LoginAttempt, Unit
from surveys.core.db import SessionMaker, unit_of_work
from surveys.core.exceptions import InvalidFile
from surveys.core.settings import Settings
from surveys.core.text import decode_office_text
from surveys.haochaping.models import Rating, ServiceEvent
from surveys.questionnaire import catalog
from surveys.questionnaire.models import SurveyVersion
from tests.api.cli.test_cli import SURVEY_YAML, Minyi
from tests.api.console.conftest import OWN_UNIT, Browser, add_user, bearer

PEER = "10.1.2.3"
FORGED = [f"203.0.113.{n}" for n in range(1, 26)]
CSP = "Content-Security-Policy"


async def count(sessionmaker: SessionMaker, model: type[Any]) -> int:
    async with sessionmaker() as session:
        return int((await session.exec(select(func.count()).select_from(model))).one())


def has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


async def seeded_app(settings: Settings, sessionmaker: SessionMaker) -> FastAPI:
    parsed = units.parse_units_csv(demo.UNITS_CSV.read_text("utf-8"), source="units.csv")
    async with unit_of_work(sessionmaker) as session:
        await units.upsert_units(session=session, units=parsed)
    return create_app(settings, sessionmaker)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    transport = ASGITransport(app=app, raise_app_exceptions=False)
    async with AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.fixture
async def admin(browser_for: Any, sessionmaker: SessionMaker) -> Browser:
    await add_user(sessionmaker, "boss", StaffRole.admin, [])
    browser: Browser = await browser_for("boss")
    return browser


@pytest.fixture
async def token(sessionmaker: SessionMaker) -> dict[str, str]:
    return await bearer(sessionmaker, "hardening", StaffRole.admin, None)


# Proxies ----------------------------------------------------------------------------------


async def failed_sign_ins(
    settings: Settings, sessionmaker: SessionMaker, forwarded: list[str], chain: str = ""
) -> list[int]:
    """Wrong passwords from PEER, each with its own X-Forwarded-For; the statuses."""
    app = await seeded_app(settings, sessionmaker)
    await add_user(sessionmaker, "boss", StaffRole.admin, [])
    transport = ASGITransport(app=app, client=(PEER, 4321))
    statuses = []
    async with AsyncClient(transport=transport, base_url="http://test") as client:
        browser = Browser(client)
        await browser.get("/console/login")
        for address in forwarded:
            header = f"{chain}, {address}" if chain else address
            response = await browser.post(
                "/console/login",
                {"username": "boss", "password": "wrong-password"},
                headers={"X-Forwarded-For": header},
            )
            statuses.append(response.status_code)
    return statuses


async def audited_addresses(sessionmaker: SessionMaker) -> set[str | None]:
    async with sessionmaker() as session:
        events = (await session.exec(select(AuditEvent).order_by(col(AuditEvent.id)))).all()
        attempts = (await session.exec(select(LoginAttempt))).all()
    return {e.address for e in events} | {a.address for a in attempts}


class TestForwardedFor:
    async def test_by_default_no_one_is_believed_and_the_throttle_holds(
        self, settings: Settings, sessionmaker: SessionMaker
    ) -> None:
        # 25 forged addresses from one peer: the audit and the throttle see the peer only.
        limited = settings.model_copy(update={"login_address_failures": 20})
        statuses = await failed_sign_ins(limited, sessionmaker, FORGED)

        assert statuses[:5] == [401] * 5
        assert statuses[-5:] == [429] * 5  # the 21st attempt of the address on
        assert await audited_addresses(sessionmaker) == {PEER}

    async def test_loopback_is_not_trusted_by_default(
        self, settings: Settings, sessionmaker: SessionMaker
    ) -> None:
        app = await seeded_app(settings, sessionmaker)
        transport = ASGITransport(app=app, client=("127.0.0.1", 5000))
        async with AsyncClient(transport=transport, base_url="http://test") as client:
            browser = Browser(client)
            await browser.get("/console/login")
            await browser.post(
                "/console/login",
                {"username": "x", "password": "y"},
                headers={"X-Forwarded-For": "198.51.100.9"},
            )
        assert await audited_addresses(sessionmaker) == {"127.0.0.1"}

    async def test_a_listed_proxy_is_believed_up_to_the_first_untrusted_hop(
        self, settings: Settings, sessionmaker: SessionMaker
    ) -> None:
        behind = settings.model_copy(update={"forwarded_allow_ips": "10.0.0.0/8"})
        # The client claims 192.0.2.66 itself; the proxy appended the address it saw.
        await failed_sign_ins(behind, sessionmaker, ["203.0.113.7"], chain="192.0.2.66")

        assert await audited_addresses(sessionmaker) == {"203.0.113.7"}

    async def test_an_unlisted_peer_is_not_believed_even_when_a_proxy_is_set(
        self, settings: Settings, sessionmaker: SessionMaker
    ) -> None:
        other = settings.model_copy(update={"forwarded_allow_ips": "192.168.7.1"})
        await failed_sign_ins(other, sessionmaker, ["203.0.113.7"])

        assert await audited_addresses(sessionmaker) == {PEER}

    def test_uvicorn_follows_the_setting_not_its_loopback_default(
        self, settings: Settings, tmp_path: Path
    ) -> None:
        app = FastAPI()
        plain = uvicorn_config(settings, app)
        proxied = uvicorn_config(
            settings.model_copy(update={"forwarded_allow_ips": "127.0.0.1,10.0.0.0/8"}), app
        )

        assert (plain.proxy_headers, plain.forwarded_allow_ips) == (False, [])
        assert (proxied.proxy_headers, proxied.forwarded_allow_ips) == (
            True,
            ["127.0.0.1", "10.0.0.0/8"],
        )

    def test_the_setting_refuses_what_is_no_address(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="FORWARDED_ALLOW_IPS"):
            Settings(_env_file=None, data_dir=tmp_path, forwarded_allow_ips="10.0.0.1,nginx")  # type: ignore[call-arg]


# Headers ----------------------------------------------------------------------------------


def assert_protected(response: Any) -> None:
    headers = response.headers
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    policy = headers[CSP]
    assert "frame-ancestors 'none'" in policy
    assert "default-src 'self'" in policy
    assert "'unsafe-inline'" not in policy
    assert headers["Cache-Control"] == "no-store"


class TestSecurityHeaders:
    async def test_pages_exports_and_api_answers_carry_them(
        self, admin: Browser, sessionmaker: SessionMaker, token: dict[str, str]
    ) -> None:
        async with unit_of_work(sessionmaker) as session:
            survey = demo.demo_survey(datetime.now(UTC).date())
            await catalog.load_survey(session=session, definition=survey, source="demo")
        page = await admin.get("/console/dashboard")
        export = await admin.get(f"/console/results/export?survey={survey.code}&fmt=csv")
        api = await admin.client.get("/api/v1/cases", headers=token)
        refused = await admin.client.get("/api/v1/cases")  # no token: 401/403 JSON
        login = await admin.client.get("/console/login")

        assert (page.status_code, export.status_code, api.status_code) == (200, 200, 200)
        assert "attachment" in export.headers["content-disposition"]
        for response in (page, export, api, refused, login):
            assert_protected(response)

    async def test_static_files_stay_cacheable(self, client: AsyncClient) -> None:
        for path in ("/static/console.css", "/static/console.js"):
            response = await client.get(path)

            assert response.status_code == 200
            assert "no-store" not in response.headers.get("Cache-Control", "")
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            assert "etag" in response.headers

    async def test_console_pages_have_no_inline_script(self, admin: Browser) -> None:
        # script-src 'self' would block an inline script: the charts must come from a file.
        for path in ("/console/dashboard", "/console/results", "/console/scoring"):
            html = (await admin.get(path)).text
            scripts = html.split("<script")[1:]
            for script in scripts:
                opening = script.split(">", 1)[0]
                assert "src=" in opening or 'type="application/json"' in opening, path
            assert "javascript:" not in html


# Malformed multipart ---------------------------------------------------------------------


class TestMultipartWithoutBoundary:
    @pytest.mark.parametrize(
        "content_type", ["multipart/form-data", "multipart/form-data; charset=utf-8"]
    )
    async def test_sign_in_form_without_a_cookie(
        self, client: AsyncClient, content_type: str
    ) -> None:
        response = await client.post(
            "/console/login", content=b"x", headers={"Content-Type": content_type}
        )

        assert response.status_code == 400
        assert "缺少 boundary" in response.text
        assert response.headers["content-type"].startswith("text/html")
        assert_protected(response)

    async def test_signed_in_upload_stores_nothing(
        self, admin: Browser, sessionmaker: SessionMaker
    ) -> None:
        before = await count(sessionmaker, Unit)
        body = b'--x\r\nContent-Disposition: form-data; name="csrftoken"\r\n\r\n' + (
            admin.csrf.encode() + b"\r\n--x--\r\n"
        )
        response = await admin.client.post(
            "/console/units", content=body, headers={"Content-Type": "multipart/form-data"}
        )

        assert response.status_code == 400
        assert "表单格式有误" in response.text
        assert await count(sessionmaker, Unit) == before

    async def test_a_boundary_without_the_space_still_finds_the_token(
        self, admin: Browser, sessionmaker: SessionMaker
    ) -> None:
        csv = "code,name,kind\nnewunit,新单位,旗县区\n".encode()
        body = (
            b'--b0\r\nContent-Disposition: form-data; name="csrftoken"\r\n\r\n'
            + admin.csrf.encode()
            + b'\r\n--b0\r\nContent-Disposition: form-data; name="file"; filename="u.csv"\r\n'
            + b"Content-Type: text/csv\r\n\r\n"
            + csv
            + b"\r\n--b0--\r\n"
        )
        response = await admin.client.post(
            "/console/units",
            content=body,
            headers={"Content-Type": 'multipart/form-data;boundary="b0"'},
        )

        assert response.status_code == 200, response.text
        assert "newunit" in response.text

    async def test_a_form_without_the_token_is_still_refused(
        self, admin: Browser, sessionmaker: SessionMaker
    ) -> None:
        body = b'--b0\r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n--b0--\r\n'
        response = await admin.client.post(
            "/console/units",
            content=body,
            headers={"Content-Type": "multipart/form-data;boundary=b0"},
        )

        assert response.status_code == 403  # CSRF is not weakened

    async def test_a_broken_body_is_no_500(self, admin: Browser) -> None:
        body = b"--b0\r\nno headers at all" + b"\xff" * 100
        response = await admin.client.post(
            "/console/units",
            content=body,
            headers={"Content-Type": "multipart/form-data; boundary=b0"},
        )

        assert response.status_code in {400, 403}
        assert has_chinese(response.text)

    async def test_the_api_answers_json(self, client: AsyncClient, token: dict[str, str]) -> None:
        response = await client.post(
            "/api/v1/ratings",
            content=b"x",
            headers={"Content-Type": "multipart/form-data", **token},
        )

        assert response.status_code == 400
        assert response.json()["code"] == "error.form_malformed"
        assert has_chinese(response.json()["message"])


# JSON bodies ------------------------------------------------------------------------------


class TestJsonBodies:
    async def test_deep_nesting_is_400_in_chinese(
        self, client: AsyncClient, token: dict[str, str], sessionmaker: SessionMaker
    ) -> None:
        deep = "[" * 100_000 + "]" * 100_000
        for path, body in (
            ("/api/v1/ratings", deep),
            ("/api/v1/service-events", '{"case_no": ' + deep + "}"),
        ):
            response = await client.post(
                path, content=body, headers={"Content-Type": "application/json", **token}
            )

            assert response.status_code == 400, path
            assert response.json() == {
                "code": "error.request_too_deep",
                "message": "请求正文嵌套层级过深，无法解析，未保存任何内容。",
            }
        assert await count(sessionmaker, Rating) == 0

    async def test_nesting_under_the_limit_is_a_validation_error(
        self, client: AsyncClient, token: dict[str, str]
    ) -> None:
        body = '{"case_no": ' + "[" * 500 + "]" * 500 + "}"
        response = await client.post(
            "/api/v1/service-events",
            content=body,
            headers={"Content-Type": "application/json", **token},
        )

        assert response.status_code == 422
        assert response.json()["code"] == "error.request_invalid"
        assert has_chinese(response.json()["message"])

    @pytest.mark.parametrize("escaped", ['"\\ud800"', '"a\\udc00b"', '"\\ud83d"'])
    async def test_a_lone_surrogate_is_422_and_nothing_is_stored(
        self, client: AsyncClient, token: dict[str, str], sessionmaker: SessionMaker, escaped: str
    ) -> None:
        body = (
            '{"case_no": '
            + escaped
            + ', "unit": "spj", "item": "x", "finished_at": "2026-01-05T10:00:00+08:00"}'
        )
        response = await client.post(
            "/api/v1/service-events",
            content=body,
            headers={"Content-Type": "application/json", **token},
        )

        assert response.status_code == 422
        found = response.json()
        assert found["code"] == "error.request_unicode"
        assert "无效字符" in found["message"]
        assert await count(sessionmaker, ServiceEvent) == 0

    async def test_a_surrogate_pair_is_text(
        self, client: AsyncClient, token: dict[str, str]
    ) -> None:
        body = json.dumps({"text": "\U0001f600"}, ensure_ascii=True)  # "\ud83d\ude00"
        response = await client.post(
            "/api/v1/cases/999/reply",
            content=body,
            headers={"Content-Type": "application/json", **token},
        )

        assert response.status_code == 404  # read fine; the case does not exist

    async def test_bytes_that_are_not_utf8_are_400(
        self, client: AsyncClient, token: dict[str, str]
    ) -> None:
        response = await client.post(
            "/api/v1/ratings",
            content=b'{"a": "\xff\xfe"}',
            headers={"Content-Type": "application/json", **token},
        )

        assert response.status_code == 400
        assert response.json()["code"] == "error.request_unreadable"

    async def test_a_console_page_with_a_bad_parameter_is_a_page(self, admin: Browser) -> None:
        response = await admin.client.get("/console/audit?offset=-1")

        assert response.status_code == 422
        assert response.headers["content-type"].startswith("text/html")
        assert "请求内容不符合要求" in response.text


# Survey files -----------------------------------------------------------------------------

IMPOSSIBLE = SURVEY_YAML.replace("closes_on: 2026-06-30", "closes_on: 2026-02-30")


class TestSurveyFilesOverTheApi:
    async def test_an_impossible_date_names_the_field(
        self, client: AsyncClient, token: dict[str, str], sessionmaker: SessionMaker
    ) -> None:
        assert IMPOSSIBLE != SURVEY_YAML
        response = await client.post(
            "/api/v1/surveys",
            content=IMPOSSIBLE.encode(),
            headers={"Content-Type": "application/yaml", **token},
        )

        assert response.status_code == 422
        found = response.json()
        assert has_chinese(found["message"])
        assert [p for p in found["problems"] if p.startswith("closes_on:")], found
        assert await count(sessionmaker, SurveyVersion) == 0

    @pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8-sig"])
    async def test_a_gbk_file_is_read(
        self, client: AsyncClient, token: dict[str, str], sessionmaker: SessionMaker, encoding: str
    ) -> None:
        response = await client.post(
            "/api/v1/surveys",
            content=SURVEY_YAML.encode(encoding),
            headers={"Content-Type": "application/yaml", **token},
        )

        assert response.status_code == 201, response.text
        assert response.json()["title"] == "命令行测试"

    async def test_bytes_that_are_no_text_are_refused(
        self, client: AsyncClient, token: dict[str, str], sessionmaker: SessionMaker
    ) -> None:
        response = await client.post(
            "/api/v1/surveys",
            content=b"code: \xff\xff\n",
            headers={"Content-Type": "application/yaml", **token},
        )

        assert response.status_code == 422
        assert "第 7 字节起既不是 UTF-8 也不是 GB18030" in response.json()["problems"][0]
        assert await count(sessionmaker, SurveyVersion) == 0


# Office files in the console --------------------------------------------------------------


class TestGbkUploads:
    async def test_units_csv(self, admin: Browser, sessionmaker: SessionMaker) -> None:
        data = "code,name,kind\nnewunit,新单位（测试）,旗县区\n".encode("gbk")
        response = await admin.post("/console/units", files={"file": ("units.csv", data)})

        assert response.status_code == 200, response.text
        async with sessionmaker() as session:
            unit = (await session.exec(select(Unit).where(Unit.code == "newunit"))).one()
        assert unit.name == "新单位（测试）"

    async def test_ratings_csv(self, admin: Browser, sessionmaker: SessionMaker) -> None:
        at = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        data = f"source_id,unit,level,channel,rated_at\nG-1,{OWN_UNIT},非常满意,4,{at}\n"
        await admin.get("/console/imports")
        response = await admin.post(
            "/console/imports", files={"file": ("ratings.csv", data.encode("gb18030"))}
        )

        assert response.status_code == 200, response.text
        assert await count(sessionmaker, Rating) == 1


def test_decoding_prefers_utf8_then_gb18030() -> None:
    text = "单位编码,单位名称\n"
    assert decode_office_text(text.encode("utf-8"), "a.csv") == text
    assert decode_office_text(b"\xef\xbb\xbf" + text.encode(), "a.csv") == text
    assert decode_office_text(text.encode("gbk"), "a.csv") == text
    assert decode_office_text("𠀀".encode("gb18030"), "a.csv") == "𠀀"  # beyond GBK
    with pytest.raises(InvalidFile) as refused:
        decode_office_text(b"\xef\xbb\xbf" + text.encode("gbk"), "a.csv")  # a false BOM
    assert "既不是 UTF-8" in refused.value.problems[0]
    with pytest.raises(InvalidFile) as binary:
        decode_office_text(b"code\x00name", "a.csv")
    assert "NUL" in binary.value.problems[0]


# The command line -------------------------------------------------------------------------

AS = ("--as", "admin")


@pytest.fixture(scope="module")
def minyi(tmp_path_factory: pytest.TempPathFactory) -> Minyi:
    minyi = Minyi(tmp_path_factory.mktemp("hardening"))
    for args in (("db", "upgrade"), ("demo", "load"), ("user", "add", "admin", "--role", "admin")):
        done = minyi(*args)
        assert done.returncode == 0, done.stderr
    return minyi


class TestCommandLine:
    def test_gbk_units_and_survey_files_are_read(self, minyi: Minyi, tmp_path: Path) -> None:
        units_csv = tmp_path / "units.csv"
        units_csv.write_bytes("code,name,kind\ngbkunit,国标单位,旗县区\n".encode("gbk"))
        survey = tmp_path / "survey.yaml"
        survey.write_bytes(SURVEY_YAML.replace("cli-test", "gbk-test").encode("gb18030"))

        loaded_units = minyi(*AS, "units", "load", str(units_csv))
        loaded_survey = minyi(*AS, "survey", "load", str(survey))

        assert loaded_units.returncode == 0, loaded_units.stderr
        assert loaded_survey.returncode == 0, loaded_survey.stderr
        assert "gbk-test: new version 1" in loaded_survey.stdout
        listing = minyi("survey", "list").stdout
        assert "命令行测试" in listing

    def test_an_impossible_date_is_a_problem_line(self, minyi: Minyi, tmp_path: Path) -> None:
        survey = tmp_path / "bad.yaml"
        survey.write_text(IMPOSSIBLE.replace("cli-test", "bad-date"), "utf-8")
        before = minyi.count("survey_version")

        result = minyi(*AS, "survey", "load", str(survey))

        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        assert "closes_on: Input should be a valid date" in result.stderr
        assert "Nothing was stored." in result.stderr
        assert minyi.count("survey_version") == before

    def test_bytes_that_are_no_text_are_one_chinese_problem(
        self, minyi: Minyi, tmp_path: Path
    ) -> None:
        bad = tmp_path / "units.csv"
        bad.write_bytes(b"code,name,kind\nx,\xff\xfe,y\n")
        before = minyi.count("unit")

        result = minyi(*AS, "units", "load", str(bad))

        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        assert "第 18 字节起既不是 UTF-8 也不是 GB18030（GBK）编码的文本" in result.stderr
        assert minyi.count("unit") == before

    def test_a_gbk_ratings_file_is_imported(self, minyi: Minyi, tmp_path: Path) -> None:
        at = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        ratings = tmp_path / "ratings.csv"
        ratings.write_bytes(
            f"source_id,unit,level,channel,rated_at\nCLI-G-1,spj,不满意,4,{at}\n".encode("gbk")
        )

        result = minyi(*AS, "import", "ratings", str(ratings))

        assert result.returncode == 0, result.stderr
        assert minyi.count("rating") == 1


class TestMonitoringGbk:
    async def test_the_console_reads_a_gbk_monitoring_file(
        self, admin: Browser, sessionmaker: SessionMaker
    ) -> None:
        async with sessionmaker() as session:
            rows = (await session.exec(select(Unit))).all()
        lines = ["单位编码,单位名称,总分", *(f"{u.code},{u.name},80" for u in rows)]
        data = ("\n".join(lines) + "\n").encode("gbk")
        await admin.get("/console/scoring")
        response = await admin.client.post(
            "/console/scoring/import",
            data={"csrftoken": admin.csrf, "period": "2026H1", "component": "日常监测"},
            files={"file": ("监测.csv", data, "text/csv")},
        )

        assert response.status_code in {200, 303}, response.text
        assert await count(sessionmaker, MonitoringImport) == 1
