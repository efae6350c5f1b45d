"""The 评估情况反馈单 as an official paper: letterhead, 文号, Chinese date and period, page
numbers, rank band, seal, and every number as the score export has it (PDF read as text)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlmodel import col, func, select

from api.console.feedback import printable, render_pdf
from scoring import export, feedback_sheet, flows, service
from scoring.demo import activity as demo_scores
from scoring.demo import survey as demo
from surveys.accounts.access import Actor, StaffRole
from surveys.accounts.models import Unit
from surveys.cases import service as cases
from surveys.cases import workdays
from surveys.cases.models import FollowUpCase
from surveys.core.db import SessionMaker, unit_of_work
from surveys.core.settings import Settings
from surveys.haochaping.models import Rating
from surveys.questionnaire import catalog
from tests.api.console.conftest import OWN_UNIT, add_user
from tests.pdf_text import pdf_text

TODAY = date(2026, 11, 23)
PERIOD = "2026H1"
AT = datetime(2026, 12, 1, 1, 30, tzinfo=UTC)  # 2026-12-01 09:30 in Asia/Shanghai
ADMIN = Actor(name="boss", role=StaffRole.admin, units=None)


@pytest.fixture
async def scored(app: FastAPI, sessionmaker: SessionMaker, settings: Settings) -> FastAPI:
    async with unit_of_work(sessionmaker) as session:
        await catalog.load_survey(
            session=session, definition=demo.demo_survey(TODAY), source="demo"
        )
        await demo_scores.load(
            session=session, today=TODAY, now=datetime(2026, 11, 23, 2, tzinfo=UTC),
            tz=settings.tz, policy=workdays.policy_from(settings),
        )  # fmt: skip
    await add_user(sessionmaker, "boss", StaffRole.admin, [])
    return app


async def _sheet(
    sessionmaker: SessionMaker, settings: Settings, unit: str = OWN_UNIT
) -> feedback_sheet.FeedbackSheet:
    async with unit_of_work(sessionmaker) as session:
        return await flows.export_feedback(
            session=session, actor=ADMIN, unit_code=unit, period=PERIOD,
            setup=service.setup(settings, AT),
        )  # fmt: skip


def _text(pdf: bytes, tmp_path: Path) -> str:
    return pdf_text(pdf)


async def _most_overdue(sessionmaker: SessionMaker) -> str:
    """The demo unit with the most cases overdue on the day of issue."""
    async with sessionmaker() as session:
        statement = (
            select(Unit.code, func.count())
            .join(FollowUpCase, col(FollowUpCase.unit_id) == col(Unit.id))
            .where(cases.overdue_condition(AT.date()))
            .group_by(col(Unit.code))
            .order_by(func.count().desc(), col(Unit.code))
        )
        return str((await session.exec(statement)).first()[0])  # type: ignore[index]


def _flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


class TestThePdf:
    async def test_reads_as_an_official_paper(
        self, scored: FastAPI, sessionmaker: SessionMaker, settings: Settings, tmp_path: Path
    ) -> None:
        sheet = await _sheet(sessionmaker, settings)
        text = _flat(_text(render_pdf(printable(sheet, settings)), tmp_path))
        assert "包头市数字政府建设考评工作领导小组办公室" in text
        assert f"包数政考〔2026〕{feedback_sheet.seq(sheet)}号" in text
        assert "市审批服务局2026年上半年评估情况反馈单" in text
        assert "2026年12月1日" in text  # the date of issue under the seal
        assert "包头市数字政府建设考评办公室（印章）" in text
        assert "数据截止：2026年12月1日09:30" in text
        pages = len(re.findall(r"第\d+页共(\d+)页", text))
        assert pages >= 2
        assert "第1页共" + str(pages) + "页" in text
        assert f"第{pages}页共{pages}页" in text
        for gone in ("minyi", sheet.fingerprint[:16], "2026H1", "T01:30", "+00:00"):
            assert gone not in text

    async def test_every_number_is_the_score_exports(
        self, scored: FastAPI, sessionmaker: SessionMaker, settings: Settings, tmp_path: Path
    ) -> None:
        async with sessionmaker() as session:
            report = await service.score_scope(
                session=session, setup=service.setup(settings, AT), period=PERIOD
            )
        ranking = export.ranking_rows(report)
        banded = next(r["unit_code"] for r in ranking if r["band"] and "–" in r["band"])
        exact = next(r["unit_code"] for r in ranking if r["band"] and "–" not in r["band"])
        for unit in (banded, exact):
            sheet = await _sheet(sessionmaker, settings, unit)
            text = _flat(_text(render_pdf(printable(sheet, settings)), tmp_path))
            self._check(report, unit, text)

    @staticmethod
    def _check(report: service.ScoreReport, unit: str, text: str) -> None:
        rank = next(r for r in export.ranking_rows(report) if r["unit_code"] == unit)
        ranked = [
            r for r in export.ranking_rows(report) if r["group"] == rank["group"] and r["rank"]
        ]
        parts = next(r for r in export.component_rows(report) if r["unit_code"] == unit)
        opinion = next(
            r
            for r in export.opinion_rows(report)
            if r["unit_code"] == unit and r["source"] == export.COMBINED
        )
        if "–" in rank["band"]:
            assert f"第{rank['rank']}名（区间{rank['band']}）/{len(ranked)}" in text
        else:
            assert f"第{rank['rank']}名/{len(ranked)}" in text
        assert f"半年总分{rank['score']:.2f}" in text
        for component in ("日常监测", "实地调研", "民意调查", "第三方评估"):
            key = next(k for k, v in export.HEADERS.items() if v == component)
            assert f"{component}{parts[key]:.2f}" in text
        assert f"民意有效样本{opinion['n']}" in text


class TestSourcesAndGroup:
    async def test_each_source_and_the_ranking_group_as_the_export_has_them(
        self, scored: FastAPI, sessionmaker: SessionMaker, settings: Settings
    ) -> None:
        async with sessionmaker() as session:
            report = await service.score_scope(
                session=session, setup=service.setup(settings, AT), period=PERIOD
            )
        ranking = export.ranking_rows(report)
        zone = next(r for r in ranking if r["kind"] == "高新区")
        results = {r.unit.code: r for r in report.halves[PERIOD]}
        for row in (next(r for r in ranking if r["unit_code"] == OWN_UNIT), zone):
            unit = row["unit_code"]
            sheet = await _sheet(sessionmaker, settings, unit)
            text = _flat(pdf_text(render_pdf(printable(sheet, settings))))
            assert f"同类排名（排名组：{row['group']}）" in text
            sources = [
                r
                for r in export.opinion_rows(report)
                if r["unit_code"] == unit and r["source_code"] != "combined"
            ]
            assert sources, unit
            for r in sources:
                effect = "" if r["design_effect"] is None else f"设计效应{r['design_effect']:.2f}"
                line = f"{r['score']:.2f}{r['low']:.2f}–{r['high']:.2f}{r['n']}{r['weight']:.2f}%"
                assert f"{r['source']}{line}{effect}" in text, r
            raw = results[unit].opinion_raw
            assert raw is not None
            combined = f"{raw.score:.2f}{raw.low:.2f}–{raw.high:.2f}{raw.n}100.00%"
            assert f"民意调查（合计）{combined}" in text
            assert "民意调查得分为各来源得分的加权平均，权重：问卷调查1" in text
        # 稀土高新区 is ranked among the 旗县区 and 高新区, not alone.
        assert zone["group"] == "旗县区和高新区"
        peers = [r for r in ranking if r["group"] == zone["group"] and r["rank"]]
        assert len(peers) > 1
        assert {r["kind"] for r in peers} == {"旗县区", "高新区"}


class TestFindings:
    async def test_overdue_cases_of_excluded_ratings_are_not_listed(
        self, scored: FastAPI, sessionmaker: SessionMaker, settings: Settings
    ) -> None:
        before = await _sheet(sessionmaker, settings, await _most_overdue(sessionmaker))
        assert before.overdue
        first = before.overdue[0]
        async with unit_of_work(sessionmaker) as session:
            case = await session.get(FollowUpCase, first.case_id)
            assert case is not None
            rating = await session.get(Rating, case.rating_id)
            assert rating is not None
            rating.excluded = True
            session.add(rating)
        after = await _sheet(sessionmaker, settings, before.unit.code)
        assert first.case_id not in [c.case_id for c in after.overdue]
        assert after.overdue_total == before.overdue_total - 1

    async def test_each_overdue_case_names_the_deadline_it_missed(
        self, scored: FastAPI, sessionmaker: SessionMaker, settings: Settings
    ) -> None:
        sheet = await _sheet(sessionmaker, settings, await _most_overdue(sessionmaker))
        assert sheet.overdue
        async with sessionmaker() as session:
            found = {
                pk: c
                for c in (
                    await session.exec(
                        select(FollowUpCase).where(
                            col(FollowUpCase.id).in_([c.case_id for c in sheet.overdue])
                        )
                    )
                ).all()
                if (pk := c.id) is not None
            }
        for line in sheet.overdue:
            case = found[line.case_id]
            assert line.due == cases.current_due(case)
            assert line.due < AT.date()
            if case.state in cases.AWAITING_CONTACT:
                assert (line.missed, line.due) == ("feedback.missed.contact", case.contact_due)
            else:
                assert (line.missed, line.due) == ("feedback.missed.rectify", case.rectify_due)


class TestPrintView:
    async def test_the_print_view_has_no_console_navigation(
        self, scored: FastAPI, browser_for: Any
    ) -> None:
        browser = await browser_for("boss")
        page = await browser.get(f"/console/feedback/{OWN_UNIT}/print?period={PERIOD}")
        assert page.status_code == 200
        assert 'class="top"' not in page.text
        assert "/console/dashboard" not in page.text
        assert '/static/paper.css"' in page.text
        assert "包数政考〔2026〕" in page.text
        screen = await browser.get(f"/console/feedback/{OWN_UNIT}?period={PERIOD}")
        assert 'href="/static/paper.css" media="print"' in screen.text
        assert f"/console/feedback/{OWN_UNIT}/print?period={PERIOD}" in screen.text
