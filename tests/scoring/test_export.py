"""Exports: byte-identical CSV/JSON for the same inputs, the four sheets, formula-safe cells."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook  # type: ignore[import-untyped]
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from scoring import export, service
from scoring.compute import (
    COMBINED_INTERVAL,
    INTERVAL_METHODS,
    Estimate,
    HalfResult,
    Placing,
    UnitRef,
)
from scoring.export import (
    method_rows,
    opinion_rows,
    ranking_rows,
    to_csv,
    to_json,
    write_exports,
    write_table,
    write_xlsx,
)
from scoring.method import Method, Source, load_method
from scoring.models import Component
from surveys.accounts.models import Unit, UnitKind
from surveys.core.db import SessionMaker, unit_of_work
from surveys.core.spreadsheet import safe_text
from surveys.questionnaire.definitions import Level

from .helpers import TZ, add_answers, add_ratings, add_unit, import_totals, survey_version

AT = datetime(2026, 7, 15, 1, 0, tzinfo=UTC)


async def seed(session: AsyncSession) -> None:
    a = await add_unit(session, "a", '=HYPERLINK("http://x")', UnitKind.district)
    b = await add_unit(session, "b", "青山区", UnitKind.district)
    c = await add_unit(session, "c", "市医保局", UnitKind.department)
    await add_ratings(session, a, "2026H1", {Level.very_satisfied: 3, Level.neutral: 1})
    await add_ratings(session, b, "2026H1", {Level.satisfied: 2})
    await add_ratings(session, c, "2026H1", {Level.dissatisfied: 1})
    for component in (Component.monitoring, Component.field):
        await import_totals(session, "2026H1", component, {"a": 80, "b": 70, "c": 90})


async def report(session: AsyncSession, at: datetime = AT) -> service.ScoreReport:
    return await service.score_period(
        session=session, period="2026H1", method=load_method(), tz=TZ, computed_at=at
    )


@pytest.fixture
async def seeded(sessionmaker: SessionMaker) -> SessionMaker:
    async with unit_of_work(sessionmaker) as session:
        await seed(session)
    return sessionmaker


class TestByteIdentity:
    async def test_two_runs_write_the_same_csv_and_json_bytes(
        self, seeded: SessionMaker, tmp_path: Path
    ) -> None:
        written = []
        for run in ("one", "two"):
            async with seeded() as session:  # a fresh session reads everything again
                first = await report(session)
            written.append(write_exports(first, tmp_path / run, ["csv", "json"]))

        one, two = written
        assert [p.name for p in one] == [p.name for p in two]
        assert len(one) == 5  # four CSV views and the JSON
        for left, right in zip(one, two, strict=True):
            assert left.read_bytes() == right.read_bytes(), left.name

    async def test_computed_at_is_the_only_difference_a_later_run_makes(
        self, seeded: SessionMaker
    ) -> None:
        async with seeded() as session:
            now = await report(session)
            later = await report(session, datetime(2026, 8, 1, tzinfo=UTC))

        left, right = json.loads(to_json(now)), json.loads(to_json(later))
        assert left.pop("computed_at") != right.pop("computed_at")
        assert left == right
        assert now.fingerprint == later.fingerprint

    async def test_the_fingerprint_follows_inputs_and_parameters(
        self, seeded: SessionMaker
    ) -> None:
        async with seeded() as session:
            before = await report(session)
            unit = (await session.exec(select(Unit).where(Unit.code == "b"))).one()
            await add_ratings(session, unit, "2026H1", {Level.very_dissatisfied: 1})
            after = await report(session)
            method_b = await service.score_period(
                session=session, period="2026H1", tz=TZ, computed_at=AT,
                method=load_method().model_copy(update={"method": "B"}),
            )  # fmt: skip

        assert len({before.fingerprint, after.fingerprint, method_b.fingerprint}) == 3


class TestContent:
    async def test_json_states_method_period_time_and_fingerprint(
        self, seeded: SessionMaker
    ) -> None:
        async with seeded() as session:
            document = json.loads(to_json(await report(session)))

        assert document["method"]["name"] == "minyi 民意调查"
        assert document["method"]["version"] == "2026.1"
        assert document["method"]["parameters"]["min_sample"] == 385
        assert document["scope"] == "2026H1"
        assert document["computed_at"] == "2026-07-15T01:00:00+00:00"
        assert len(document["fingerprint"]) == 64
        ranking = {row["unit_code"]: row for row in document["ranking"]}
        assert ranking["c"]["rank"] is None
        assert ranking["c"]["missing"] == "第三方评估：未导入"
        assert ranking["a"]["score"] is None

    async def test_csv_views_escape_formulas_and_name_the_fingerprint(
        self, seeded: SessionMaker
    ) -> None:
        async with seeded() as session:
            result = await report(session)
        data = to_csv(ranking_rows(result), fingerprint=result.fingerprint)

        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        header, body = rows[0], rows[1:]
        assert header[:6] == ["期间", "类别", "排名组", "单位编码", "单位名称", "排名"]
        names = [row[header.index("单位名称")] for row in body]
        assert '\'=HYPERLINK("http://x")' in names
        assert {row[header.index("输入指纹")] for row in body} == {result.fingerprint}

    async def test_xlsx_has_the_four_sheets_and_no_formula(
        self, seeded: SessionMaker, tmp_path: Path
    ) -> None:
        async with seeded() as session:
            result = await report(session)
        (path,) = write_exports(result, tmp_path, ["xlsx"])

        workbook = load_workbook(path)
        assert workbook.sheetnames == ["排名", "分项", "民意明细", "方法与参数"]
        cells = [c.value for sheet in workbook for row in sheet.iter_rows() for c in row]
        assert not any(isinstance(v, str) and v.startswith("=") for v in cells)
        assert result.fingerprint in cells
        assert "2026-07-15T01:00:00+00:00" in cells
        assert all(c.data_type != "f" for sheet in workbook for row in sheet.iter_rows()
                   for c in row)  # fmt: skip


# A unit name per formula sign, each after a different kind of leading whitespace.
HOSTILE_NAMES = [
    "=1+1", "＝1+1", " =1+1", "\u3000=1+1", "\u00a0@SUM(A1)", "\n+1", "＋1", "﹦1", "﹢1",
    "﹣1", "－1", "＠SUM(A1)", "\t-1", "\r=1",
]  # fmt: skip


class TestHostileUnitNames:
    @pytest.fixture
    async def hostile(self, sessionmaker: SessionMaker) -> SessionMaker:
        async with unit_of_work(sessionmaker) as session:
            for index, name in enumerate(HOSTILE_NAMES):
                unit = await add_unit(session, f"u{index}", name, UnitKind.district)
                await add_ratings(session, unit, "2026H1", {Level.satisfied: 1})
        return sessionmaker

    async def test_csv_views_quote_every_name(self, hostile: SessionMaker) -> None:
        async with hostile() as session:
            result = await report(session)
        data = to_csv(ranking_rows(result), fingerprint=result.fingerprint)

        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
        names = [row[rows[0].index("单位名称")] for row in rows[1:]]
        assert sorted(names) == sorted("'" + name for name in HOSTILE_NAMES)

    async def test_xlsx_cells_are_text_without_a_formula_start(
        self, hostile: SessionMaker
    ) -> None:
        async with hostile() as session:
            result = await report(session)
        buffer = io.BytesIO()
        write_xlsx(buffer, result)

        sheet = load_workbook(io.BytesIO(buffer.getvalue()))["排名"]
        header = [c.value for c in sheet[1]]
        cells = [row[header.index("单位名称")] for row in sheet.iter_rows(min_row=2)]
        assert len(cells) == len(HOSTILE_NAMES)
        for cell in cells:
            assert cell.data_type == "s"
            assert cell.value.startswith("'"), repr(cell.value)
            first = cell.value[1:].lstrip()[:1]
            assert first in "=+-@＝＋－＠﹦﹢﹣"  # the name itself, kept after the quote
        scores = [row[header.index("得分")].value for row in sheet.iter_rows(min_row=2)]
        assert all(isinstance(score, float | int | type(None)) for score in scores)


class TestSafeText:
    @pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx"])
    def test_formula_starts_get_a_quote(self, text: str) -> None:
        assert safe_text(text) == "'" + text

    def test_plain_text_is_unchanged(self) -> None:
        assert safe_text("东河区") == "东河区"

    def test_templates_are_escaped_too(self, tmp_path: Path) -> None:
        path = tmp_path / "t.csv"
        write_table(path, [["单位编码", "单位名称"], ["x", "=cmd"]])

        assert path.read_text("utf-8-sig").splitlines()[1] == "x,'=cmd"


# Every source with its score, interval, n and weight -------------------------------------

# Weights 2 : 1 : 1 : 4. Unit a has survey, rating and 12345 回访 (no outside poll): its
# weights renormalise over those three, 2/4 = 50%, 1/4 = 25%, 1/4 = 25%, and its 民意 is
# 0.5 × 80 + 0.25 × 90 + 0.25 × 70 = 80.00 on n = 400 + 1000 + 100 = 1500 (set by hand below,
# as compute would give it). Unit b (高新区) has the outside poll only: 100%. Unit c (市直部门)
# has no source. b ranks above a in the one group of 旗县区 and 高新区.
WEIGHTS = {Source.survey: 2.0, Source.rating: 1.0, Source.hotline: 1.0, Source.outside: 4.0}
GROUPS = "旗县区和高新区"


def _hand_made() -> service.ScoreReport:
    method: Method = load_method().model_copy(update={"source_weights": WEIGHTS})
    a = HalfResult(
        unit=UnitRef("a", "东河区", "旗县区"),
        sources={
            Source.survey: Estimate(80.0, 75.0, 85.0, 400, design_effect=1.8),
            Source.rating: Estimate(90.0, 88.0, 92.0, 1000),
            Source.hotline: Estimate(70.0, 60.0, 80.0, 100),
        },
        opinion_raw=Estimate(80.0, 76.0, 84.0, 1500),
        opinion=Estimate(80.0, 76.0, 84.0, 1500),
        small_sample=False,
        components=dict.fromkeys(Component, 70.0),
        total=Estimate(70.0, 69.6, 70.4, 1500),
        missing=(),
        placing=Placing(2, (1, 2)),
        opinion_placing=Placing(1, (1, 2)),
        group=GROUPS,
    )
    b = HalfResult(
        unit=UnitRef("b", "稀土高新区", "高新区"),
        sources={Source.outside: Estimate(66.5, 60.0, 73.0, 800)},
        opinion_raw=Estimate(66.5, 60.0, 73.0, 800),
        opinion=Estimate(66.5, 60.0, 73.0, 800),
        small_sample=False,
        components=dict.fromkeys(Component, 75.0),
        total=Estimate(75.0, 74.35, 75.65, 800),
        missing=(),
        placing=Placing(1, (1, 2)),
        opinion_placing=Placing(2, (1, 2)),
        group=GROUPS,
    )
    c = HalfResult(
        unit=UnitRef("c", "市医保局", "市直部门"),
        sources={},
        opinion_raw=None,
        opinion=None,
        small_sample=True,
        components=dict.fromkeys(Component),
        total=None,
        missing=("民意调查：无有效答卷或评价",),
        group="市直部门",
    )
    return service.ScoreReport(
        scope="2026H1", periods=("2026H1",), method=method, computed_at=AT,
        fingerprint="f" * 64, halves={"2026H1": [c, a, b]},
    )  # fmt: skip


class TestSources:
    def test_each_source_has_its_columns_with_the_units_weight(self) -> None:
        rows = {r["unit_code"]: r for r in ranking_rows(_hand_made())}

        a, b, c = rows["a"], rows["b"], rows["c"]
        assert (a["group"], b["group"], c["group"]) == (GROUPS, GROUPS, "市直部门")
        assert (a["survey_score"], a["survey_low"], a["survey_high"]) == (80.0, 75.0, 85.0)
        assert (a["survey_n"], a["rating_n"], a["hotline_n"]) == (400, 1000, 100)
        assert (a["survey_weight"], a["rating_weight"], a["hotline_weight"]) == (50, 25, 25)
        assert a["survey_design_effect"] == 1.8
        assert a["outside_score"] is None
        assert a["outside_n"] is None
        assert a["outside_weight"] is None
        assert (a["opinion_score"], a["opinion_n"]) == (80.0, 1500)
        assert (b["outside_score"], b["outside_n"], b["outside_weight"]) == (66.5, 800, 100)
        assert b["survey_weight"] is None
        assert b["survey_design_effect"] is None
        assert c["opinion_n"] == 0
        assert c["opinion_score"] is None
        # The weights used reproduce the 民意 score: 0.5 × 80 + 0.25 × 90 + 0.25 × 70.
        shares = [(a[f"{s}_weight"] or 0) / 100 * (a[f"{s}_score"] or 0) for s in Source]
        assert sum(shares) == pytest.approx(a["opinion_score"], abs=0.01)

    def test_rows_follow_the_ranking_group_then_the_rank(self) -> None:
        rows = ranking_rows(_hand_made())

        assert [(r["unit_code"], r["rank"]) for r in rows] == [("b", 1), ("a", 2), ("c", None)]

    def test_the_columns_are_the_same_whatever_sources_the_units_have(self) -> None:
        full = _hand_made()
        only_c = service.ScoreReport(
            scope=full.scope, periods=full.periods, method=full.method,
            computed_at=full.computed_at, fingerprint=full.fingerprint,
            halves={"2026H1": [r for r in full.halves["2026H1"] if r.unit.code == "c"]},
        )  # fmt: skip

        def header(report: service.ScoreReport) -> list[str]:
            data = to_csv(ranking_rows(report), fingerprint=report.fingerprint)
            return next(csv.reader(io.StringIO(data.decode("utf-8-sig"))))

        assert header(only_c) == header(full)
        assert "12345回访权重（%）" in header(full)
        assert "问卷调查设计效应" in header(full)
        assert "外部民意样本" in header(full)

    def test_the_csv_cells_and_json_keys(self) -> None:
        report = _hand_made()
        data = to_csv(ranking_rows(report), fingerprint=report.fingerprint)
        header, *body = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        a = dict(zip(header, next(row for row in body if row[header.index("单位编码")] == "a"),
                     strict=True))  # fmt: skip
        document = json.loads(to_json(report))

        assert a["排名组"] == GROUPS
        assert a["问卷调查得分"] == "80.00"
        assert a["问卷调查样本"] == "400"
        assert a["问卷调查权重（%）"] == "50.00"
        assert a["问卷调查设计效应"] == "1.80"
        assert a["好差评权重（%）"] == "25.00"
        assert a["12345回访区间上限"] == "80.00"
        assert a["外部民意得分"] == ""
        assert a["民意合计样本"] == "1500"
        ranked = {row["unit_code"]: row for row in document["ranking"]}
        assert ranked["b"]["outside_weight"] == 100.0
        assert ranked["a"]["hotline_weight"] == 25.0
        assert document["method"]["sources"] == [
            {"source": "survey", "name": "问卷调查", "weight": 2.0, "share": 25.0},
            {"source": "rating", "name": "好差评", "weight": 1.0, "share": 12.5},
            {"source": "hotline", "name": "12345回访", "weight": 1.0, "share": 12.5},
            {"source": "outside", "name": "外部民意", "weight": 4.0, "share": 50.0},
        ]
        assert "区间" in document["method"]["interval"]

    def test_the_opinion_view_names_every_source_with_its_weight(self) -> None:
        rows = [r for r in opinion_rows(_hand_made()) if r["unit_code"] == "a"]

        assert [(r["source"], r["source_code"], r["n"], r.get("weight")) for r in rows] == [
            ("问卷调查", "survey", 400, 50.0),
            ("好差评", "rating", 1000, 25.0),
            ("12345回访", "hotline", 100, 25.0),
            ("合计", "combined", 1500, None),
        ]
        assert rows[0]["design_effect"] == 1.8
        assert rows[1]["design_effect"] is None
        assert {r["group"] for r in rows} == {GROUPS}

    def test_the_method_block_names_sources_weights_interval_and_groups(self) -> None:
        rows = {r["key"]: r["value"] for r in method_rows(_hand_made())}

        assert "问卷调查 2（各来源俱全时占 25.00%）" in rows["民意来源与权重"]
        assert "外部民意 4（各来源俱全时占 50.00%）" in rows["民意来源与权重"]
        assert "12345回访 1（各来源俱全时占 12.50%）" in rows["民意来源与权重"]
        assert "95% 区间" in rows["区间方法"]
        for source in Source:
            shown = f"{export.source_name(source)}：{INTERVAL_METHODS[source]}"
            assert shown in rows["区间方法"]
        assert f"民意调查合计：{COMBINED_INTERVAL}" in rows["区间方法"]
        assert rows["排名组"] == "旗县区和高新区（旗县区、高新区）；市直部门（市直部门）"

    def test_the_xlsx_ranking_has_the_source_columns(self) -> None:
        buffer = io.BytesIO()
        write_xlsx(buffer, _hand_made())

        sheet = load_workbook(io.BytesIO(buffer.getvalue()))["排名"]
        header = [c.value for c in sheet[1]]
        a = next(r for r in sheet.iter_rows(min_row=2, values_only=True) if r[3] == "a")
        assert a[header.index("问卷调查设计效应")] == 1.8
        assert a[header.index("好差评权重（%）")] == 25
        assert a[header.index("排名组")] == GROUPS

    async def test_weights_from_the_database_reproduce_each_units_score(
        self, sessionmaker: SessionMaker
    ) -> None:
        async with unit_of_work(sessionmaker) as session:
            d = await add_unit(session, "d", "昆都仑区", UnitKind.district)
            z = await add_unit(session, "z", "稀土高新区", UnitKind.hightech)
            version = await survey_version(session, "2026H1")
            await add_answers(session, version, d, {Level.very_satisfied: 3, Level.neutral: 2})
            await add_ratings(session, d, "2026H1", {Level.satisfied: 4, Level.dissatisfied: 1})
            await add_ratings(session, z, "2026H1", {Level.very_satisfied: 2})
        async with sessionmaker() as session:
            result = await report(session)

        rows = {r["unit_code"]: r for r in ranking_rows(result)}
        d_row, z_row = rows["d"], rows["z"]
        assert d_row["group"] == z_row["group"] == GROUPS
        assert (d_row["survey_weight"], d_row["rating_weight"]) == (50.0, 50.0)
        assert (d_row["survey_n"], d_row["rating_n"]) == (5, 5)
        assert d_row["opinion_n"] == 10
        assert z_row["rating_weight"] == 100.0
        assert z_row["survey_weight"] is None
        for row in (d_row, z_row):
            mixed = sum((row[f"{s}_weight"] or 0) / 100 * (row[f"{s}_score"] or 0) for s in Source)
            assert mixed == pytest.approx(row["opinion_score"], abs=0.01)
