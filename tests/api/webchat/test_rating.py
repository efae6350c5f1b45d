"""好差评 on the web: the poster's and the receipt's links, the rating dialogue without
JavaScript (and one step under htmx), the thank-you page with the private contact link."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from datetime import UTC, timedelta

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient, Response
from sqlmodel import col, select

from surveys.accounts.models import Unit
from surveys.cases import workdays
from surveys.cases.models import CitizenContact, FollowUpCase
from surveys.core.db import SessionMaker
from surveys.core.i18n import Translator
from surveys.core.models import utcnow
from surveys.core.settings import Settings
from surveys.haochaping.models import Rating, ServiceEvent
from surveys.questionnaire.models import Identity

t = Translator()
FIELD = re.compile(r'name="(v|p)" value="(\d+)"')
CONTACT_LINK = re.compile(r'id="contact-url">([^<]+)</a>')


@pytest.fixture
async def phone(app: FastAPI) -> AsyncIterator[Phone]:
    transport = ASGITransport(app=app)
    async with AsyncClient(transport=transport, base_url="http://test") as client:
        yield Phone(client)


class Phone:
    """A citizen's browser without JavaScript, answering the rating on its page."""

    def __init__(self, client: AsyncClient) -> None:
        self.client = client
        self.page: Response | None = None

    async def get(self, url: str) -> Response:
        self.page = await self.client.get(url, follow_redirects=True)
        return self.page

    async def act(self, act: str, **fields: object) -> Response:
        assert self.page is not None
        data = {**dict(FIELD.findall(self.page.text)), "act": act}
        data.update({k: str(v) for k, v in fields.items()})
        self.page = await self.client.post("/c/rate", data=data, follow_redirects=True)
        return self.page

    async def pick(self, label: str) -> Response:
        assert self.page is not None
        found = re.search(
            r'name="i" value="(\d+)"[^>]*>(?:<span[^>]*>[^<]*</span>)?' + re.escape(label),
            self.page.text,
        )
        assert found, f"no option {label!r} on the page"
        return await self.act("pick", i=found.group(1))

    def text(self) -> str:
        assert self.page is not None
        return html.unescape(self.page.text)


async def rate_very_badly(phone: Phone, consent: str, link: str = "/c/w/spj/W03") -> Response:
    page = await phone.get(link)
    assert page.status_code == 200
    await phone.pick("非常不满意")
    await phone.pick("材料要求")
    await phone.pick("办事效率")
    await phone.act("done")
    await phone.act("text", text="材料反复要求补交")
    return await phone.pick(consent)


def contact_link(page: Response) -> str | None:
    found = CONTACT_LINK.search(page.text)
    return html.unescape(found.group(1)) if found else None


