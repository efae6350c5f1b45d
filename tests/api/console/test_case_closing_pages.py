"""结案 on the console and the REST API: a supervisor closes any open case with a note; staff
cannot; the reason reads 已关闭（…） on the case page, in the queue and in the API's answer; a
case whose citizen erased their contact says so on its page."""

from __future__ import annotations

import html
from typing import Any

from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlmodel import col, select

from surveys.accounts.access import StaffRole
from surveys.accounts.models import AuditEvent
from surveys.cases.models import CaseState
from surveys.core.db import SessionMaker
from surveys.core.i18n import Translator
from surveys.questionnaire.models import Identity
from tests.api.console.conftest import OWN_UNIT, Browser, add_user, bearer
from tests.api.console.test_cases_pages import events_of, load_case, make_case

S = CaseState
t = Translator()
NOTE = "与 #12 为同一诉求，已合并办理"
BrowserFor = Any


async def closes(sessionmaker: SessionMaker) -> list[AuditEvent]:
    async with sessionmaker() as session:
        statement = select(AuditEvent).where(AuditEvent.action == "case.close")
        return list((await session.exec(statement.order_by(col(AuditEvent.id)))).all())


class TestConsole:
    async def test_a_supervisor_closes_with_a_note(
        self, browser_for: BrowserFor, sessionmaker: SessionMaker
    ) -> None:
        await add_user(sessionmaker, "zhao", StaffRole.supervisor, [])
        boss: Browser = await browser_for("zhao")
        case_id = await make_case(sessionmaker, state=S.replied)

        page = await boss.get(f"/console/cases/{case_id}")
        assert f'action="/console/cases/{case_id}/close"' in page.text
        done = await boss.post(
            f"/console/cases/{case_id}/close", {"note": NOTE}, follow_redirects=True
        )

        assert done.status_code == 200
        text = html.unescape(done.text)
        assert t("caseclose.done") in text
        assert '<span class="state">已关闭（主管结案）</span>' in text
        assert NOTE in text  # on the timeline
        assert f'action="/console/cases/{case_id}/close"' not in text  # nothing left to close
        case = await load_case(sessionmaker, case_id)
        assert (case.state, case.close_reason) == (S.closed, "supervisor")
        (audit,) = await closes(sessionmaker)
        assert (audit.actor, audit.target) == ("zhao", f"case:{case_id}")
        queue = html.unescape((await boss.get(f"/console/cases?unit={OWN_UNIT}")).text)
        assert ">已关闭（主管结案）</td>" in queue

    async def test_without_a_note_nothing_changes_and_the_page_says_why(
        self, browser_for: BrowserFor, sessionmaker: SessionMaker
    ) -> None:
        await add_user(sessionmaker, "zhao", StaffRole.supervisor, [])
        boss: Browser = await browser_for("zhao")
        case_id = await make_case(sessionmaker, state=S.rectifying)
        await boss.get(f"/console/cases/{case_id}")

        refused = await boss.post(f"/console/cases/{case_id}/close", {"note": "   "})

        assert refused.status_code == 422
        assert t("caseclose.error.note_required") in html.unescape(refused.text)
        assert (await load_case(sessionmaker, case_id)).state == S.rectifying
        assert await closes(sessionmaker) == []

    async def test_unit_staff_get_no_form_and_are_refused(
        self, browser_for: BrowserFor, sessionmaker: SessionMaker
    ) -> None:
        await add_user(sessionmaker, "li", StaffRole.staff, [OWN_UNIT])
        worker: Browser = await browser_for("li")
        case_id = await make_case(sessionmaker, state=S.replied)

        page = await worker.get(f"/console/cases/{case_id}")
        refused = await worker.post(f"/console/cases/{case_id}/close", {"note": NOTE})

        assert f'action="/console/cases/{case_id}/close"' not in page.text
        assert refused.status_code == 403
        assert (await load_case(sessionmaker, case_id)).state == S.replied

    async def test_a_case_whose_citizen_erased_their_contact_says_so(
        self, browser_for: BrowserFor, sessionmaker: SessionMaker
    ) -> None:
        await add_user(sessionmaker, "li", StaffRole.staff, [OWN_UNIT])
        worker: Browser = await browser_for("li")
        case_id = await make_case(sessionmaker, state=S.rectifying)
        before = html.unescape((await worker.get(f"/console/cases/{case_id}")).text)
        async with sessionmaker() as session, session.begin():
            for identity in (await session.exec(select(Identity))).all():
                await session.delete(identity)

        after = html.unescape((await worker.get(f"/console/cases/{case_id}")).text)

        assert t("caseclose.unreachable") not in before
        assert t("caseclose.unreachable") in after


class TestApi:
    async def test_a_supervisors_token_closes_a_staff_token_cannot(
        self, app: FastAPI, sessionmaker: SessionMaker
    ) -> None:
        boss = await bearer(sessionmaker, "office", StaffRole.supervisor, None)
        unit_token = await bearer(sessionmaker, "erp", StaffRole.staff, OWN_UNIT)
        case_id = await make_case(sessionmaker, state=S.replied)
        url = f"/api/v1/cases/{case_id}/close"
        transport = ASGITransport(app=app)
        async with AsyncClient(transport=transport, base_url="http://test") as client:
            staff_try = await client.post(url, json={"note": NOTE}, headers=unit_token)
            blank = await client.post(url, json={"note": "  "}, headers=boss)
            closed = await client.post(url, json={"note": NOTE}, headers=boss)
            again = await client.post(url, json={"note": NOTE}, headers=boss)
            shown = await client.get(f"/api/v1/cases/{case_id}", headers=boss)

        assert staff_try.status_code == 403
        assert blank.status_code == 422
        assert closed.status_code == 200, closed.text
        assert closed.json()["state"] == "已关闭"
        assert closed.json()["close_reason"] == "supervisor"
        assert closed.json()["state_label"] == "已关闭（主管结案）"
        assert again.status_code == 409
        assert shown.json()["state_label"] == "已关闭（主管结案）"
        events = await events_of(sessionmaker, case_id)
        assert (events[-1].actor, events[-1].note) == ("office", NOTE)
        (audit,) = await closes(sessionmaker)
        assert audit.actor == "token:office"
