"""Administration pages: units, users, tokens, audit log, ratings imports (admins only)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlmodel import col, func, select

from api.console.admin import MAX_UPLOAD
from surveys.accounts.access import StaffRole
from surveys.accounts.models import AuditEvent, StaffUser, Unit
from surveys.core.db import SessionMaker, unit_of_work
from surveys.haochaping.models import Rating
from tests.api.console.conftest import OTHER_UNIT, OWN_UNIT, PASSWORD, Browser, add_user, bearer
from tests.fakes import bombs

PAGES = [
    "/console/units",
    "/console/users",
    "/console/tokens",
    "/console/audit",
    "/console/imports",
    "/console/delivery",
]
SECRET = re.compile(r'id="secret">(?:/link )?([^<]+)<')

BAD_UNITS = "code,name,kind\nnewunit,新单位,旗县区\nbadkind,错类别,省直部门\nspj,改名,市直部门\n"


def secret_of(html: str) -> str:
    found = SECRET.search(html)
    assert found, html
    return found.group(1)


async def count(sessionmaker: SessionMaker, model: type[Any]) -> int:
    async with sessionmaker() as session:
        return int((await session.exec(select(func.count()).select_from(model))).one())


async def events(sessionmaker: SessionMaker) -> list[tuple[str, str, str | None]]:
    async with sessionmaker() as session:
        rows = (await session.exec(select(AuditEvent).order_by(col(AuditEvent.id)))).all()
        return [(e.actor, e.action, e.target) for e in rows]


@pytest.fixture
async def admin(browser_for: Any, sessionmaker: SessionMaker) -> Browser:
    await add_user(sessionmaker, "boss", StaffRole.admin, [])
    browser: Browser = await browser_for("boss")
    return browser


class TestAccess:
    async def test_every_page_renders_for_an_admin(self, admin: Browser) -> None:
        for page in PAGES:
            response = await admin.get(page)
            assert response.status_code == 200, (page, response.text)
            assert 'name="csrftoken"' in response.text

    @pytest.mark.parametrize(
        ("role", "unit_codes"),
        [
            (StaffRole.staff, [OWN_UNIT]),
            (StaffRole.viewer, []),
            (StaffRole.supervisor, [OWN_UNIT, OTHER_UNIT]),
        ],
    )
    async def test_other_roles_are_refused(
        self,
        browser_for: Any,
        sessionmaker: SessionMaker,
        role: StaffRole,
        unit_codes: list[str],
    ) -> None:
        await add_user(sessionmaker, "someone", role, unit_codes)
        browser: Browser = await browser_for("someone")
        for page in PAGES:
            response = await browser.get(page)
            assert response.status_code == 403, page
            assert "无权" in response.text
        dashboard = await browser.get("/console/dashboard")
        assert "/console/users" not in dashboard.text  # not in the menu either
        created = await browser.post("/console/users", {"username": "sneaky", "role": "admin"})
        revoked = await browser.post("/console/tokens/revoke", {"name": "x"})
        assert (created.status_code, revoked.status_code) == (403, 403)
        async with sessionmaker() as session:
            found = await session.exec(select(StaffUser).where(StaffUser.username == "sneaky"))
            assert found.first() is None

    async def test_anonymous_is_sent_to_sign_in(self, anonymous: Browser) -> None:
        response = await anonymous.client.get("/console/users")
        assert response.status_code == 303
        assert response.headers["location"].startswith("/console/login")


class TestUsers:
    async def test_a_created_user_signs_in_with_the_shown_password_then_changes_it(
        self, admin: Browser, anonymous: Browser, sessionmaker: SessionMaker
    ) -> None:
        await admin.get("/console/users")
        response = await admin.post(
            "/console/users",
            {"username": "wang", "role": "staff", "unit": [OWN_UNIT, OTHER_UNIT]},
        )
        assert response.status_code == 200, response.text
        assert "已创建用户 wang" in response.text
        password = secret_of(response.text)
        # The list shows the account, its units and no secret of it.
        listing = await admin.get("/console/users")
        assert "wang" in listing.text
        assert f"{OTHER_UNIT}、{OWN_UNIT}" in listing.text
        assert password not in listing.text
        assert "argon2" not in listing.text

        await anonymous.get("/console/login")
        signed = await anonymous.post("/console/login", {"username": "wang", "password": password})
        assert signed.headers["location"] == "/console/password"
        assert (await anonymous.client.get("/console/dashboard")).headers[
            "location"
        ] == "/console/password"
        await anonymous.get("/console/password")
        changed = await anonymous.post(
            "/console/password", {"current": password, "new": PASSWORD, "repeat": PASSWORD}
        )
        assert changed.headers["location"] == "/console/dashboard"
        assert ("boss", "user.create", "wang") in await events(sessionmaker)

    async def test_staff_needs_a_unit_and_names_are_unique(
        self, admin: Browser, sessionmaker: SessionMaker
    ) -> None:
        await admin.get("/console/users")
        no_unit = await admin.post("/console/users", {"username": "zhao", "role": "staff"})
        assert no_unit.status_code == 422
        assert "必须选择至少一个所属单位" in no_unit.text
        assert 'value="zhao"' in no_unit.text  # the form keeps what was typed
        taken = await admin.post("/console/users", {"username": "boss", "role": "viewer"})
        assert taken.status_code == 409
        assert "已存在" in taken.text
        blank = await admin.post("/console/users", {"username": " ", "role": "viewer"})
        assert blank.status_code == 422
        assert await count(sessionmaker, StaffUser) == 1

    async def test_reset_disable_enable_and_link_code(
        self, admin: Browser, anonymous: Browser, sessionmaker: SessionMaker
    ) -> None:
        await add_user(sessionmaker, "li", StaffRole.staff, [OWN_UNIT])
        async with unit_of_work(sessionmaker) as session:
            user = (await session.exec(select(StaffUser).where(StaffUser.username == "li"))).one()
            user.telegram_chat_id = 987654321
            session.add(user)
        await admin.get("/console/users")
        listing = await admin.get("/console/users")
        assert "987654321" not in listing.text  # linked: yes, but never the chat id

        reset = await admin.post("/console/users/reset", {"username": "li"})
        assert reset.status_code == 200
        once = secret_of(reset.text)
        await anonymous.get("/console/login")
        old = await anonymous.post("/console/login", {"username": "li", "password": PASSWORD})
        assert old.status_code == 401
        new = await anonymous.post("/console/login", {"username": "li", "password": once})
        assert new.headers["location"] == "/console/password"

        disabled = await admin.post("/console/users/disable", {"username": "li"})
        assert disabled.status_code == 303
        anonymous.client.cookies.clear()
        await anonymous.get("/console/login")
        refused = await anonymous.post("/console/login", {"username": "li", "password": once})
        assert refused.status_code == 401
        enabled = await admin.post("/console/users/enable", {"username": "li"})
        assert enabled.status_code == 303

        code = await admin.post("/console/users/link-code", {"username": "li"})
        assert code.status_code == 200
        assert re.fullmatch(r"[0-9A-F]{8}", secret_of(code.text))
        actions = [(a, t) for _, a, t in await events(sessionmaker) if a.startswith("user.")]
        assert actions == [
            ("user.reset", "li"),
            ("user.disable", "li"),
            ("user.enable", "li"),
            ("user.link_code", "li"),
        ]

    async def test_an_admin_cannot_disable_themselves_nor_an_unknown_user(
        self, admin: Browser
    ) -> None:
        await admin.get("/console/users")
        self_ = await admin.post("/console/users/disable", {"username": "boss"})
        assert self_.status_code == 409
        assert "不能停用" in self_.text
        unknown = await admin.post("/console/users/reset", {"username": "nobody"})
        assert unknown.status_code == 404
        assert "nobody" in unknown.text
        assert (await admin.get("/console/users")).status_code == 200  # still signed in


class TestTokens:
    async def test_create_shows_the_secret_once_and_revoke_ends_it(
        self, admin: Browser, app: FastAPI, sessionmaker: SessionMaker
    ) -> None:
        await admin.get("/console/tokens")
        created = await admin.post(
            "/console/tokens", {"name": "cases-sys", "role": "viewer", "unit": OWN_UNIT}
        )
        assert created.status_code == 200, created.text
        raw = secret_of(created.text)
        assert raw.startswith("my_")
        listing = await admin.get("/console/tokens")
        assert raw not in listing.text
        assert "cases-sys" in listing.text
        assert "只读" in listing.text

        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as api:
            headers = {"Authorization": f"Bearer {raw}"}
            before = await api.get("/api/v1/units", headers=headers)
            assert before.status_code == 200
            assert [u["code"] for u in before.json()["data"]] == [OWN_UNIT]
            revoked = await admin.post("/console/tokens/revoke", {"name": "cases-sys"})
            assert revoked.status_code == 303
            after = await api.get("/api/v1/units", headers=headers)
            assert after.status_code == 401
        listing = await admin.get("/console/tokens")
        assert "已于" in listing.text  # shown as revoked, kept for the record
        assert [(a, t) for _, a, t in await events(sessionmaker) if a.startswith("token.")] == [
            ("token.create", "cases-sys"),
            ("token.revoke", "cases-sys"),
        ]

    async def test_a_staff_token_needs_a_unit_and_live_names_are_unique(
        self, admin: Browser, sessionmaker: SessionMaker
    ) -> None:
        await bearer(sessionmaker, "dup", StaffRole.staff, OWN_UNIT)
        await admin.get("/console/tokens")
        response = await admin.post("/console/tokens", {"name": "x", "role": "staff"})
        assert response.status_code == 422
        assert "必须选择至少一个所属单位" in response.text
        duplicate = await admin.post(
            "/console/tokens", {"name": "dup", "role": "staff", "unit": OWN_UNIT}
        )
        assert duplicate.status_code == 409
        assert 'value="dup"' in duplicate.text


class TestUnits:
    async def test_a_bad_row_is_listed_and_nothing_changes(
        self, admin: Browser, sessionmaker: SessionMaker
    ) -> None:
        before = await count(sessionmaker, Unit)
        await admin.get("/console/units")
        files = {"file": ("units.csv", BAD_UNITS.encode(), "text/csv")}
        response = await admin.post("/console/units", files=files)
        assert response.status_code == 422
        assert "第 3 行 kind 列：“省直部门”不是单位类别" in response.text
        assert "units.csv 中发现 1 处问题" in response.text
        assert await count(sessionmaker, Unit) == before
        async with sessionmaker() as session:
            spj = (await session.exec(select(Unit).where(Unit.code == OWN_UNIT))).one()
            assert spj.name != "改名"
            assert (await session.exec(select(Unit).where(Unit.code == "newunit"))).first() is None
        assert not [a for _, a, _ in await events(sessionmaker) if a == "units.load"]

    async def test_a_good_file_adds_and_updates(
        self, admin: Browser, sessionmaker: SessionMaker
    ) -> None:
        before = await count(sessionmaker, Unit)
        await admin.get("/console/units")
        good = "\ufeffcode,name,kind,active\nnewunit,新单位,旗县区,是\nspj,改名,市直部门,否\n"
        files = {"file": ("units.csv", good.encode(), "text/csv")}
        response = await admin.post("/console/units", files=files)
        assert response.status_code == 200, response.text
        assert "新增 1 个单位，更新 1 个" in response.text
        assert "newunit" in response.text
        assert await count(sessionmaker, Unit) == before + 1
        assert ("boss", "units.load", "units.csv") in await events(sessionmaker)

    async def test_refused_uploads(self, admin: Browser) -> None:
        await admin.get("/console/units")
        big = {"file": ("units.csv", b"x" * (MAX_UPLOAD + 1), "text/csv")}
        too_large = await admin.post("/console/units", files=big)
        assert too_large.status_code == 422
        assert "文件超过 5 MB" in too_large.text
        neither = b"code,name,kind\nx,\xff\xfe,\xe6\x96\n"  # not UTF-8, not GB18030
        not_text = await admin.post("/console/units", files={"file": ("units.csv", neither)})
        assert not_text.status_code == 422
        assert "第 18 字节起既不是 UTF-8 也不是 GB18030" in not_text.text
        none = await admin.post("/console/units", files={"file": ("", b"", "text/csv")})
        assert none.status_code == 422
        assert "请先选择" in none.text


def ratings_csv(*rows: str) -> bytes:
    return ("source_id,unit,level,channel,rated_at\n" + "".join(rows)).encode()


class TestImports:
    async def test_a_bad_file_lists_every_problem_and_stores_nothing(
        self, admin: Browser, sessionmaker: SessionMaker
    ) -> None:
        at = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        data = ratings_csv(
            f"F-1,{OWN_UNIT},满意,4,{at}\n",
            f"F-2,nowhere,满意,4,{at}\n",
            f"F-3,{OWN_UNIT},很好,4,{at}\n",
        )
        await admin.get("/console/imports")
        response = await admin.post(
            "/console/imports", files={"file": ("ratings.csv", data, "text/csv")}
        )
        assert response.status_code == 422
        assert "第 3 行 unit 列：没有编码为“nowhere”的在用单位。" in response.text
        assert "第 4 行 level 列：“很好”不是满意度等级" in response.text
        assert "F-1" not in response.text.split("<ol>")[1].split("</ol>")[0]
        assert await count(sessionmaker, Rating) == 0
        assert not [a for _, a, _ in await events(sessionmaker) if a == "import.ratings"]

    async def test_a_good_file_is_imported_with_counts(
        self, admin: Browser, sessionmaker: SessionMaker
    ) -> None:
        at = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        data = ratings_csv(
            f"F-1,{OWN_UNIT},满意,4,{at}\n", f"F-2,{OTHER_UNIT},非常不满意,1,{at}\n"
        )
        await admin.get("/console/imports")
        files = {"file": ("ratings.csv", data, "text/csv")}
        first = await admin.post("/console/imports", files=files)
        assert first.status_code == 200, first.text
        assert "新增评价 2 条，已导入过而跳过 0 条，新开差评工单 1 件" in first.text
        again = await admin.post("/console/imports", files=files)
        assert "新增评价 0 条，已导入过而跳过 2 条" in again.text
        assert await count(sessionmaker, Rating) == 2
        assert [t for _, a, t in await events(sessionmaker) if a == "import.ratings"] == [
            "ratings.csv",
            "ratings.csv",
        ]

    async def test_only_csv_and_xlsx(self, admin: Browser) -> None:
        await admin.get("/console/imports")
        response = await admin.post(
            "/console/imports", files={"file": ("ratings.txt", b"x", "text/plain")}
        )
        assert response.status_code == 422
        assert "只能导入 .csv、.xlsx 或 .json" in response.text

    async def test_a_refusal_names_the_file_the_person_chose(
        self, admin: Browser, sessionmaker: SessionMaker
    ) -> None:
        # The upload is read from a temporary copy; its name must not reach the page.
        content = bombs.sparse_xlsx([(1, 1, "source_id"), (100_000, 1000, "x")])
        await admin.get("/console/imports")
        response = await admin.post(
            "/console/imports", files={"file": ("三月评价.xlsx", content, "x/y")}
        )
        assert response.status_code == 422
        problems = response.text.split("<ol>")[1].split("</ol>")[0]
        assert "三月评价.xlsx 的工作表“评价”声明的范围是 A1:ALL100000" in problems
        assert "upload.xlsx" not in response.text
        assert await count(sessionmaker, Rating) == 0

    async def test_a_broken_xlsx_is_refused(
        self, admin: Browser, sessionmaker: SessionMaker
    ) -> None:
        await admin.get("/console/imports")
        response = await admin.post(
            "/console/imports", files={"file": ("ratings.xlsx", b"not a zip", "x/y")}
        )
        assert response.status_code == 422
        assert "不是可读取的 .xlsx 工作簿" in response.text
        assert await count(sessionmaker, Rating) == 0


class TestAudit:
    async def test_lists_the_actions_with_filters_and_pages(
        self, admin: Browser, sessionmaker: SessionMaker
    ) -> None:
        await admin.get("/console/users")
        for name in ("a1", "a2", "a3"):
            await admin.post("/console/users", {"username": name, "role": "viewer"})
        await admin.post("/console/tokens", {"name": "t1", "role": "admin"})
        page = await admin.get("/console/audit")
        assert page.status_code == 200
        for action in ("login", "user.create", "token.create"):
            assert f"<code>{action}</code>" in page.text
        users_only = await admin.get("/console/audit", params={"action": "user."})
        assert users_only.text.count("<code>user.create</code>") == 3
        assert "<code>token.create</code>" not in users_only.text
        paged = await admin.get("/console/audit", params={"action": "user.", "limit": 2})
        assert paged.text.count("<code>user.create</code>") == 2
        assert "第 1–2 条，共 3 条" in paged.text
        assert "offset=2" in paged.text
        by_someone_else = await admin.get("/console/audit", params={"who": "cli:x"})
        assert "没有符合条件的记录" in by_someone_else.text


class TestUploadCsrf:
    """Upload forms go through the CSRF check too (token first, then the file)."""

    async def test_without_the_token_or_with_the_file_first_nothing_is_stored(
        self, admin: Browser, sessionmaker: SessionMaker
    ) -> None:
        before = await count(sessionmaker, Unit)
        good = "code,name,kind\nnewunit,新单位,旗县区\n".encode()
        await admin.get("/console/units")
        missing = await admin.client.post(
            "/console/units", files={"file": ("units.csv", good, "text/csv")}
        )
        assert missing.status_code == 403
        boundary = "b0undary"
        body = (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="units.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n"
            f"{good.decode()}\r\n"
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="csrftoken"\r\n\r\n'
            f"{admin.csrf}\r\n"
            f"--{boundary}--\r\n"
        ).encode()
        file_first = await admin.client.post(
            "/console/units",
            content=body,
            headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        )
        assert file_first.status_code == 403
        forged = await admin.client.post(
            "/console/units",
            data={"csrftoken": "forged"},
            files={"file": ("units.csv", good, "text/csv")},
        )
        assert forged.status_code == 403
        assert await count(sessionmaker, Unit) == before
        accepted = await admin.post(
            "/console/units", files={"file": ("units.csv", good, "text/csv")}
        )
        assert accepted.status_code == 200
        assert await count(sessionmaker, Unit) == before + 1