class TestWindowRating:
    async def test_the_poster_opens_the_five_neutral_levels(self, phone: Phone) -> None:
        page = await phone.get("/c/w/spj/W03/11150200MB")

        assert page.status_code == 200
        assert str(page.url).endswith("/c/rate")
        assert t("rating.window", unit="市审批服务局", window="W03") in phone.text()
        levels = re.findall(r'name="i" value="\d+"[^>]*>([^<]+)</button>', page.text)
        assert levels == ["非常满意", "满意", "基本满意", "不满意", "非常不满意"]
        assert 'class="progress"' not in page.text  # a 好评 ends here: no "共约 4 题"

    async def test_very_bad_with_reasons_opens_the_bots_case_and_a_contact_link(
        self, phone: Phone, sessionmaker: SessionMaker, settings: Settings
    ) -> None:
        page = await rate_very_badly(phone, "同意联系")

        assert page.status_code == 200
        assert t("webrate.thanks_contact") in phone.text()
        assert t("webrate.contact_keep") in phone.text()
        link = contact_link(page)
        assert link is not None
        assert link.startswith(f"{settings.base_url()}/c/contact/")
        assert phone.client.cookies.get("minyi_contact") == link.rsplit("/", 1)[1]
        async with sessionmaker() as session:
            rating = (await session.exec(select(Rating))).one()
            case = (await session.exec(select(FollowUpCase))).one()
            unit = await session.get_one(Unit, rating.unit_id)
            calendar = await workdays.load_calendar(session=session, tz=settings.tz)
            assert (await session.exec(select(Identity))).all() == []
            stored = (await session.exec(select(CitizenContact))).one()
        assert (rating.level, rating.reasons, rating.comment, rating.contact_ok) == (
            "very_dissatisfied",
            ["办事效率", "材料要求"],
            "材料反复要求补交",
            True,
        )
        due = workdays.policy_from(settings).deadlines(
            calendar, rating.rated_at.replace(tzinfo=UTC), unit.kind
        )
        assert (case.contact_due, case.rectify_due) == due
        assert stored.token_hash is not None
        assert link.rsplit("/", 1)[1] not in stored.token_hash

    async def test_the_link_is_shown_once(self, phone: Phone) -> None:
        await rate_very_badly(phone, "同意联系")

        again = await phone.get("/c/rate/thanks")

        assert contact_link(again) is None

    async def test_no_contact_wanted_no_contact_link(
        self, phone: Phone, sessionmaker: SessionMaker
    ) -> None:
        page = await rate_very_badly(phone, "不需要联系")

        assert t("contact.thanks_declined") in phone.text()
        assert contact_link(page) is None
        assert "/c/contact/" not in page.text
        assert phone.client.cookies.get("minyi_contact") is None
        async with sessionmaker() as session:
            assert len((await session.exec(select(FollowUpCase))).all()) == 1

    async def test_a_good_rating_ends_at_once(
        self, phone: Phone, sessionmaker: SessionMaker
    ) -> None:
        await phone.get("/c/w/spj/W03")

        await phone.pick("满意")

        assert t("rating.thanks") in phone.text()
        async with sessionmaker() as session:
            assert (await session.exec(select(FollowUpCase))).all() == []

    async def test_under_htmx_a_step_answers_with_the_fragment(self, phone: Phone) -> None:
        page = await phone.get("/c/w/spj/W03")
        data = {**dict(FIELD.findall(page.text)), "act": "pick", "i": "4"}

        answer = await phone.client.post("/c/rate", data=data, headers={"HX-Request": "true"})

        assert answer.status_code == 200
        assert answer.text.lstrip().startswith('<div id="chat"')
        assert t("rating.q.reasons") in answer.text

    async def test_a_stale_form_changes_nothing(self, phone: Phone) -> None:
        page = await phone.get("/c/w/spj/W03")
        stale = {**dict(FIELD.findall(page.text)), "act": "pick", "i": "1"}
        await phone.pick("非常不满意")

        answer = await phone.client.post("/c/rate", data=stale)

        assert answer.status_code == 409
        assert t("rating.q.reasons") in html.unescape(answer.text)


class TestBadLinks:
    @pytest.mark.parametrize(
        ("url", "status", "key"),
        [
            ("/c/w/nope/A1", 404, None),
            ("/c/w/spj/" + "A" * 40, 400, "webrate.bad_link"),
            ("/c/w/spj/A%20B", 400, "webrate.bad_link"),
            ("/c/r/rcpt-unknown", 404, "webrate.bad_receipt"),
            ("/c/r/" + "x" * 300, 404, "webrate.bad_receipt"),
        ],
    )
    async def test_a_bad_link_is_a_clear_page(
        self, phone: Phone, url: str, status: int, key: str | None
    ) -> None:
        page = await phone.get(url)

        assert page.status_code == status
        expected = t(key) if key else t("error.unknown_unit", code="nope")
        assert expected in phone.text()

    async def test_posting_with_no_rating_in_progress_is_refused(self, phone: Phone) -> None:
        answer = await phone.client.post(
            "/c/rate", data={"v": "1", "p": "1", "act": "pick", "i": "0"}
        )

        assert answer.status_code == 409
        assert t("webrate.none") in html.unescape(answer.text)

    async def test_a_malformed_form_is_refused(self, phone: Phone) -> None:
        answer = await phone.client.post("/c/rate", data={"v": "x", "act": "pick"})

        assert answer.status_code == 400


class TestReceipt:
    async def test_a_receipt_link_rates_its_case(
        self, phone: Phone, sessionmaker: SessionMaker
    ) -> None:
        async with sessionmaker() as session:
            unit = (await session.exec(select(Unit).where(col(Unit.code) == "spj"))).one()
            session.add(
                ServiceEvent(
                    case_no="B-9",
                    item_code="11150200MB",
                    item_name="企业开办",
                    unit_id=unit.id or 0,
                    channel=2,
                    finished_at=utcnow() - timedelta(hours=1),
                    link_token="rcpt-web-9",
                )
            )
            await session.commit()

        page = await phone.get("/c/r/rcpt-web-9")
        assert t("rating.event", unit="市审批服务局", item="企业开办") in phone.text()
        await phone.pick("满意")

        assert page.status_code == 200
        async with sessionmaker() as session:
            rating = (await session.exec(select(Rating))).one()
        assert (rating.item_name, rating.channel, rating.level) == ("企业开办", 2, "satisfied")
