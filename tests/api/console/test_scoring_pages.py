"""The evaluation results page, monitoring uploads and the 反馈单 (HTML and PDF)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import PureWindowsPath
from typing import Any

import pytest
from fastapi import FastAPI
from sqlmodel import func, select

from scoring import export, service
from scoring.demo import activity as demo_scores
from scoring.demo import survey as demo
from scoring.models import Component, ImportLayout, MonitoringImport, MonitoringScore
from surveys.accounts.access import StaffRole
from surveys.accounts.models import AuditEvent
from surveys.cases import workdays
from surveys.core.clock import local_minutes
from surveys.core.db import SessionMaker, unit_of_work
from surveys.core.periods import period_label
from surveys.core.settings import Settings
from surveys.questionnaire import catalog
from tests.api.console.conftest import OTHER_UNIT, OWN_UNIT, add_user

TODAY = date(2026, 11, 23)
PERIOD = "2026H1"


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


async def _count(sessionmaker: SessionMaker, model: Any) -> int:
    async with sessionmaker() as session:
        return int((await session.exec(select(func.count()).select_from(model))).one())


class TestRanking:
    async def test_admin_sees_every_unit_ranked_with_charts(
        self, scored: FastAPI, browser_for: Any
    ) -> None:
        browser = await browser_for("boss")
        page = await browser.get(f"/console/scoring?period={PERIOD}")
        assert page.status_code == 200
        assert page.text.count("<tr data-unit=") == 35
        for chart in ("chart-distribution", "chart-components", "chart-trend"):
            assert f'id="{chart}"' in page.text
        assert 'data-kind="旗县区和高新区"' in page.text  # ranking groups of the method file
        assert 'data-kind="市直部门"' in page.text
        # The period as people write it in the heading and the import list, the code only in
        # links and the form.
        heading = page.text.split("<h1>")[1].split("</h1>")[0]
        assert period_label(PERIOD) in heading
        assert PERIOD not in heading
        assert f"<td>{period_label(PERIOD)}</td>" in page.text

    async def test_unit_staff_may_not_see_the_ranking(
        self, scored: FastAPI, browser_for: Any
    ) -> None:
        browser = await browser_for("li")
        assert (await browser.get(f"/console/scoring?period={PERIOD}")).status_code == 403
        export = await browser.get(f"/console/scoring/export?period={PERIOD}&fmt=csv")
        assert export.status_code == 403

    async def test_exports_are_audited(
        self, scored: FastAPI, browser_for: Any, sessionmaker: SessionMaker
    ) -> None:
        browser = await browser_for("boss")
        csv = await browser.get(f"/console/scoring/export?period={PERIOD}&fmt=csv")
        assert csv.status_code == 200
        assert "spj" in csv.content.decode("utf-8-sig")
        async with sessionmaker() as session:
            audited = (
                await session.exec(select(AuditEvent).where(AuditEvent.action == "export.scores"))
            ).all()
        assert [(a.actor, a.target) for a in audited] == [("boss", PERIOD)]


class TestMonitoringUpload:
    async def test_a_bad_file_lists_every_problem_and_stores_nothing(
        self, scored: FastAPI, browser_for: Any, sessionmaker: SessionMaker
    ) -> None:
        before = (
            await _count(sessionmaker, MonitoringImport),
            await _count(sessionmaker, MonitoringScore),
        )
        browser = await browser_for("boss")
        await browser.get("/console/scoring")
        bad = "单位编码,单位名称,总分\nnowhere,无此单位,80\nspj,市审批服务局,120\n".encode()
        response = await browser.client.post(
            "/console/scoring/import",
            data={"csrftoken": browser.csrf, "period": PERIOD, "component": "日常监测"},
            files={"file": ("bad.csv", bad, "text/csv")},
        )
        assert response.status_code == 422
        assert "nowhere" in response.text
        assert "120" in response.text
        after = (
            await _count(sessionmaker, MonitoringImport),
            await _count(sessionmaker, MonitoringScore),
        )
        assert after == before


class TestFeedbackSheet:
    async def test_unit_staff_get_their_own_sheet(self, scored: FastAPI, browser_for: Any) -> None:
        browser = await browser_for("li")
        page = await browser.get(f"/console/feedback/{OWN_UNIT}?period={PERIOD}")
        assert page.status_code == 200
        assert "市审批服务局" in page.text
        assert "评估情况反馈单" in page.text
        for component in ("日常监测", "实地调研", "民意调查", "第三方评估"):
            assert component in page.text
        assert 'id="findings"' in page.text
        assert "同类平均" in page.text

    async def test_another_units_sheet_is_not_there(
        self, scored: FastAPI, browser_for: Any
    ) -> None:
        browser = await browser_for("li")
        assert (await browser.get(f"/console/feedback/{OTHER_UNIT}")).status_code == 404
        assert (await browser.get(f"/console/feedback/{OTHER_UNIT}/pdf")).status_code == 404

    async def test_the_pdf_has_the_chinese_font_and_is_audited(
        self, scored: FastAPI, browser_for: Any, sessionmaker: SessionMaker
    ) -> None:
        browser = await browser_for("li")
        pdf = await browser.get(f"/console/feedback/{OWN_UNIT}/pdf?period={PERIOD}")
        assert pdf.status_code == 200
        assert pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF")
        assert len(pdf.content) > 5000
        async with sessionmaker() as session:
            audited = (
                await session.exec(
                    select(AuditEvent).where(AuditEvent.action == "export.feedback")
                )
            ).all()
        assert [a.target for a in audited] == [f"{OWN_UNIT} {PERIOD}"]


def _ranking_tables(html: str) -> dict[str, list[str]]:
    """Each kind's table: the data-rank of its rows, in the order shown."""
    tables = re.findall(
        r'<table class="grid ranking" data-kind="([^"]+)">(.*?)</table>', html, re.S
    )
    return {
        kind: re.findall(r'<tr data-unit="[^"]+" data-rank="(\d*)"', body) for kind, body in tables
    }


