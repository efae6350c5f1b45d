"""The 通报 in the console: the page of a half-year and of a year, the print view without the
console around it, and the PDF and XLSX downloads, each audited once; administrators only."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from sqlmodel import select

from scoring.demo import activity as demo_scores
from scoring.demo import survey as demo
from surveys.accounts.access import StaffRole
from surveys.accounts.models import AuditEvent
from surveys.cases import workdays
from surveys.core.db import SessionMaker, unit_of_work
from surveys.core.settings import Settings
from surveys.questionnaire import catalog
from tests.api.console.conftest import OWN_UNIT, add_user

TODAY = date(2026, 11, 23)


@pytest.fixture
async def scored(app: FastAPI, sessionmaker: SessionMaker, settings: Settings) -> FastAPI:
    async with unit_of_work(sessionmaker) as session:
        await catalog.load_survey(
            session=session, definition=demo.demo_survey(TODAY), source="demo"
        )
        await demo_scores.load(
            session=session,
            today=TODAY,
            now=datetime(2026, 11, 23, 2, tzinfo=UTC),
            tz=settings.tz,
            policy=workdays.policy_from(settings),
        )
    await add_user(sessionmaker, "boss", StaffRole.admin, [])
    await add_user(sessionmaker, "li", StaffRole.staff, [OWN_UNIT])
    return app


def _ranks(html: str) -> dict[str, list[int]]:
    tables = re.findall(r'<table class="ranking" data-kind="([^"]+)">(.*?)</table>', html, re.S)
    return {
        kind: [int(r) for r in re.findall(r'<tr data-unit="[^"]+" data-rank="(\d+)"', body)]
        for kind, body in tables
    }


class TestCircularPage:
    @pytest.mark.parametrize(
        ("query", "title"),
        [
            ("period=2026H1", "关于2026年上半年数字政府建设考评结果的通报"),
            ("year=2026", "关于2026年度数字政府建设考评结果的通报"),
        ],
    )
    async def test_each_ranking_group_in_rank_order_on_a_paper(
        self, scored: FastAPI, browser_for: Any, query: str, title: str
    ) -> None:
        browser = await browser_for("boss")
        page = await browser.get(f"/console/circular?{query}")
        assert page.status_code == 200
        html = page.text
        assert f'<h1 id="title">{title}</h1>' in html
        ranks = _ranks(html)
        assert list(ranks) == ["旗县区和高新区", "市直部门"]  # the method's ranking groups
        assert "排名组：旗县区和高新区（" in html
        assert "民意调查分来源明细" in html
        assert re.search(r'<tr data-unit="[^"]+" data-source="survey">', html)
        for kind, found in ranks.items():
            assert found == sorted(found), kind
            assert found[0] == 1, kind
        for part in ('id="issuer"', 'id="docno"', 'id="seal"', "日常监测", "第三方评估"):
            assert part in html
        assert "2026H1" not in re.sub(r'(href|value|data-scope)="[^"]*"', "", html)
        assert "/console/circular/export?" in html

    async def test_the_print_view_has_no_console_around_it(
        self, scored: FastAPI, browser_for: Any
    ) -> None:
        browser = await browser_for("boss")
        page = await browser.get("/console/circular/print?period=2026H2")
        assert page.status_code == 200
        assert "<nav>" not in page.text
        assert 'id="circular"' in page.text

    async def test_unit_staff_may_not_have_it(self, scored: FastAPI, browser_for: Any) -> None:
        browser = await browser_for("li")
        assert (await browser.get("/console/circular?period=2026H1")).status_code == 403
        export = await browser.get("/console/circular/export?period=2026H1&fmt=xlsx")
        assert export.status_code == 403

    async def test_downloads_are_audited_once_each(
        self, scored: FastAPI, browser_for: Any, sessionmaker: SessionMaker
    ) -> None:
        from openpyxl import load_workbook  # type: ignore[import-untyped]

        browser = await browser_for("boss")
        xlsx = await browser.get("/console/circular/export?year=2026&fmt=xlsx")
        assert xlsx.status_code == 200
        assert 'filename="circular_2026.xlsx"' in xlsx.headers["content-disposition"]
        sheet = load_workbook(io.BytesIO(xlsx.content)).active
        assert sheet.title == "2026年度通报"
        assert sheet.freeze_panes == "A5"
        pdf = await browser.get("/console/circular/export?period=2026H2&fmt=pdf")
        assert pdf.status_code == 200
        assert pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF")
        async with sessionmaker() as session:
            audited = (
                await session.exec(
                    select(AuditEvent)
                    .where(AuditEvent.action == "export.circular")
                    .order_by(AuditEvent.id)  # type: ignore[arg-type]
                )
            ).all()
        assert [(a.actor, a.target, a.detail["formats"]) for a in audited] == [
            ("boss", "2026", ["xlsx"]),
            ("boss", "2026H2", ["pdf"]),
        ]

    async def test_a_view_is_not_audited(
        self, scored: FastAPI, browser_for: Any, sessionmaker: SessionMaker
    ) -> None:
        browser = await browser_for("boss")
        await browser.get("/console/circular?period=2026H2")
        async with sessionmaker() as session:
            audited = (
                await session.exec(
                    select(AuditEvent).where(AuditEvent.action == "export.circular")
                )
            ).all()
        assert audited == []
