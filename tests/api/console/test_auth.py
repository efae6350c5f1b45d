"""Sign-in, CSRF, lockout, sessions that end, first-login password change."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI
from sqlmodel import select

from surveys.accounts import accounts
from surveys.accounts.access import StaffRole
from surveys.accounts.models import AuditEvent, LoginAttempt, StaffUser
from surveys.core.db import SessionMaker, unit_of_work
from tests.api.console.conftest import OWN_UNIT, PASSWORD, Browser, add_user


async def _audit(sessionmaker: SessionMaker) -> list[tuple[str, str]]:
    async with sessionmaker() as session:
        events = (await session.exec(select(AuditEvent).order_by(AuditEvent.id))).all()  # type: ignore[arg-type]
        return [(e.actor, e.action) for e in events]


class TestSignIn:
    async def test_pages_need_a_session(self, anonymous: Browser) -> None:
        response = await anonymous.client.get("/console/dashboard")
        assert response.status_code == 303
        assert response.headers["location"] == "/console/login?next=/console/dashboard"

    async def test_the_session_cookie_is_httponly_and_lax(
        self, anonymous: Browser, sessionmaker: SessionMaker
    ) -> None:
        await add_user(sessionmaker, "li", StaffRole.staff, [OWN_UNIT])
        await anonymous.get("/console/login")
        response = await anonymous.post("/console/login", {"username": "li", "password": PASSWORD})
        cookie = response.headers["set-cookie"].lower()
        assert response.status_code == 303
        assert "httponly" in cookie
        assert "samesite=lax" in cookie
        assert "secure" not in cookie
        assert ("li", "login") in await _audit(sessionmaker)

    async def test_secure_cookies_when_configured(
        self, app: FastAPI, anonymous: Browser, sessionmaker: SessionMaker
    ) -> None:
        from api.main import create_app

        secure = create_app(
            app.state.settings.model_copy(update={"cookie_secure": True}), sessionmaker
        )
        from httpx import ASGITransport, AsyncClient

        await add_user(sessionmaker, "li", StaffRole.staff, [OWN_UNIT])
        async with AsyncClient(transport=ASGITransport(app=secure), base_url="https://test") as c:
            browser = Browser(c)
            await browser.get("/console/login")
            response = await browser.post(
                "/console/login", {"username": "li", "password": PASSWORD}
            )
        assert "secure" in response.headers["set-cookie"].lower()

    async def test_a_form_post_without_the_csrf_token_is_refused(
        self, anonymous: Browser, sessionmaker: SessionMaker
    ) -> None:
        await add_user(sessionmaker, "li", StaffRole.staff, [OWN_UNIT])
        await anonymous.get("/console/login")
        response = await anonymous.client.post(
            "/console/login", data={"username": "li", "password": PASSWORD}
        )
        assert response.status_code == 403
        assert "CSRF" in response.text
        assert await _audit(sessionmaker) == []  # nothing happened

    async def test_a_wrong_csrf_token_is_refused_for_a_signed_in_user(
        self,
        browser_for,
        sessionmaker: SessionMaker,  # type: ignore[no-untyped-def]
    ) -> None:
        await add_user(sessionmaker, "li", StaffRole.staff, [OWN_UNIT])
        browser = await browser_for("li")
        response = await browser.client.post("/console/logout", data={"csrftoken": "forged"})
        assert response.status_code == 403
        assert (await browser.client.get("/console/password")).status_code == 200  # still in

    async def test_lockout_after_repeated_failures(
        self, anonymous: Browser, sessionmaker: SessionMaker
    ) -> None:
        await add_user(sessionmaker, "li", StaffRole.staff, [OWN_UNIT])
        await anonymous.get("/console/login")
        for _ in range(5):
            response = await anonymous.post("/console/login", {"username": "li", "password": "x"})
            assert response.status_code == 401
            assert "用户名或密码不正确" in response.text
        # The right password no longer helps while the account is locked.
        response = await anonymous.post("/console/login", {"username": "li", "password": PASSWORD})
        assert response.status_code == 423
        assert "账号已锁定" in response.text
        async with sessionmaker() as session:
            user = (await session.exec(select(StaffUser).where(StaffUser.username == "li"))).one()
            attempts = (await session.exec(select(LoginAttempt))).all()
        assert user.locked_until is not None
        assert [a.ok for a in attempts] == [False] * 6
        assert (await _audit(sessionmaker)).count(("li", "login.failed")) == 6

    async def test_lockout_ends(self, app: FastAPI, sessionmaker: SessionMaker) -> None:
        await add_user(sessionmaker, "li", StaffRole.staff, [OWN_UNIT])
        policy = accounts.LoginPolicy(max_failures=2, lockout=timedelta(minutes=15))
        from surveys.core.models import utcnow

        now = utcnow()
        async with unit_of_work(sessionmaker) as session:
            for _ in range(2):
                await accounts.authenticate(
                    session=session,
                    username="li",
                    password="x",
                    address="a",
                    now=now,
                    policy=policy,
                )
        async with unit_of_work(sessionmaker) as session:
            locked = await accounts.authenticate(
                session=session,
                username="li",
                password=PASSWORD,
                address="a",
                now=now,
                policy=policy,
            )
            later = await accounts.authenticate(
                session=session,
                username="li",
                password=PASSWORD,
                address="a",
                now=now + timedelta(minutes=16),
                policy=policy,
            )
        assert locked.status_code == 423
        assert locked.user is None
        assert later.user is not None

    async def test_one_address_is_throttled(self, sessionmaker: SessionMaker) -> None:
        policy = accounts.LoginPolicy(address_failures=3)
        from surveys.core.models import utcnow

        now = utcnow()
        async with unit_of_work(sessionmaker) as session:
            outcomes = [
                await accounts.authenticate(
                    session=session,
                    username=f"u{i}",
                    password="x",
                    address="10.0.0.9",
                    now=now,
                    policy=policy,
                )
                for i in range(4)
            ]
        assert [o.status_code for o in outcomes] == [401, 401, 401, 429]

    async def test_sign_out_ends_the_session(
        self,
        browser_for,
        sessionmaker: SessionMaker,  # type: ignore[no-untyped-def]
    ) -> None:
        await add_user(sessionmaker, "li", StaffRole.staff, [OWN_UNIT])
        browser = await browser_for("li")
        stolen = dict(browser.client.cookies)
        await browser.get("/console/password")
        response = await browser.post("/console/logout")
        assert response.status_code == 303
        # Even a copy of the old cookie no longer works.
        browser.client.cookies.update(stolen)
        assert (await browser.client.get("/console/password")).status_code == 303


class TestFirstSignIn:
    async def test_a_one_time_password_must_be_changed_first(
        self, anonymous: Browser, sessionmaker: SessionMaker
    ) -> None:
        async with unit_of_work(sessionmaker) as session:
            _, once = await accounts.create_user(
                session=session, username="new", role=StaffRole.viewer, unit_codes=[]
            )
        await anonymous.get("/console/login")
        response = await anonymous.post("/console/login", {"username": "new", "password": once})
        assert response.headers["location"] == "/console/password"
        blocked = await anonymous.client.get("/console/dashboard")
        assert blocked.headers["location"] == "/console/password"
        await anonymous.get("/console/password")
        short = await anonymous.post(
            "/console/password", {"current": once, "new": "short", "repeat": "short"}
        )
        assert short.status_code == 422
        assert "10" in short.text
        done = await anonymous.post(
            "/console/password", {"current": once, "new": PASSWORD, "repeat": PASSWORD}
        )
        assert done.headers["location"] == "/console/dashboard"
        async with sessionmaker() as session:
            user = (await session.exec(select(StaffUser).where(StaffUser.username == "new"))).one()
        assert user.must_change_password is False
        assert user.password_hash
        assert PASSWORD not in user.password_hash
