"""Units: CSV parsing names every bad line and column; upsert by code; lookups raise."""

from __future__ import annotations

import pytest
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.models import Unit, UnitKind
from surveys.accounts.units import get_unit_or_raise, parse_units_csv, upsert_units
from surveys.core.db import SessionMaker, unit_of_work
from surveys.core.exceptions import InvalidFile, UnknownUnit

HEADER = "code,name,kind,active\n"
GOOD = (
    HEADER
    + "kundulun,昆都仑区,旗县区,yes\ngaoxin,稀土高新区,高新区,是\nspj,市审批服务局,市直部门,no\n"
)


def problems_of(text: str) -> list[str]:
    with pytest.raises(InvalidFile) as caught:
        parse_units_csv(text, source="units.csv")
    assert caught.value.source == "units.csv"
    assert caught.value.params == {"source": "units.csv", "count": len(caught.value.problems)}
    return caught.value.problems


def unit(code: str, name: str, kind: UnitKind = UnitKind.district, active: bool = True) -> Unit:
    return Unit(code=code, name=name, kind=kind, active=active)


async def count_units(session: AsyncSession) -> int:
    return (await session.exec(select(func.count()).select_from(Unit))).one()


class TestParseUnitsCsv:
    def test_good_file(self) -> None:
        units = parse_units_csv(GOOD, source="units.csv")

        assert [(u.code, u.name, u.kind, u.active) for u in units] == [
            ("kundulun", "昆都仑区", UnitKind.district, True),
            ("gaoxin", "稀土高新区", UnitKind.hightech, True),
            ("spj", "市审批服务局", UnitKind.department, False),
        ]

    def test_active_column_is_optional_and_defaults_to_active(self) -> None:
        units = parse_units_csv("code,name,kind\nqingshan,青山区,旗县区\n", source="u.csv")

        assert [(u.code, u.active) for u in units] == [("qingshan", True)]

    def test_byte_order_mark_is_ignored(self) -> None:
        units = parse_units_csv("\ufeff" + GOOD, source="units.csv")

        assert [u.code for u in units] == ["kundulun", "gaoxin", "spj"]

    def test_missing_column_is_named_on_line_1(self) -> None:
        problems = problems_of("code,name\nkundulun,昆都仑区\n")

        assert problems == ["第 1 行：表头缺少必填列：kind。"]

    def test_bad_kind_names_line_and_column(self) -> None:
        problems = problems_of(HEADER + "kundulun,昆都仑区,旗县区,yes\nqingshan,青山区,街道,yes\n")

        assert len(problems) == 1
        assert problems[0].startswith("第 3 行 kind 列：“街道”不是单位类别，应为 旗县区、")

    def test_duplicate_code_names_the_second_line(self) -> None:
        problems = problems_of(
            HEADER + "kundulun,昆都仑区,旗县区,yes\nkundulun,青山区,旗县区,yes\n"
        )

        assert problems == ["第 3 行 code 列：单位编码“kundulun”重复，前面的行已有该编码。"]

    @pytest.mark.parametrize("code", ["坤都仑", "a b", "x" * 33, "a_b", ""])
    def test_bad_code_names_line_and_column(self, code: str) -> None:
        problems = problems_of(HEADER + f"{code},昆都仑区,旗县区,yes\n")

        assert len(problems) == 1
        assert problems[0].startswith(f"第 2 行 code 列：单位编码“{code}”不符合要求")

    def test_empty_name_names_line_and_column(self) -> None:
        problems = problems_of(HEADER + "kundulun,  ,旗县区,yes\n")

        assert problems == ["第 2 行 name 列：单位名称未填写。"]

    def test_bad_active_value_names_line_and_column(self) -> None:
        problems = problems_of(HEADER + "kundulun,昆都仑区,旗县区,maybe\n")

        assert problems == [
            "第 2 行 active 列：“maybe”不是“是”或“否”（也可写 yes/no、1/0，留空为在用）。"
        ]

    def test_every_problem_is_listed_at_once(self) -> None:
        text = (
            HEADER
            + "kundulun,昆都仑区,旗县区,yes\n"
            + "bad code,青山区,旗县区,yes\n"
            + "donghe,,旗县区,yes\n"
            + "kundulun,九原区,区,maybe\n"
        )

        problems = problems_of(text)

        assert [p.split("：")[0] for p in problems] == [
            "第 3 行 code 列",
            "第 4 行 name 列",
            "第 5 行 code 列",
            "第 5 行 kind 列",
            "第 5 行 active 列",
        ]

    def test_a_file_without_rows_is_refused(self) -> None:
        [problem] = problems_of(HEADER)
        assert problem.endswith(" 只有表头，下面没有单位数据行。")


class TestUpsertUnits:
    async def test_creates_new_units(self, session: AsyncSession) -> None:
        counts = await upsert_units(
            session=session, units=[unit("kundulun", "昆都仑区"), unit("qingshan", "青山区")]
        )

        assert counts == (2, 0)
        assert await count_units(session) == 2

    async def test_updates_existing_units_by_code(self, sessionmaker: SessionMaker) -> None:
        async with unit_of_work(sessionmaker) as session:
            await upsert_units(
                session=session, units=[unit("kundulun", "昆都仑区"), unit("qingshan", "青山区")]
            )

        async with unit_of_work(sessionmaker) as session:
            counts = await upsert_units(
                session=session,
                units=[
                    unit("kundulun", "昆都仑区"),  # unchanged: neither created nor updated
                    unit("qingshan", "青山区（新）", active=False),
                    unit("gaoxin", "稀土高新区", UnitKind.hightech),
                ],
            )

        assert counts == (1, 1)
        async with sessionmaker() as session:
            rows = (await session.exec(select(Unit).order_by(col(Unit.id)))).all()
        assert [(u.code, u.name, u.kind, u.active) for u in rows] == [
            ("kundulun", "昆都仑区", UnitKind.district, True),
            ("qingshan", "青山区（新）", UnitKind.district, False),
            ("gaoxin", "稀土高新区", UnitKind.hightech, True),
        ]

    async def test_loading_the_same_file_twice_changes_nothing(
        self, sessionmaker: SessionMaker
    ) -> None:
        async with unit_of_work(sessionmaker) as session:
            first = await upsert_units(session=session, units=parse_units_csv(GOOD, source="u"))
        async with unit_of_work(sessionmaker) as session:
            second = await upsert_units(session=session, units=parse_units_csv(GOOD, source="u"))

        assert (first, second) == ((3, 0), (0, 0))


class TestGetUnitOrRaise:
    async def test_known_code(self, session: AsyncSession) -> None:
        await upsert_units(session=session, units=[unit("kundulun", "昆都仑区")])

        found = await get_unit_or_raise(session=session, code="kundulun")

        assert found.name == "昆都仑区"

    async def test_unknown_code_raises_unknown_unit(self, session: AsyncSession) -> None:
        await upsert_units(session=session, units=[unit("kundulun", "昆都仑区")])

        with pytest.raises(UnknownUnit) as caught:
            await get_unit_or_raise(session=session, code="nope")

        assert caught.value.params == {"code": "nope"}
        assert caught.value.key == "error.unknown_unit"
