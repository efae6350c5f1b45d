"""The 通报: every number equals the score export's, each kind in rank order, the year the
mean of its halves; the XLSX and the PDF read as the paper they are."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from api.console.circular import printable, render_pdf
from scoring import circular, export, service
from scoring.demo import activity as demo_scores
from scoring.demo import survey as demo
from scoring.models import Component
from surveys.accounts import units
from surveys.accounts.access import Actor, StaffRole
from surveys.cases import workdays
from surveys.core.settings import Settings
from surveys.questionnaire import catalog
from tests.pdf_text import pdf_text

TODAY = date(2026, 11, 23)
NOW = datetime(2026, 11, 23, 2, tzinfo=UTC)
ADMIN = Actor(name="boss", role=StaffRole.admin, units=None)
STAFF = Actor(name="li", role=StaffRole.staff, units=frozenset({1}))


@pytest.fixture
async def scored(session: AsyncSession, settings: Settings) -> service.Setup:
    parsed = units.parse_units_csv(demo.UNITS_CSV.read_text("utf-8"), source="units.csv")
    await units.upsert_units(session=session, units=parsed)
    await catalog.load_survey(session=session, definition=demo.demo_survey(TODAY), source="demo")
    await demo_scores.load(session=session, today=TODAY, now=NOW, tz=settings.tz,
                           policy=workdays.policy_from(settings))  # fmt: skip
    await session.flush()
    service.REPORTS.clear()
    return service.setup(settings, NOW)


async def _circular(
    session: AsyncSession, setup: service.Setup, settings: Settings, **scope: str
) -> circular.Circular:
    return await circular.circular_for(
        session=session, actor=ADMIN, setup=setup, settings=settings, **scope
    )


def _by_code(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["unit_code"]: r for r in rows}


class TestNumbers:
    async def test_a_half_year_equals_the_score_export(
        self, session: AsyncSession, scored: service.Setup, settings: Settings
    ) -> None:
        found = await _circular(session, scored, settings, period="2026H1")
        report = await service.score_scope(session=session, setup=scored, period="2026H1")
        ranking = _by_code(export.ranking_rows(report))
        parts = _by_code(export.component_rows(report))
        assert {line.unit.code for line in found.lines} == set(ranking)
        for line in found.lines:
            row, part = ranking[line.unit.code], parts[line.unit.code]
            assert line.rank == row["rank"]
            assert line.band == row["band"]
            assert circular._number(line.score) == row["score"]
            for component, value in zip(Component, line.components, strict=True):
                assert circular._number(value) == part[f"c_{component.name}"]
        assert found.label == "2026年上半年"
        assert found.paper.title == "关于2026年上半年数字政府建设考评结果的通报"

    async def test_the_year_is_the_mean_of_its_halves(
        self, session: AsyncSession, scored: service.Setup, settings: Settings
    ) -> None:
        year = await _circular(session, scored, settings, year="2026")
        first = {
            x.unit.code: x
            for x in (await _circular(session, scored, settings, period="2026H1")).lines
        }
        second = {
            x.unit.code: x
            for x in (await _circular(session, scored, settings, period="2026H2")).lines
        }
        report = await service.score_scope(session=session, setup=scored, year="2026")
        ranking = _by_code(export.ranking_rows(report))
        assert year.annual
        assert year.label == "2026年度"
        scored_units = 0
        for line in year.lines:
            h1, h2 = first[line.unit.code], second[line.unit.code]
            assert line.halves == (h1.score, h2.score)
            row = ranking[line.unit.code]
            assert (line.rank, line.band) == (row["rank"], row["band"])
            assert circular._number(line.score) == row["score"]
            if h1.score is None or h2.score is None:
                assert line.score is None
                continue
            scored_units += 1
            assert line.score == pytest.approx((h1.score + h2.score) / 2)
            for value, a, b in zip(line.components, h1.components, h2.components, strict=True):
                assert value is not None
                assert a is not None
                assert b is not None
                assert value == pytest.approx((a + b) / 2)
            weights = [w for _, w in year.weights]
            weighted = sum(w * (v or 0.0) for w, v in zip(weights, line.components, strict=True))
            assert weighted == pytest.approx(line.score)
        assert scored_units >= 30

    async def test_each_ranking_group_in_rank_order(
        self, session: AsyncSession, scored: service.Setup, settings: Settings
    ) -> None:
        for scope in ({"period": "2026H1"}, {"year": "2026"}):
            found = await _circular(session, scored, settings, **scope)
            assert [g.name for g in found.groups] == ["旗县区和高新区", "市直部门"]
            kinds = {g.name: {line.unit.kind for line in g.lines} for g in found.groups}
            assert kinds == {"旗县区和高新区": {"旗县区", "高新区"}, "市直部门": {"市直部门"}}
            for group in found.groups:
                ranks = [line.rank for line in group.lines]
                ranked = [r for r in ranks if r is not None]
                assert ranked == sorted(ranked)
                assert ranked[0] == 1
                assert ranks == ranked + [None] * (len(ranks) - len(ranked))

    async def test_every_units_sources_are_the_score_exports(
        self, session: AsyncSession, scored: service.Setup, settings: Settings
    ) -> None:
        found = await _circular(session, scored, settings, period="2026H1")
        report = await service.score_scope(session=session, setup=scored, period="2026H1")
        opinion = {(r["unit_code"], r["source_code"]): r for r in export.opinion_rows(report)}

        seen = 0
        for group in found.groups:
            assert [b.unit.code for b in group.sources] == [line.unit.code for line in group.lines]
            for block in group.sources:
                for line in block.lines:
                    row = opinion[(block.unit.code, line.source.value)]
                    assert row["group"] == group.name
                    assert (row["n"], row["weight"]) == (line.estimate.n, round(line.percent, 2))
                    assert row["score"] == round(line.estimate.score, 2)
                    seen += 1
                total = sum(line.weight for line in block.lines)
                assert total == pytest.approx(1.0) if block.lines else total == 0
                combined = opinion[(block.unit.code, "combined")]
                assert combined["n"] == (block.combined.n if block.combined else 0)
        assert seen >= 30

    async def test_a_year_lists_the_sources_of_each_half(
        self, session: AsyncSession, scored: service.Setup, settings: Settings
    ) -> None:
        found = await _circular(session, scored, settings, year="2026")

        for group in found.groups:
            periods = [b.period for b in group.sources]
            assert periods == ["2026年上半年", "2026年下半年"] * len(group.lines)

    async def test_unit_staff_may_not_have_it(
        self, session: AsyncSession, scored: service.Setup, settings: Settings
    ) -> None:
        from surveys.core.exceptions import DomainError

        with pytest.raises(DomainError):
            await circular.circular_for(
                session=session, actor=STAFF, setup=scored, settings=settings, period="2026H1"
            )


class TestPaper:
    async def test_the_letterhead_comes_from_the_settings(
        self, session: AsyncSession, scored: service.Setup, settings: Settings
    ) -> None:
        custom = settings.model_copy(
            update={"feedback_issuer": "某市考评办", "circular_number": "某考〔{year}〕{seq}号"}
        )
        half = await _circular(session, scored, custom, period="2026H2")
        year = await _circular(session, scored, custom, year="2026")
        assert half.paper.issuer == "某市考评办"
        assert (half.paper.number, year.paper.number) == ("某考〔2026〕2号", "某考〔2026〕3号")
        assert half.paper.issued == "2026年11月23日"

    async def test_the_xlsx_has_a_named_sheet_and_a_frozen_chinese_header(
        self, session: AsyncSession, scored: service.Setup, settings: Settings
    ) -> None:
        from openpyxl import load_workbook  # type: ignore[import-untyped]

        found = await _circular(session, scored, settings, period="2026H1")
        book = load_workbook(io.BytesIO(circular.xlsx_bytes(found)))
        assert book.sheetnames == ["2026年上半年通报", "民意来源"]
        sheet = book["2026年上半年通报"]
        assert sheet.freeze_panes == "A5"
        header = [c.value for c in sheet[4]]
        assert header[:6] == ["名次", "名次区间", "排名组", "类别", "单位", "半年分"]
        assert "日常监测（60%）" in header
        assert sheet["A1"].value == found.paper.title
        rows = list(sheet.iter_rows(min_row=5, max_row=4 + len(found.lines), values_only=True))
        assert [r[4] for r in rows] == [line.unit.name for line in found.lines]
        assert [r[5] for r in rows] == [circular._number(line.score) for line in found.lines]
        assert {r[2] for r in rows} == {"旗县区和高新区", "市直部门"}
        assert sheet.column_dimensions["E"].width >= 20
        texts = [c.value for row in sheet.iter_rows() for c in row if isinstance(c.value, str)]
        assert found.sources_text in texts
        assert found.interval_text in texts

    async def test_the_xlsx_sources_sheet_has_every_source_line(
        self, session: AsyncSession, scored: service.Setup, settings: Settings
    ) -> None:
        from openpyxl import load_workbook

        found = await _circular(session, scored, settings, period="2026H1")
        sheet = load_workbook(io.BytesIO(circular.xlsx_bytes(found)))["民意来源"]
        header = [c.value for c in sheet[1]]
        assert header == [
            "排名组", "单位", "期间", "来源", "得分", "区间下限", "区间上限", "样本 n",
            "权重（%）", "设计效应",
        ]  # fmt: skip
        rows = list(sheet.iter_rows(min_row=2, values_only=True))
        block = found.groups[0].sources[0]
        mine = [r for r in rows if r[1] == block.unit.name]
        names = {
            "survey": "问卷调查",
            "rating": "好差评",
            "hotline": "12345回访",
            "outside": "外部民意",
        }
        assert [r[3] for r in mine] == [names[line.source.value] for line in block.lines] + [
            "民意调查（合计）"
        ]
        for row, line in zip(mine, block.lines, strict=False):
            assert row[0] == found.groups[0].name
            assert row[7] == line.estimate.n
            assert row[8] == round(line.percent, 2)
        assert mine[-1][7] == (block.combined.n if block.combined else None)

    async def test_the_pdf_reads_as_the_paper(
        self, session: AsyncSession, scored: service.Setup, settings: Settings, tmp_path: Path
    ) -> None:
        found = await _circular(session, scored, settings, period="2026H2")
        pdf = tmp_path / "circular.pdf"
        pdf.write_bytes(render_pdf(printable(found)))
        text = pdf_text(pdf)
        flat = "".join(text.split())
        assert "关于2026年下半年数字政府建设考评结果的通报" in flat
        assert found.paper.number in flat
        assert found.paper.issuer in flat
        assert "2026年11月23日" in flat
        pages = text.count("\f")
        assert pages >= 2
        assert f"第1页共{pages}页" in flat
        assert f"第{pages}页共{pages}页" in flat
        assert "2026H2" not in text
        top = found.groups[-1].lines[0]
        assert top.unit.name in flat
        assert f"{top.score:.2f}" in flat
        # Every ranking names its group; the sources follow with score, n and weight.
        assert "排名组：旗县区和高新区（" in flat
        assert "排名组：市直部门（" in flat
        assert "民意调查分来源明细" in flat
        block = found.groups[0].sources[0]
        names = {
            "survey": "问卷调查",
            "rating": "好差评",
            "hotline": "12345回访",
            "outside": "外部民意",
        }
        for line in block.lines:
            e = line.estimate
            effect = "" if line.design_effect is None else f"（设计效应{line.design_effect:.2f}）"
            cells = f"{e.score:.2f}{e.low:.2f}–{e.high:.2f}{e.n}{line.percent:.2f}%"
            assert f"{block.unit.name}{names[line.source.value]}{effect}{cells}" in flat
        assert "民意来源与权重" not in flat  # the export's key; the paper says it in words
        assert "".join(found.sources_text.split()) in flat
