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

from scoring import service
from scoring.export import (
    ranking_rows,
    to_csv,
    to_json,
    write_exports,
    write_table,
    write_xlsx,
)
from scoring.method import load_method
from scoring.models import Component
from surveys.accounts.models import Unit, UnitKind
from surveys.core.db import SessionMaker, unit_of_work
from surveys.core.spreadsheet import safe_text
from surveys.questionnaire.definitions import Level

from .helpers import TZ, add_ratings, add_unit, import_totals

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
        assert header[:5] == ["期间", "类别", "单位编码", "单位名称", "排名"]
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