class TestResultsReadRight:
    async def test_each_kind_is_listed_by_rank(self, scored: FastAPI, browser_for: Any) -> None:
        browser = await browser_for("boss")
        html = (await browser.get(f"/console/scoring?period={PERIOD}")).text
        tables = _ranking_tables(html)
        assert list(tables) == ["旗县区和高新区", "市直部门"]
        for kind, ranks in tables.items():
            ranked = [int(r) for r in ranks if r]
            assert ranked == sorted(ranked), kind
            assert ranked[0] == 1, kind
            assert ranks[: len(ranked)] == [str(r) for r in ranked]  # unranked ones last
        assert len(tables["市直部门"]) == 25

    async def test_every_unit_shows_its_sources_with_n_and_weight(
        self, scored: FastAPI, browser_for: Any, sessionmaker: SessionMaker, settings: Settings
    ) -> None:
        browser = await browser_for("boss")
        html = (await browser.get(f"/console/scoring?period={PERIOD}")).text
        async with sessionmaker() as session:
            report = await service.score_scope(
                session=session, setup=service.setup(settings), period=PERIOD
            )

        assert "<h2>排名组：旗县区和高新区</h2>" in html
        assert "<h2>排名组：市直部门</h2>" in html
        assert "民意调查得分为各来源得分的加权平均，权重：问卷调查 1" in html
        rows = re.findall(r'<tr data-source="(\w+)" data-of="([^"]+)"[^>]*>(.*?)</tr>', html, re.S)
        shown = {(source, unit): re.sub(r"<[^>]+>|\s", "", cells) for source, unit, cells in rows}
        lines = 0
        for result in report.halves[PERIOD]:
            for line in export.source_lines(result, report.method):
                e = line.estimate
                text = shown[(line.source.value, result.unit.code)]
                expected = f"{e.score:.2f}{e.low:.2f}–{e.high:.2f}{e.n}{line.percent:.2f}%"
                assert text.startswith(f"{result.unit.name}{line.name}{expected}"), text
                lines += 1
            raw = result.opinion_raw
            combined = shown[("combined", result.unit.code)]
            assert (f"{raw.n}100.00%" in combined) if raw else ("无有效答卷或评价" in combined)
        assert lines >= 35

    async def test_import_times_are_local_and_files_have_no_folder(
        self, scored: FastAPI, browser_for: Any, sessionmaker: SessionMaker, settings: Settings
    ) -> None:
        # Files imported from the command line as they may be stored: with their folder.
        folders = {
            "/srv/office/监测/daily_h1.csv": "daily_h1.csv",
            "D:\\考评\\调研.xlsx": "调研.xlsx",
        }
        async with unit_of_work(sessionmaker) as session:
            for name in folders:
                session.add(
                    MonitoringImport(
                        period=PERIOD,
                        component=Component.field,
                        layout=ImportLayout.total,
                        file_name=name,
                        sha256="0" * 64,
                        rows=0,
                        imported_by="test",
                        imported_at=datetime(2026, 11, 20, 1, 2, 3, 456789, tzinfo=UTC),
                    )
                )
        async with sessionmaker() as session:
            imports = (await session.exec(select(MonitoringImport))).all()
        browser = await browser_for("boss")
        html = (await browser.get(f"/console/scoring?period={PERIOD}")).text
        assert "<td>2026-11-20 09:02</td>" in html  # 01:02:03.456789 UTC in Asia/Shanghai
        for stored in imports:
            local = local_minutes(stored.imported_at, settings.tz)
            assert f"<td>{local}</td>" in html
            assert f"<td>{PureWindowsPath(stored.file_name).name}</td>" in html
            assert "/" not in stored.file_name or stored.file_name not in html
        for name, shown in folders.items():
            assert f"<td>{shown}</td>" in html
            assert name not in html
        assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d{6}", html)  # no microseconds
        assert "+00:00" not in html
        # No ISO time (searched as a pattern: a CSRF token may hold "T0").
        assert not re.search(r"\d{4}-\d{2}-\d{2}T\d{2}", html)

    async def test_every_flag_is_said_in_words(self, scored: FastAPI, browser_for: Any) -> None:
        browser = await browser_for("boss")
        html = (await browser.get(f"/console/scoring?period={PERIOD}")).text
        assert "⚠" not in html
        flagged = re.findall(r"样本不足：n = (\d+) &lt; 385", html)
        assert flagged
        assert all(int(n) < 385 for n in flagged)
        assert "名次区间" in html  # the bands in brackets are explained
