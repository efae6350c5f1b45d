"""删除我的联系方式 in the web chat, as a phone without JavaScript posts it: the confirm erases
the citizen's page links and closes the loop of their open 差评 cases as 无法联系 (as /forget
does in the bot); the answers and ratings stay; cancelling, a GET, a stale or a foreign
confirm erase nothing; a second confirm says there is nothing left to erase."""

from __future__ import annotations

import html
import re

from httpx import Response
from sqlmodel import col, func, select

from surveys.cases.models import CaseEvent, CitizenContact, CloseReason, FollowUpCase
from surveys.core.db import SessionMaker
from surveys.core.i18n import Translator
from surveys.haochaping.models import Rating
from surveys.questionnaire.models import Conversation
from surveys.questionnaire.models import Response as SurveyResponse
from tests.api.console.conftest import Browser
from tests.api.webchat.conftest import Citizen, CitizenFactory
from tests.api.webchat.test_chat import short_path, start
from tests.api.webchat.test_contact import contact_path, officer, phone, the_case
from tests.api.webchat.test_rating import Phone

__all__ = ["officer", "phone"]  # fixtures

t = Translator()
en = Translator("en")
ASK = re.compile(r'name="ask" value="([^"]+)"')
KEYS = [
    "webchat.forget.heading",
    "webchat.forget.intro",
    "webchat.forget.erased_links",
    "webchat.forget.erased_cases",
    "webchat.forget.kept_answers",
    "webchat.forget.final",
    "webchat.forget.confirm",
]


def ask_of(page: Response) -> str:
    found = ASK.search(page.text)
    assert found, "no confirm form on the page"
    return html.unescape(found.group(1))


async def confirm(phone: Phone, ask: str | None = None) -> Response:
    """Open the page (unless given the question of another page) and press 确认删除."""
    if ask is None:
        ask = ask_of(await phone.get("/c/forget"))
    data = {"act": "erase", "ask": ask}
    phone.page = await phone.client.post("/c/forget", data=data, follow_redirects=True)
    return phone.page


async def move_to_replied(officer: Browser, case_id: int) -> None:
    await officer.get(f"/console/cases/{case_id}")
    for state in ("核实中", "整改中", "已反馈"):
        note = "窗口已整改。" if state == "已反馈" else ""
        moved = await officer.post(
            f"/console/cases/{case_id}/transition", {"to": state, "note": note}
        )
        assert moved.status_code == 303


async def counts(sessionmaker: SessionMaker) -> dict[str, int]:
    async with sessionmaker() as session:

        async def count(model: type) -> int:
            return (await session.exec(select(func.count()).select_from(model))).one()

        return {
            "links": await count(CitizenContact),
            "ratings": await count(Rating),
            "responses": await count(SurveyResponse),
            "marked": (
                await session.exec(
                    select(func.count()).where(col(CaseEvent.kind) == "unreachable")
                )
            ).one(),
        }


async def load_case(sessionmaker: SessionMaker, case_id: int) -> FollowUpCase:
    async with sessionmaker() as session:
        return await session.get_one(FollowUpCase, case_id)


def visible(page: Response) -> str:
    """The page's text as read: no tags, no attributes."""
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", page.text, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


class TestConfirm:
    async def test_erases_the_link_and_closes_the_replied_case_as_unreachable(
        self, phone: Phone, officer: Browser, sessionmaker: SessionMaker, code: str
    ) -> None:
        citizen = Citizen(phone.client)
        await start(citizen, code)
        await short_path(citizen)
        path = await contact_path(phone)
        case_id = await the_case(sessionmaker)
        await move_to_replied(officer, case_id)
        before = await counts(sessionmaker)

        done = await confirm(phone)

        assert done.status_code == 200
        assert str(done.url).endswith("/c/forget/done")
        assert t("webchat.forget.done") in phone.text()
        assert phone.client.cookies.get("minyi_contact") is None
        assert phone.client.cookies.get("minyi_citizen") is None
        gone = await phone.client.get(path)
        assert gone.status_code == 404
        assert t("contact.not_found") in html.unescape(gone.text)
        after = await counts(sessionmaker)
        assert (before["links"], after["links"]) == (1, 0)
        assert (after["ratings"], after["responses"]) == (1, 1)  # still counted
        assert after["responses"] == before["responses"]
        assert after["marked"] == 1
        case = await load_case(sessionmaker, case_id)
        assert (case.state, case.close_reason) == ("已关闭", CloseReason.unreachable.value)
        staff = html.unescape((await officer.get(f"/console/cases/{case_id}")).text)
        assert "已关闭（无法联系）" in staff
        assert t("console.cases.reached_by_web") not in staff

    async def test_a_case_still_with_the_unit_is_marked_and_staff_see_it(
        self, phone: Phone, officer: Browser, sessionmaker: SessionMaker
    ) -> None:
        path = await contact_path(phone)
        case_id = await the_case(sessionmaker)
        await phone.client.post(f"{path}/write", data={"text": "请回电"})

        await confirm(phone)

        assert t("webchat.forget.done") in phone.text()
        case = await load_case(sessionmaker, case_id)
        assert case.state == "待核实"  # the unit finishes its work; nothing can be relayed
        async with sessionmaker() as session:
            marks = (
                await session.exec(
                    select(CaseEvent).where(
                        CaseEvent.case_id == case_id, col(CaseEvent.kind) == "unreachable"
                    )
                )
            ).all()
            dialogues = (await session.exec(select(Conversation))).all()
        assert [mark.note for mark in marks] == [t("caseclose.note.erased")]
        assert dialogues == []
        staff = html.unescape((await officer.get(f"/console/cases/{case_id}")).text)
        assert t("caseclose.unreachable") in staff
        assert "请回电" in staff  # what the citizen wrote stays on the case
        assert t("console.cases.reached_by_web") not in staff

    async def test_a_second_confirm_erases_nothing_more_and_says_so(
        self, phone: Phone, sessionmaker: SessionMaker
    ) -> None:
        await contact_path(phone)
        ask = ask_of(await phone.get("/c/forget"))
        await confirm(phone, ask)
        once = await counts(sessionmaker)

        again = await confirm(phone, ask)  # the same form, sent again

        assert again.status_code == 200
        assert t("webchat.forget.nothing") in phone.text()
        assert t("webchat.forget.done") not in phone.text()
        assert await counts(sessionmaker) == once
        assert once["marked"] == 1
        page = await phone.get("/c/forget")  # the browser holds nothing now
        assert t("webchat.forget.none_held") in phone.text()
        assert 'name="ask"' not in page.text

    async def test_works_in_care_mode_and_shows_the_large_text(
        self, phone: Phone, sessionmaker: SessionMaker
    ) -> None:
        path = await contact_path(phone)
        await phone.client.post("/c/prefs", data={"care": "1", "next": "/c/forget"})
        page = await phone.get("/c/forget")
        assert '<body class="care">' in page.text

        done = await confirm(phone, ask_of(page))

        assert '<body class="care">' in done.text
        assert t("webchat.forget.done") in phone.text()
        assert (await phone.client.get(path)).status_code == 404
        assert (await counts(sessionmaker))["links"] == 0


