"""回访 files (CSV in UTF-8 with BOM or GBK, a title row above the header; XLSX; the
template) through the import flow, and the indicators hand-computed on a small set."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook  # type: ignore[import-untyped]
from sqlmodel import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.models import AuditEvent, Unit, UnitKind
from surveys.core.exceptions import InvalidFile
from surveys.core.models import pk
from surveys.core.settings import Settings
from surveys.flows import hotline as flows
from surveys.hotline import files
from surveys.hotline.indicators import hotline_indicators
from surveys.hotline.models import HotlineVisit
from tests.hotline.conftest import ADMIN, NOW

HEADER = (
    "工单号,单位编码,回访轮次,事项名称,办结时间,第1次回访时间,第1次回访结果,"
    "第2次回访时间,第2次回访结果,第3次回访时间,第3次回访结果,回访结果,是否联系,是否解决,是否满意"
)
T = "2026-11-20 16:30"  # 办结, a Friday
ROWS = [
    # 6 visits of kundulun: 4 reached, 3 contacted, 3 answered (2 resolved; 满意, 基本满意,
    # 不满意), 1 reached without answers; 2 无法联系, one of them after 2 calls (flagged).
    "K-1,kundulun,1,供暖,2026/11/20 16:30,2026/11/23 9:10,接通,,,,,,是,是,满意",
    f"K-2,kundulun,1,供暖,{T},2026-11-23 09:10,接通,,,,,,是,是,基本满意",
    f"K-3,kundulun,1,噪音,{T},2026-11-23 09:10,无人接听,2026-11-23 10:10,接通,,,,是,否,不满意",
    f"K-4,kundulun,1,噪音,{T},2026-11-23 09:10,接通,,,,,已接通,否,,",
    f"K-5,kundulun,1,噪音,{T},2026-11-23 09:10,占线,2026-11-23 15:00,关机,"
    "2026-11-24 09:00,无人接听,无法联系,,,",
    f"K-6,kundulun,1,噪音,{T},2026-11-23 09:10,占线,2026-11-24 15:00,拒接,,,无法联系,,,",
    # qingshan: 1 visit, 满意.
    f"Q-1,qingshan,1,道路,{T},2026-11-23 09:10,接通,,,,,,是,是,满意",
]


def _csv(
    tmp_path: Path, lines: list[str], encoding: str = "utf-8-sig", name: str = "h.csv"
) -> Path:
    path = tmp_path / name
    path.write_bytes("\n".join(lines).encode(encoding) + b"\n")
    return path


async def _import(session: AsyncSession, settings: Settings, path: Path) -> flows.Imported:
    return await flows.import_hotline(
        session=session, actor=ADMIN, path=path, source=path.name, settings=settings, now=NOW
    )


async def _visits(session: AsyncSession) -> int:
    return int((await session.exec(select(func.count()).select_from(HotlineVisit))).one())


class TestFiles:
    async def test_a_gbk_csv_with_a_title_is_imported_and_audited(
        self, session: AsyncSession, units: dict[str, Unit], settings: Settings, tmp_path: Path
    ) -> None:
        path = _csv(tmp_path, ["2026年11月 12345回访记录", HEADER, *ROWS], "gbk")
        imported = await _import(session, settings, path)
        result = imported.result
        assert (imported.header_row, len(result.created), len(result.opened)) == (2, 7, 1)
        assert [v.ticket_no for v in result.flagged] == ["K-6"]
        audit = (await session.exec(select(AuditEvent))).one()
        assert (audit.action, audit.target) == ("import.hotline", "h.csv")
        assert (audit.detail["flagged"], audit.detail["cases_opened"]) == (1, 1)

    async def test_bad_rows_are_located_by_row_and_column_and_nothing_is_stored(
        self, session: AsyncSession, units: dict[str, Unit], settings: Settings, tmp_path: Path
    ) -> None:
        bad = [
            HEADER,
            ROWS[0],
            f"K-9,kundulun,1,供暖,{T},2026-11-23 09:10,接通,,,,,,也许,是,满意",
            f"K-10,kundulun,1,供暖,{T},2026-11-23 09:10,,,,,,,是,是,满意",
            f"K-11,nowhere,1,供暖,{T},2026-11-23 09:10,接通,,,,,,是,是,还行",
        ]
        with pytest.raises(InvalidFile) as refused:
            await _import(session, settings, _csv(tmp_path, bad))
        assert refused.value.problems == [
            "第 4 行 第1次回访结果 列：第 1 次呼叫的时间和结果要一起填写。",
        ]
        del bad[3]
        with pytest.raises(InvalidFile) as refused:
            await _import(session, settings, _csv(tmp_path, bad))
        assert refused.value.problems == [
            "第 3 行 是否联系 列：“也许”不是“是”或“否”（也可写 true 或 false）。",
            "第 4 行 是否满意 列：“还行”不是满意度，应为 满意、基本满意、不满意 之一。",
        ]
        assert await _visits(session) == 0

    async def test_a_header_without_required_columns_is_refused(
        self, session: AsyncSession, units: dict[str, Unit], settings: Settings, tmp_path: Path
    ) -> None:
        path = _csv(tmp_path, ["工单号,单位编码,满意度", "K-1,kundulun,满意"])
        with pytest.raises(InvalidFile) as refused:
            await _import(session, settings, path)
        assert refused.value.problems[0].startswith("第 1 行：表头有无法识别的列：满意度。")
        assert (
            "表头缺少必填列：事项名称、办结时间、第1次回访时间、第1次回访结果。"
            in (refused.value.problems[1])
        )

    async def test_an_xlsx_with_date_cells(
        self, session: AsyncSession, units: dict[str, Unit], settings: Settings, tmp_path: Path
    ) -> None:
        book = Workbook()
        sheet = book.active
        sheet.append(["工单号", "单位编码", "事项名称", "办结时间", "第1次回访时间",
                      "第1次回访结果", "是否满意"])  # fmt: skip
        sheet.append(["X-1", "qingshan", "道路", datetime(2026, 11, 20, 16, 30),  # noqa: DTZ001
                      datetime(2026, 11, 23, 9, 10), "接通", "不满意"])  # fmt: skip  # noqa: DTZ001
        path = tmp_path / "h.xlsx"
        book.save(path)
        imported = await _import(session, settings, path)
        visit = imported.result.created[0]
        assert (visit.unit_id, visit.period, len(imported.result.opened)) == (
            pk(units["qingshan"]), "2026H2", 1)  # fmt: skip

    @pytest.mark.parametrize("fmt", ["csv", "xlsx"])
    async def test_the_template_imports_as_it_is(
        self, session: AsyncSession, settings: Settings, tmp_path: Path, fmt: str
    ) -> None:
        session.add(Unit(code="spj", name="市审批服务局", kind=UnitKind.department))
        await session.flush()
        written = files.template_file("csv" if fmt == "csv" else "xlsx")
        if fmt == "xlsx":
            header = [c.value for c in next(load_workbook(io.BytesIO(written.body)).active.rows)]
            assert header[:3] == ["工单号", "单位编码", "回访轮次"]
        path = tmp_path / f"template.{fmt}"
        path.write_bytes(written.body)
        imported = await _import(session, settings, path)
        assert len(imported.result.created) == 1


class TestIndicators:
    async def test_hand_computed(
        self, session: AsyncSession, units: dict[str, Unit], settings: Settings, tmp_path: Path
    ) -> None:
        await _import(session, settings, _csv(tmp_path, [HEADER, *ROWS]))
        # Round 2 of K-3 after 重办: 满意; round 1 (不满意) no longer counts.
        round_two = "K-3,kundulun,2,噪音,2026-11-27 10:00,2026-11-30 09:10,接通,,,,,,是,是,满意"
        await _import(session, settings, _csv(tmp_path, [HEADER, round_two], name="r2.csv"))
        rows = await hotline_indicators(session=session, actor=ADMIN, period="2026H2")
        kundulun, qingshan = rows
        tally = kundulun.tally
        # 6 active visits (K-3 round 2 replaces round 1): reached K-1 K-2 K-3 K-4 = 4;
        # contacted 是: K-1 K-2 K-3 = 3; answered 是否满意: K-1 K-2 K-3 = 3, resolved 是: 3;
        # 满意 K-1 K-3, 基本满意 K-2, 不满意 none; flagged K-6.
        assert (tally.visits, tally.reached, tally.contacted, tally.answered) == (6, 4, 3, 3)
        assert (tally.resolved, tally.satisfied, tally.basic, tally.dissatisfied) == (3, 2, 1, 0)
        assert tally.short_attempts == 1
        assert kundulun.reach_rate == round(4 / 6, 4)  # 回访率 0.6667
        assert kundulun.contact_rate == 0.75  # 联系率 3 / 4
        assert kundulun.resolve_rate == 1.0  # 解决率 3 / 3
        assert kundulun.satisfied_rate == 1.0  # 满意率 (2 + 1) / 3
        assert (qingshan.unit_code, qingshan.tally.visits, qingshan.satisfied_rate) == (
            "qingshan", 1, 1.0)  # fmt: skip
        assert await hotline_indicators(session=session, actor=ADMIN, period="2026H1") == []
