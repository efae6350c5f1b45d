"""Imports of 日常监测/实地调研/第三方评估: every problem named, all rows or none, history kept."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd  # type: ignore[import-untyped]
import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scoring.exceptions import InvalidPeriod, NoUnits
from scoring.models import Component, ImportLayout, MonitoringImport, MonitoringScore
from scoring.monitoring import (
    import_monitoring_file,
    import_monitoring_upload,
    parse_component,
    read_table,
    template_rows,
)
from surveys.accounts.models import UnitKind
from surveys.core.exceptions import InvalidFile

from .helpers import NOW, add_unit, import_rows, stored_counts

AREA_HEADER = ["单位编码", "单位名称", "一网通办", "一网统管", "协同办公", "基础设施", "数据要素",
               "安全防护", "统筹管理"]  # fmt: skip
GOOD_AREAS = ["20", "20", "16", "8", "8", "4", "4"]


@pytest.fixture
async def units(session: AsyncSession) -> AsyncSession:
    await add_unit(session, "donghe", "东河区", UnitKind.district)
    await add_unit(session, "yibao", "市医保局", UnitKind.department)
    await add_unit(session, "old", "旧单位", UnitKind.department, active=False)
    return session


def good_rows() -> list[list[str]]:
    return [AREA_HEADER, ["donghe", "东河区", *GOOD_AREAS], ["yibao", "市医保局", *GOOD_AREAS]]


async def problems(session: AsyncSession, rows: list[list[str]]) -> list[str]:
    """The problems of a refused table, checking that nothing was stored."""
    before = await stored_counts(session)
    with pytest.raises(InvalidFile) as caught:
        await import_rows(session, rows)
    assert await stored_counts(session) == before
    return caught.value.problems


class TestRefusedTables:
    async def test_unknown_unit(self, units: AsyncSession) -> None:
        rows = [*good_rows(), ["nowhere", "", *GOOD_AREAS]]

        assert await problems(units, rows) == ["line 4, column 单位编码: unknown unit 'nowhere'"]

    async def test_inactive_unit(self, units: AsyncSession) -> None:
        rows = [*good_rows(), ["old", "旧单位", *GOOD_AREAS]]

        assert await problems(units, rows) == [
            "line 4, column 单位编码: unit 'old' (旧单位) is inactive"
        ]

    async def test_name_mismatch_names_both(self, units: AsyncSession) -> None:
        rows = good_rows()
        rows[1][1] = "东河"

        assert await problems(units, rows) == [
            "line 2, column 单位名称: '东河' does not match the stored name '东河区' "
            "of unit 'donghe'"
        ]

    async def test_an_empty_name_is_fine_but_checked_rows_still_count(
        self, units: AsyncSession
    ) -> None:
        rows = good_rows()
        rows[1][1] = ""

        stored = await import_rows(units, rows)

        assert stored.rows == 2

    async def test_unknown_and_missing_columns(self, units: AsyncSession) -> None:
        header = [c for c in AREA_HEADER if c != "数据要素"] + ["备注"]
        rows = [header, ["donghe", "东河区", "1", "1", "1", "1", "1", "1", "x"]]

        found = await problems(units, rows)

        assert found == [
            "line 1: missing column(s) 数据要素",
            "line 1, column 备注: unknown column",
        ]

    async def test_only_an_unknown_column_still_checks_every_row(
        self, units: AsyncSession
    ) -> None:
        rows = [[*AREA_HEADER, "备注"], ["donghe", "东河区", *GOOD_AREAS, "ok"],
                ["yibao", "市医保局", "x", *GOOD_AREAS[1:], ""]]  # fmt: skip

        assert await problems(units, rows) == [
            "line 1, column 备注: unknown column",
            "line 3, column 一网通办: 'x' is not a number",
        ]

    async def test_no_score_columns(self, units: AsyncSession) -> None:
        found = await problems(units, [["单位编码", "单位名称"], ["donghe", "东河区"]])

        assert found == ["line 1: missing column 总分 (or the area columns " + ",".join(
            AREA_HEADER[2:]) + ")"]  # fmt: skip

    async def test_areas_and_total_together(self, units: AsyncSession) -> None:
        found = await problems(units, [[*AREA_HEADER, "总分"]])

        assert found == ["line 1: give either the area columns or 总分, not both"]

    async def test_a_column_twice(self, units: AsyncSession) -> None:
        found = await problems(units, [["单位编码", "单位名称", "总分", "总分"]])

        assert found == ["line 1: column(s) 总分 appear twice"]

    async def test_every_bad_cell_is_named(self, units: AsyncSession) -> None:
        rows = [
            AREA_HEADER,
            ["donghe", "东河区", "abc", "-1", "20.5", "10.01", "", "5", "nan"],
            ["yibao", "市医保局", "25", "25", "20", "10", "10", "5", "5"],
        ]

        assert await problems(units, rows) == [
            "line 2, column 一网通办: 'abc' is not a number",
            "line 2, column 一网统管: -1 is below 0",
            "line 2, column 协同办公: 20.5 is above the maximum 20 of 协同办公",
            "line 2, column 基础设施: 10.01 is above the maximum 10 of 基础设施",
            "line 2, column 数据要素: missing score",
            "line 2, column 统筹管理: 'nan' is not a number",
        ]

    async def test_total_above_100(self, units: AsyncSession) -> None:
        rows = [["单位编码", "单位名称", "总分"], ["donghe", "东河区", "100.5"],
                ["yibao", "市医保局", "100"]]  # fmt: skip

        assert await problems(units, rows) == [
            "line 2, column 总分: 100.5 is above the maximum 100 of 总分"
        ]

    async def test_duplicate_unit_rows(self, units: AsyncSession) -> None:
        rows = [*good_rows(), [], ["donghe", "东河区", *GOOD_AREAS]]

        # The blank line 4 is skipped but keeps the spreadsheet numbering.
        assert await problems(units, rows) == [
            "line 5, column 单位编码: unit 'donghe' is also on line 2"
        ]

    async def test_missing_active_units_are_listed(self, units: AsyncSession) -> None:
        await add_unit(units, "qingshan", "青山区", UnitKind.district)
        rows = [AREA_HEADER, ["donghe", "东河区", *GOOD_AREAS]]

        assert await problems(units, rows) == [
            "missing rows for active unit(s): qingshan 青山区; yibao 市医保局"
        ]

    async def test_missing_unit_code_and_extra_cells(self, units: AsyncSession) -> None:
        rows = [*good_rows(), ["", "某单位", *GOOD_AREAS, "", "9"]]

        assert await problems(units, rows) == [
            "line 4: 11 cells, but the header names 9",
            "line 4, column 单位编码: missing unit code",
        ]

    @pytest.mark.parametrize(
        ("rows", "problem"),
        [([], "the file is empty"), ([AREA_HEADER], "the file has no unit rows")],
    )
    async def test_empty_tables(
        self, units: AsyncSession, rows: list[list[str]], problem: str
    ) -> None:
        assert problem in await problems(units, rows)

    async def test_bad_period_stores_nothing(self, units: AsyncSession) -> None:
        with pytest.raises(InvalidPeriod):
            await import_rows(units, good_rows(), period="2026H3")

        assert await stored_counts(units) == (0, 0)


class TestStoredImports:
    async def test_area_scores_are_stored_per_cell(self, units: AsyncSession) -> None:
        stored = await import_rows(units, good_rows())

        scores = (await units.exec(select(MonitoringScore))).all()
        assert stored.layout is ImportLayout.area
        assert stored.rows == 2
        assert len(scores) == 14
        assert sum(s.score for s in scores) == pytest.approx(160)
        assert {s.area for s in scores} == set(AREA_HEADER[2:])

    async def test_reimport_replaces_and_keeps_history(self, units: AsyncSession) -> None:
        first = await import_rows(units, good_rows())
        totals = [
            ["单位编码", "单位名称", "总分"],
            ["donghe", "东河区", "55"],
            ["yibao", "", "66"],
        ]
        second = await import_rows(units, totals)
        other = await import_rows(units, totals, component=Component.field)

        history = await units.exec(select(MonitoringImport).order_by(col(MonitoringImport.id)))
        rows = history.all()
        assert [r.id for r in rows] == [first.id, second.id, other.id]
        assert first.superseded_at == NOW
        assert second.superseded_at is None
        assert other.superseded_at is None  # another component is not replaced
        assert second.layout is ImportLayout.total
        kept = (await units.exec(select(MonitoringScore).where(
            MonitoringScore.import_id == first.id))).all()  # fmt: skip
        assert len(kept) == 14

    async def test_csv_and_xlsx_files_read_the_same(
        self, units: AsyncSession, tmp_path: Path
    ) -> None:
        csv_path = tmp_path / "daily.csv"
        csv_path.write_text("\n".join(",".join(r) for r in good_rows()), "utf-8-sig")
        buffer = io.BytesIO()
        pd.DataFrame(good_rows()[1:], columns=AREA_HEADER).astype(
            dict.fromkeys(AREA_HEADER[2:], float)
        ).to_excel(buffer, index=False)  # fmt: skip

        from_csv = await import_monitoring_file(
            session=units, path=csv_path, period="2026H1", component=Component.monitoring,
            actor="a", now=NOW,
        )  # fmt: skip
        from_xlsx = await import_monitoring_upload(
            session=units, file_name="日常监测.xlsx", content=buffer.getvalue(), period="2026H1",
            component="日常监测", actor="b", now=NOW,
        )  # fmt: skip

        assert read_table("x.xlsx", buffer.getvalue()) == good_rows()
        assert (from_csv.rows, from_xlsx.rows) == (2, 2)
        assert from_xlsx.file_name == "日常监测.xlsx"
        assert len(from_xlsx.sha256) == 64
        assert from_csv.sha256 != from_xlsx.sha256

    @pytest.mark.parametrize(
        ("name", "content", "problem"),
        [
            ("a.txt", b"x", ".txt: only .csv and .xlsx are read"),
            ("a.csv", "单位编码".encode("gbk") + b"\xff", "既不是 UTF-8 也不是 GB18030"),
            ("a.xlsx", b"not a zip", "not a readable .xlsx workbook"),
        ],
    )
    def test_unreadable_files(self, name: str, content: bytes, problem: str) -> None:
        with pytest.raises(InvalidFile) as caught:
            read_table(name, content)

        assert problem in caught.value.problems[0]


class TestComponents:
    @pytest.mark.parametrize(
        ("text", "component"),
        [("日常监测", Component.monitoring), ("daily", Component.monitoring),
         ("field", Component.field), ("第三方评估", Component.third_party)],
    )  # fmt: skip
    def test_names_and_codes(self, text: str, component: Component) -> None:
        assert parse_component(text) is component

    def test_the_opinion_component_is_never_imported(self) -> None:
        with pytest.raises(ValueError, match="not an imported component"):
            parse_component(Component.opinion)


class TestTemplate:
    async def test_every_active_unit_with_the_area_columns(self, units: AsyncSession) -> None:
        rows = await template_rows(session=units, layout=ImportLayout.area)

        assert rows == [
            AREA_HEADER,
            ["donghe", "东河区", *[""] * 7],
            ["yibao", "市医保局", *[""] * 7],
        ]

    async def test_total_layout(self, units: AsyncSession) -> None:
        rows = await template_rows(session=units, layout=ImportLayout.total)

        assert rows[0] == ["单位编码", "单位名称", "总分"]

    async def test_no_units(self, session: AsyncSession) -> None:
        with pytest.raises(NoUnits):
            await template_rows(session=session, layout=ImportLayout.total)