class TestNothingErased:
    async def test_showing_the_page_or_cancelling_erases_nothing(
        self, phone: Phone, sessionmaker: SessionMaker
    ) -> None:
        path = await contact_path(phone)
        citizen_cookie = phone.client.cookies.get("minyi_citizen")
        page = await phone.get("/c/forget")
        assert page.status_code == 200
        for key in KEYS:
            assert t(key) in phone.text()

        cancelled = await phone.client.post(
            "/c/forget", data={"act": "cancel", "ask": ask_of(page)}, follow_redirects=True
        )

        assert cancelled.status_code == 200
        assert t("webchat.forget.cancelled") in html.unescape(cancelled.text)
        assert (await phone.client.get(path)).status_code == 200
        assert phone.client.cookies.get("minyi_citizen") == citizen_cookie
        found = await counts(sessionmaker)
        assert (found["links"], found["marked"]) == (1, 0)

    async def test_a_confirm_of_another_browsers_question_is_stale(
        self, phone: Phone, citizen_for: CitizenFactory, sessionmaker: SessionMaker
    ) -> None:
        path = await contact_path(phone)
        other = Phone((await citizen_for()).client)
        await contact_path(other)
        foreign = ask_of(await other.get("/c/forget"))

        stale = await confirm(phone, foreign)

        assert stale.status_code == 409
        assert t("webchat.forget.stale") in phone.text()
        assert ask_of(stale) != foreign  # asked again, afresh, of this browser
        found = await counts(sessionmaker)
        assert (found["links"], found["marked"]) == (2, 0)
        assert (await phone.client.get(path)).status_code == 200

    async def test_a_forged_or_missing_question_erases_nothing(
        self, phone: Phone, sessionmaker: SessionMaker
    ) -> None:
        path = await contact_path(phone)
        ask = ask_of(await phone.get("/c/forget"))

        forged = await confirm(phone, ask[:-4] + "AAAA")
        missing = await phone.client.post("/c/forget", data={"act": "erase"})
        odd = await phone.client.post("/c/forget", data={"act": "wipe", "ask": ask})

        assert forged.status_code == 409
        assert (missing.status_code, odd.status_code) == (400, 400)
        assert t("webchat.error.bad_form") in html.unescape(missing.text)
        assert (await phone.client.get(path)).status_code == 200
        assert (await counts(sessionmaker))["links"] == 1

    async def test_a_browser_holding_nothing_has_nothing_to_erase(self, phone: Phone) -> None:
        page = await phone.get("/c/forget")
        posted = await phone.client.post(
            "/c/forget", data={"act": "erase", "ask": "x"}, follow_redirects=True
        )
        done = await phone.client.get("/c/forget/done", follow_redirects=True)

        assert page.status_code == 200
        assert t("webchat.forget.none_held") in phone.text()
        assert 'name="ask"' not in page.text
        assert posted.status_code == 200
        assert t("webchat.forget.nothing") in html.unescape(posted.text)
        assert str(done.url).endswith("/c/forget")  # nothing to report: the page itself
        assert "minyi_citizen" not in phone.client.cookies  # no pseudonym made for it


class TestLanguage:
    async def test_the_page_is_all_chinese_or_all_english(self, phone: Phone) -> None:
        await contact_path(phone)

        zh = visible(await phone.get("/c/forget"))
        english = visible(
            await phone.client.get("/c/forget", headers={"Accept-Language": "en-GB,en"})
        )

        for key in KEYS:
            assert t(key) in zh
            assert en(key) in english
            assert en(key) not in zh
            assert t(key) not in english
        # The language switch names the other language in that language, by design.
        assert re.findall(r"[A-Za-z]{3,}", zh.replace("English", "")) == []
        assert re.findall(r"[\u4e00-\u9fff]", english.replace("中文", "")) == []

    async def test_the_contact_list_leads_to_the_page(self, phone: Phone) -> None:
        await contact_path(phone)

        listed = await phone.get("/c/contact")

        assert 'href="/c/forget"' in listed.text
        assert t("webchat.forget.contact_hint") in phone.text()
