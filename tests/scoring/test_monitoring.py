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

        assert await problems(units, rows) == [
            "rows 第 4 行 A 列“单位编码”：没有编码为“nowhere”的单位。请核对单位编码"
            "（导入模板列有全部在用单位的编码）。"
        ]

    async def test_inactive_unit(self, units: AsyncSession) -> None:
        rows = [*good_rows(), ["old", "旧单位", *GOOD_AREAS]]

        assert await problems(units, rows) == [
            "rows 第 4 行 A 列“单位编码”：单位“old”（旧单位）已停用，不参加考评，请删除这一行。"
        ]

    async def test_name_mismatch_names_both(self, units: AsyncSession) -> None:
        rows = good_rows()
        rows[1][1] = "东河"

        assert await problems(units, rows) == [
            "rows 第 2 行 B 列“单位名称”：单位名称“东河”与编码“donghe”登记的名称“东河区”不一致，"
            "请核对是否填错了行。"
        ]

    async def test_an_empty_name_is_fine_but_checked_rows_still_count(
        self, units: AsyncSession
    ) -> None:
        rows = good_rows()
        rows[1][1] = ""

        stored = await import_rows(units, rows)

        assert stored.rows == 2

    async def test_unknown_and_missing_columns(self, units: AsyncSession) -> None:
        header = [c for c in AREA_HEADER if c != "数据要素"] + ["得分2"]
        rows = [header, ["donghe", "东河区", "1", "1", "1", "1", "1", "1", "x"]]

        found = await problems(units, rows)

        assert found == [
            "rows 第 1 行：表头缺少列：数据要素。",
            "rows 第 1 行 I 列“得分2”：无法识别的列“得分2”。表头只能有“单位编码”“单位名称”、"
            "七个领域得分列或“总分”（以及“序号”“备注”）；请删除该列或改正列名。",
        ]

    async def test_only_an_unknown_column_still_checks_every_row(
        self, units: AsyncSession
    ) -> None:
        rows = [[*AREA_HEADER, "评语"], ["donghe", "东河区", *GOOD_AREAS, "ok"],
                ["yibao", "市医保局", "x", *GOOD_AREAS[1:], ""]]  # fmt: skip

        found = await problems(units, rows)

        assert found[0].startswith("rows 第 1 行 J 列“评语”：无法识别的列“评语”。")
        assert found[1:] == [
            "rows 第 3 行 C 列“一网通办”：“x”不是数字（应为 0 至 25 之间的数字）。"
        ]

    async def test_serial_number_and_notes_columns_are_left_aside(
        self, units: AsyncSession
    ) -> None:
        rows = [["序号", *AREA_HEADER, "备注"], ["1", "donghe", "东河区", *GOOD_AREAS, "好"],
                ["2", "yibao", "市医保局", *GOOD_AREAS, ""]]  # fmt: skip

        assert (await import_rows(units, rows)).rows == 2

    async def test_no_score_columns(self, units: AsyncSession) -> None:
        found = await problems(units, [["单位编码", "单位名称"], ["donghe", "东河区"]])

        assert found == [
            "rows 第 1 行：缺少得分列：请按领域填写七列（一网通办、一网统管、协同办公、基础设施、"
            "数据要素、安全防护、统筹管理），或只填写“总分”一列。"
        ]

    async def test_a_total_beside_the_areas_must_be_their_sum(self, units: AsyncSession) -> None:
        rows = [[*AREA_HEADER, "总分"], ["donghe", "东河区", *GOOD_AREAS, "84"],
                ["yibao", "市医保局", *GOOD_AREAS, "80"]]  # fmt: skip

        assert await problems(units, rows) == [
            "rows 第 2 行 J 列“总分”：总分 84 与各领域得分之和 80 不一致。"
        ]
        rows[1][-1] = "80"
        assert (await import_rows(units, rows)).layout is ImportLayout.area

    async def test_a_column_twice(self, units: AsyncSession) -> None:
        found = await problems(units, [["单位编码", "单位名称", "总分", "总分"]])

        assert found == [
            "rows 第 1 行 D 列“总分”：列“总分”重复，C 列已经是“总分”。请删除其中一列。"
        ]

    async def test_every_bad_cell_is_named(self, units: AsyncSession) -> None:
        rows = [
            AREA_HEADER,
            ["donghe", "东河区", "abc", "-1", "20.5", "10.01", "", "5", "nan"],
            ["yibao", "市医保局", "25", "25", "20", "10", "10", "5", "5"],
        ]

        assert await problems(units, rows) == [
            "rows 第 2 行 C 列“一网通办”：“abc”不是数字（应为 0 至 25 之间的数字）。",
            "rows 第 2 行 D 列“一网统管”：-1 小于 0。",
            "rows 第 2 行 E 列“协同办公”：20.5 超过“协同办公”的满分 20。",
            "rows 第 2 行 F 列“基础设施”：10.01 超过“基础设施”的满分 10。",
            "rows 第 2 行 G 列“数据要素”：得分未填写（应为 0 至 10 之间的数字）。",
            "rows 第 2 行 I 列“统筹管理”：“nan”不是数字（应为 0 至 5 之间的数字）。",
        ]

    async def test_full_width_digits_are_numbers(self, units: AsyncSession) -> None:
        rows = [["单位编码", "单位名称", "总分"], ["donghe", "东河区", "８５．５"],
                ["yibao", "市医保局", "90"]]  # fmt: skip

        await import_rows(units, rows)

        scores = (await units.exec(select(MonitoringScore))).all()
        assert sorted(s.score for s in scores) == [85.5, 90]

    async def test_total_above_100(self, units: AsyncSession) -> None:
        rows = [["单位编码", "单位名称", "总分"], ["donghe", "东河区", "100.5"],
                ["yibao", "市医保局", "100"]]  # fmt: skip

        assert await problems(units, rows) == [
            "rows 第 2 行 C 列“总分”：100.5 超过“总分”的满分 100。"
        ]

    async def test_duplicate_unit_rows(self, units: AsyncSession) -> None:
        rows = [*good_rows(), [], ["donghe", "东河区", *GOOD_AREAS]]

        # The blank line 4 is skipped but keeps the spreadsheet numbering.
        assert await problems(units, rows) == [
            "rows 第 5 行 A 列“单位编码”：单位“donghe”重复，第 2 行已有该单位。"
        ]

    async def test_missing_active_units_are_listed(self, units: AsyncSession) -> None:
        await add_unit(units, "qingshan", "青山区", UnitKind.district)
        rows = [AREA_HEADER, ["donghe", "东河区", *GOOD_AREAS]]

        assert await problems(units, rows) == [
            "rows：缺少 2 个在用单位的行：qingshan 青山区、yibao 市医保局。"
            "每个在用单位都需要一行得分。"
        ]

    async def test_missing_unit_code_and_extra_cells(self, units: AsyncSession) -> None:
        rows = [*good_rows(), ["", "某单位", *GOOD_AREAS, "", "9"]]

        assert await problems(units, rows) == [
            "rows 第 4 行 A 列“单位编码”：单位编码未填写。",
            "rows 第 4 行 K 列：表头只到 I 列，这一行在其右侧还有内容。请删除多余的内容，"
            "或在表头补上列名。",
        ]

    async def test_a_row_without_any_score_is_one_problem(self, units: AsyncSession) -> None:
        rows = [*good_rows()[:2], ["yibao", "市医保局", *[""] * 7]]

        assert await problems(units, rows) == ["rows 第 3 行：该单位的得分全部未填写。"]

    @pytest.mark.parametrize(
        ("rows", "problem"),
        [
            ([], "rows：文件是空的，没有任何内容。"),
            ([AREA_HEADER], "rows 第 1 行：表头下面没有单位数据行。"),
            ([["甲", "乙"], ["丙"]], "rows：在前 10 行中没有找到表头。"),
        ],
    )
    async def test_empty_tables(
        self, units: AsyncSession, rows: list[list[str]], problem: str
    ) -> None:
        [found] = await problems(units, rows)

        assert found.startswith(problem)

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
        imported = await import_monitoring_upload(
            session=units, file_name="日常监测.xlsx", content=buffer.getvalue(), period="2026H1",
            component=Component.monitoring, actor="b", now=NOW,
        )  # fmt: skip
        from_xlsx = imported.stored

        assert read_table("x.xlsx", buffer.getvalue()) == good_rows()
        assert (from_csv.rows, from_xlsx.rows) == (2, 2)
        assert from_xlsx.file_name == "日常监测.xlsx"
        assert len(from_xlsx.sha256) == 64
        assert from_csv.sha256 != from_xlsx.sha256

    @pytest.mark.parametrize(
        ("name", "content", "problem"),
        [
            ("a.txt", b"x", "a.txt：只能导入 .csv 或 .xlsx 文件，这个文件的扩展名是 .txt。"),
            ("a.csv", "单位编码".encode("gbk") + b"\xff", "既不是 UTF-8 也不是 GB18030"),
            ("a.xlsx", b"not a zip", "a.xlsx 不是可读取的 .xlsx 工作簿"),
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
            [
                "单位编码",
                "单位名称",
                "一网通办（满分 25）",
                "一网统管（满分 25）",
                "协同办公（满分 20）",
                "基础设施（满分 10）",
                "数据要素（满分 10）",
                "安全防护（满分 5）",
                "统筹管理（满分 5）",
            ],
            ["donghe", "东河区", *[""] * 7],
            ["yibao", "市医保局", *[""] * 7],
        ]

    async def test_total_layout(self, units: AsyncSession) -> None:
        rows = await template_rows(session=units, layout=ImportLayout.total)

        assert rows[0] == ["单位编码", "单位名称", "总分（满分 100）"]

    async def test_no_units(self, session: AsyncSession) -> None:
        with pytest.raises(NoUnits):
            await template_rows(session=session, layout=ImportLayout.total)
