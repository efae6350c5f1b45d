"""保密联络 on the web: the citizen's private page after a 差评, the unit's reply sent from the
console, writing back, 复评 once 已反馈; a wrong link is a 404 page; staff never see who."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlmodel import select

from surveys.accounts.access import StaffRole
from surveys.cases.models import FollowUpCase
from surveys.core.db import SessionMaker
from surveys.core.i18n import Translator
from tests.api.console.conftest import Browser, add_user
from tests.api.webchat.test_rating import Phone, contact_link, rate_very_badly

t = Translator()


@pytest.fixture
async def phone(app: FastAPI) -> AsyncIterator[Phone]:
    transport = ASGITransport(app=app)
    async with AsyncClient(transport=transport, base_url="http://test") as client:
        yield Phone(client)


@pytest.fixture
async def officer(app: FastAPI, sessionmaker: SessionMaker) -> AsyncIterator[Browser]:
    """市审批服务局's staff, signed in to the console."""
    await add_user(sessionmaker, "spj-li", StaffRole.staff, ["spj"])
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        browser = Browser(client)
        await browser.get("/console/login")
        signed = await browser.post(
            "/console/login", {"username": "spj-li", "password": "correct-horse-battery"}
        )
        assert signed.status_code == 303
        yield browser


async def contact_path(phone: Phone) -> str:
    link = contact_link(await rate_very_badly(phone, "同意联系"))
    assert link is not None
    return "/c/contact/" + link.rsplit("/", 1)[1]


async def the_case(sessionmaker: SessionMaker) -> int:
    async with sessionmaker() as session:
        case = (await session.exec(select(FollowUpCase))).one()
    assert case.id is not None
    return case.id


class TestContactPage:
    async def test_shows_the_case_then_the_reply_staff_sent_from_the_console(
        self, phone: Phone, officer: Browser, sessionmaker: SessionMaker
    ) -> None:
        path = await contact_path(phone)
        first = await phone.get(path)
        assert first.status_code == 200
        assert t("contact.state.pending") in phone.text()
        assert t("contact.no_messages") in phone.text()
        case_id = await the_case(sessionmaker)

        await officer.get(f"/console/cases/{case_id}")
        sent = await officer.post(
            f"/console/cases/{case_id}/reply", {"text": "已约谈窗口人员整改。"}
        )
        assert sent.status_code == 303
        page = await phone.get(path)

        assert t("contact.from_unit", unit="市审批服务局") in phone.text()
        assert "已约谈窗口人员整改。" in phone.text()
        assert "spj-li" not in page.text  # the unit answers, not a named person

    async def test_the_citizen_writes_back_and_staff_read_it_unnamed(
        self, phone: Phone, officer: Browser, sessionmaker: SessionMaker
    ) -> None:
        path = await contact_path(phone)
        await phone.get(path)

        written = await phone.client.post(
            f"{path}/write", data={"text": "请尽快回复我"}, follow_redirects=True
        )

        assert written.status_code == 200
        assert t("relay.sent") in html.unescape(written.text)
        assert "请尽快回复我" in html.unescape(written.text)
        case_page = await officer.get(f"/console/cases/{await the_case(sessionmaker)}")
        assert "请尽快回复我" in html.unescape(case_page.text)
        assert t("console.cases.reached_by_web") in html.unescape(case_page.text)
        token = path.rsplit("/", 1)[1]
        cookie = phone.client.cookies.get("minyi_citizen") or ""
        assert token not in case_page.text
        assert cookie.split(".")[0] not in case_page.text

    async def test_rerating_is_offered_once_the_unit_answered(
        self, phone: Phone, officer: Browser, sessionmaker: SessionMaker
    ) -> None:
        path = await contact_path(phone)
        case_id = await the_case(sessionmaker)
        early = await phone.client.post(f"{path}/rerate", data={"i": "0"})
        assert early.status_code == 409  # not yet 已反馈: nothing changes
        await officer.get(f"/console/cases/{case_id}")
        for state in ("核实中", "整改中", "已反馈"):
            note = "窗口已整改，材料清单已更新。" if state == "已反馈" else ""  # the 反馈
            moved = await officer.post(
                f"/console/cases/{case_id}/transition", {"to": state, "note": note}
            )
            assert moved.status_code == 303

        offered = await phone.get(path)
        assert t("contact.state.replied") in phone.text()
        assert "窗口已整改，材料清单已更新。" in phone.text()  # the 反馈, above the 复评
        assert 'action="' + path + '/rerate"' in offered.text
        in_english = await phone.client.get(path, headers={"Accept-Language": "en-GB,en"})
        for level in ("satisfied", "neutral", "dissatisfied"):  # the choices, in English
            assert f">{Translator('en')(f'level.{level}')}</button>" in in_english.text
        rerated = await phone.client.post(f"{path}/rerate", data={"i": "0"}, follow_redirects=True)

        assert t("relay.rerated", choice="满意") in html.unescape(rerated.text)
        assert t("contact.state.rerated") in html.unescape(rerated.text)
        assert f"{path}/rerate" not in rerated.text
        async with sessionmaker() as session:
            case = await session.get_one(FollowUpCase, case_id)
        assert (case.state, case.rerating) == ("已复评", "satisfied")

    async def test_the_browser_lists_the_links_it_was_given(self, phone: Phone) -> None:
        path = await contact_path(phone)

        listed = await phone.get("/c/contact")

        assert path in listed.text
        assert t("webrate.contact_lost") in phone.text()


class TestWrongLinks:
    @pytest.mark.parametrize(
        "token", ["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "short", "x" * 300, "bad%20token"]
    )
    async def test_a_wrong_or_forged_link_is_a_404_page(self, phone: Phone, token: str) -> None:
        await contact_path(phone)

        page = await phone.get(f"/c/contact/{token}")
        written = await phone.client.post(f"/c/contact/{token}/write", data={"text": "hi"})

        assert page.status_code == 404
        assert t("contact.not_found") in phone.text()
        assert written.status_code == 404

    async def test_an_empty_message_or_bad_choice_changes_nothing(
        self, phone: Phone, sessionmaker: SessionMaker
    ) -> None:
        path = await contact_path(phone)

        empty = await phone.client.post(f"{path}/write", data={"text": "   "})
        choice = await phone.client.post(f"{path}/rerate", data={"i": "²"})

        assert empty.status_code == 422
        assert choice.status_code == 400
        page = await phone.get(path)
        assert t("contact.no_messages") in html.unescape(page.text)
        assert re.search(r"<li>", page.text) is None
