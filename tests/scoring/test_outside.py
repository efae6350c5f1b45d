"""Outside 民意 results (a poll, a 蒙速办 figure): bad rows named in Chinese and nothing stored,
office files (GBK CSV, XLSX with a title), the source's history, two sources side by side,
the template round trip, and the flow's audit rows."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import pytest
from openpyxl import Workbook, load_workbook  # type: ignore[import-untyped]
from sqlmodel import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scoring import outside, outside_template
from scoring.models import OutsideImport, OutsideScore
from surveys.accounts.access import Actor, StaffRole
from surveys.accounts.models import Unit, UnitKind
from surveys.core.exceptions import InvalidFile
from surveys.core.i18n import Translator
from surveys.core.models import pk

from .helpers import TZ, add_unit

PERIOD = "2026H2"
NOW = datetime(2026, 11, 30, 4, tzinfo=UTC)
LATER = datetime(2026, 12, 5, 4, tzinfo=UTC)
NOTE = "委托民意调查中心电话访问，2026年11月，随机抽取办事群众"
ADMIN = Actor(name="boss", role=StaffRole.admin, units=None, address="10.0.0.1")
ENGLISH = re.compile(r"\b(missing|column|row|line|invalid|unknown|not a|above|below)\b", re.I)


@pytest.fixture
async def units(session: AsyncSession) -> AsyncSession:
    await add_unit(session, "donghe", "东河区", UnitKind.district)
    await add_unit(session, "yibao", "市医保局", UnitKind.department)
    await add_unit(session, "qingshan", "青山区", UnitKind.district)
    await add_unit(session, "old", "旧单位", UnitKind.department, active=False)
    return session


def csv_bytes(lines: list[str], encoding: str = "utf-8") -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


GOOD = ["单位编码,单位名称,得分,样本量", "donghe,东河区,86.5,400", "yibao,市医保局,91,120"]


async def upload(
    session: AsyncSession, name: str, content: bytes, *, source: str = "蒙速办满意度",
    now: datetime = NOW, note: str = NOTE,
) -> outside.Imported:  # fmt: skip
    return await outside.import_outside_upload(
        session=session, file_name=name, content=content, period=PERIOD, source_name=source,
        method_note=note, actor="test", now=now,
    )  # fmt: skip


async def counts(session: AsyncSession) -> tuple[int, int]:
    imports = (await session.exec(select(func.count()).select_from(OutsideImport))).one()
    scores = (await session.exec(select(func.count()).select_from(OutsideScore))).one()
    return int(imports), int(scores)


async def refused(session: AsyncSession, lines: list[str], name: str = "民调.csv") -> list[str]:
    """The problems of a refused file, checking that nothing was stored."""
    before = await counts(session)
    with pytest.raises(InvalidFile) as caught:
        await upload(session, name, csv_bytes(lines))
    assert await counts(session) == before
    for problem in caught.value.problems:
        assert not ENGLISH.search(problem), problem
        assert name in problem
    return caught.value.problems


class TestBadRowsAreLocated:
    async def test_unknown_unit(self, units: AsyncSession) -> None:
        assert await refused(units, [*GOOD, "nowhere,,80,100"]) == [
            "民调.csv 第 4 行 A 列“单位编码”：没有编码为“nowhere”的单位。请核对单位编码"
            "（导入模板列有全部在用单位的编码）。"
        ]

    async def test_duplicate_unit(self, units: AsyncSession) -> None:
        assert await refused(units, [*GOOD, "donghe,东河区,70,50"]) == [
            "民调.csv 第 4 行 A 列“单位编码”：单位“donghe”（东河区）重复，第 2 行已有该单位。"
        ]

    async def test_score_out_of_range_and_not_a_number(self, units: AsyncSession) -> None:
        found = await refused(units, [GOOD[0], "donghe,东河区,100.5,400", "yibao,,-1,9",
                                      "qingshan,,高,9"])  # fmt: skip

        assert found == [
            "民调.csv 第 2 行 C 列“得分”：得分 100.5 超出范围，应为 0 至 100 之间的数字。",
            "民调.csv 第 3 行 C 列“得分”：得分 -1 超出范围，应为 0 至 100 之间的数字。",
            "民调.csv 第 4 行 C 列“得分”：“高”不是数字（得分应为 0 至 100 之间的数字）。",
        ]

    async def test_n_missing_zero_or_a_fraction(self, units: AsyncSession) -> None:
        found = await refused(units, [GOOD[0], "donghe,,80,", "yibao,,80,0", "qingshan,,80,12.5"])

        assert found == [
            "民调.csv 第 2 行 D 列“样本量”：样本量未填写（应为参与调查的人数，至少 1）；"
            "该来源未覆盖这个单位时，请把得分和样本量都留空。",
            "民调.csv 第 3 行 D 列“样本量”：样本量 0 小于 1（应为参与调查的人数，至少 1）。",
            "民调.csv 第 4 行 D 列“样本量”：样本量“12.5”不是整数（应为参与调查的人数，至少 1）。",
        ]

    async def test_score_missing_beside_an_n(self, units: AsyncSession) -> None:
        [problem] = await refused(units, [GOOD[0], "donghe,东河区,,300"])

        assert problem.startswith("民调.csv 第 2 行 C 列“得分”：得分未填写")

    async def test_inactive_unit_and_a_wrong_name(self, units: AsyncSession) -> None:
        found = await refused(units, [*GOOD, "old,旧单位,80,10", "qingshan,东河区,80,10"])

        assert found == [
            "民调.csv 第 4 行 A 列“单位编码”：单位“old”（旧单位）已停用，不参加考评，"
            "请删除这一行。",
            "民调.csv 第 5 行 B 列“单位名称”：单位名称“东河区”与编码“qingshan”登记的名称"
            "“青山区”不一致，请核对是否填错了行。",
        ]

    async def test_header_without_n_or_unit(self, units: AsyncSession) -> None:
        assert await refused(units, ["单位编码,得分,满意率", "donghe,80,0.9"]) == [
            "民调.csv 第 1 行：表头缺少列：样本量。",
            "民调.csv 第 1 行 C 列“满意率”：无法识别的列“满意率”。表头只能有“单位编码”或"
            "“单位名称”、“得分”“样本量”（以及“序号”“备注”“说明”）；请删除该列或改正列名。",
        ]
        assert await refused(units, ["备注,得分,样本量", "x,80,9"]) == [
            "民调.csv 第 1 行：表头缺少列：单位编码（或单位名称）。"
        ]

    async def test_every_problem_of_a_file_at_once(self, units: AsyncSession) -> None:
        found = await refused(units, [*GOOD, "nowhere,,80,1", "yibao,,101,0"])

        assert [p.split("：")[0] for p in found] == [
            "民调.csv 第 4 行 A 列“单位编码”",
            "民调.csv 第 5 行 A 列“单位编码”",
            "民调.csv 第 5 行 C 列“得分”",
            "民调.csv 第 5 行 D 列“样本量”",
        ]

    async def test_nothing_filled_is_refused(self, units: AsyncSession) -> None:
        assert await refused(units, [GOOD[0], "donghe,东河区,,", "yibao,市医保局,,"]) == [
            "民调.csv：没有任何单位的得分：请至少为一个单位填写得分（0 至 100）和样本量后再导入。"
        ]

    async def test_a_bad_file_keeps_the_current_import(self, units: AsyncSession) -> None:
        first = await upload(units, "民调.csv", csv_bytes(GOOD))

        await refused(units, [*GOOD, "donghe,东河区,80,1"])

        stored = (await units.exec(select(OutsideImport))).all()
        assert [(i.id, i.superseded_at) for i in stored] == [(first.stored.id, None)]


class TestSourceAndNote:
    @pytest.mark.parametrize("source", ["", "   ", "源" * 101])
    async def test_a_source_name_is_required_and_short(
        self, units: AsyncSession, source: str
    ) -> None:
        with pytest.raises(outside.InvalidSourceName) as caught:
            await upload(units, "民调.csv", csv_bytes(GOOD), source=source)

        text = Translator()(caught.value.key, **caught.value.params)
        assert text.startswith("来源必须填写，长度 1 至 100 个字")
        assert await counts(units) == (0, 0)

    @pytest.mark.parametrize("note", ["", "\n \n", "说" * 2001])
    async def test_a_method_note_is_required_and_bounded(
        self, units: AsyncSession, note: str
    ) -> None:
        with pytest.raises(outside.InvalidMethodNote) as caught:
            await upload(units, "民调.csv", csv_bytes(GOOD), note=note)

        text = Translator()(caught.value.key, **caught.value.params)
        assert text.startswith("方法说明必须填写，长度 1 至 2000 个字")
        assert await counts(units) == (0, 0)

    async def test_the_longest_ones_are_kept_whole(self, units: AsyncSession) -> None:
        imported = await upload(units, "民调.csv", csv_bytes(GOOD), source=" 源" * 50,
                                note="说" * 2000)  # fmt: skip

        assert len(imported.stored.source_name) == 99  # 源 源 … (spaces between as one)
        assert len(imported.stored.method_note) == 2000


def titled_xlsx() -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "民调结果"
    sheet.append(["2026年下半年政务服务满意度调查结果"])
    sheet.merge_cells("A1:E1")
    sheet.append(["序号", "单位名称", "满意度得分", "有效样本量（人）", "备注"])
    sheet.append([1, "东河区", 88.25, 402, "电话"])
    sheet.append([2, "市医保局", 79, 131.0, ""])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


class TestOfficeFiles:
    async def test_a_gbk_csv(self, units: AsyncSession) -> None:
        imported = await upload(units, "民调.csv", csv_bytes(GOOD, "gbk"))

        results = await outside.outside_results(session=units, period=PERIOD)
        assert imported.stored.rows == 2
        donghe = await _unit(units, "donghe")
        [result] = results[pk(donghe)]
        assert (result.source, result.score, result.n) == ("蒙速办满意度", 86.5, 400)
        assert result.method_note == NOTE

    @pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
    async def test_a_csv_in_other_office_encodings(
        self, units: AsyncSession, encoding: str
    ) -> None:
        assert (await upload(units, "民调.csv", csv_bytes(GOOD, encoding))).stored.rows == 2

    async def test_an_xlsx_by_unit_name_below_a_title(self, units: AsyncSession) -> None:
        imported = await upload(units, "民调.xlsx", titled_xlsx())

        scores = {s.unit_id: (s.score, s.n) for s in (await units.exec(select(OutsideScore)))}
        donghe, yibao = await _unit(units, "donghe"), await _unit(units, "yibao")
        assert scores == {pk(donghe): (88.25, 402), pk(yibao): (79.0, 131)}
        assert (imported.header.row, imported.sheet) == (2, "民调结果")
        assert imported.summary(Translator()) == (
            "2026H2 外部民意“蒙速办满意度”：已导入 2 个单位的得分和样本量，表头取自工作表"
            "“民调结果”第 2 行。同一来源此前的导入已保留为历史记录。"
        )

    async def test_a_unit_not_covered_is_left_out(self, units: AsyncSession) -> None:
        imported = await upload(units, "民调.csv", csv_bytes([*GOOD, "qingshan,青山区,,"]))

        assert imported.stored.rows == 2

    async def test_a_name_two_units_share_must_be_a_code(self, units: AsyncSession) -> None:
        await add_unit(units, "donghe2", "东河区", UnitKind.department)

        assert await refused(units, ["单位名称,得分,样本量", "东河区,80,10"]) == [
            "民调.csv 第 2 行 A 列“单位名称”：名称为“东河区”的单位不止一个，无法确定是哪一个，"
            "请改填单位编码。"
        ]


async def _unit(session: AsyncSession, code: str) -> Unit:
    return (await session.exec(select(Unit).where(Unit.code == code))).one()


class TestHistoryAndSources:
    async def test_importing_again_supersedes_and_keeps_history(self, units: AsyncSession) -> None:
        first = await upload(units, "民调.csv", csv_bytes(GOOD))
        again = await upload(units, "民调2.csv", csv_bytes([GOOD[0], "donghe,东河区,70,500"]),
                             now=LATER)  # fmt: skip

        history = await outside.list_imports(session=units, period=PERIOD)
        assert [(i.id, i.superseded_at is None) for i in history] == [
            (again.stored.id, True),
            (first.stored.id, False),
        ]
        assert await counts(units) == (2, 3)  # the first import's scores are kept
        results = await outside.outside_results(session=units, period=PERIOD)
        donghe = await _unit(units, "donghe")
        assert [(r.score, r.n) for r in results[pk(donghe)]] == [(70.0, 500)]
        assert set(results) == {pk(donghe)}  # 市医保局 only in the superseded import

    async def test_two_sources_side_by_side(self, units: AsyncSession) -> None:
        await upload(units, "民调.csv", csv_bytes(GOOD))
        await upload(units, "机构.csv", csv_bytes([GOOD[0], "donghe,东河区,75,1000"]),
                     source="北疆民意调查中心", note="入户问卷，2026年10月")  # fmt: skip

        results = await outside.outside_results(session=units, period=PERIOD)
        donghe, yibao = await _unit(units, "donghe"), await _unit(units, "yibao")
        assert [(r.source, r.score, r.n, r.method_note) for r in results[pk(donghe)]] == [
            ("北疆民意调查中心", 75.0, 1000, "入户问卷，2026年10月"),
            ("蒙速办满意度", 86.5, 400, NOTE),
        ]
        assert [r.source for r in results[pk(yibao)]] == ["蒙速办满意度"]
        assert all(i.superseded_at is None for i in await outside.list_imports(session=units))

    async def test_other_periods_do_not_show(self, units: AsyncSession) -> None:
        await upload(units, "民调.csv", csv_bytes(GOOD))

        assert await outside.outside_results(session=units, period="2026H1") == {}

    async def test_the_history_lines(self, units: AsyncSession) -> None:
        await upload(units, "C:\\fakepath\\民调.csv", csv_bytes(GOOD))

        [line] = await outside.import_lines(session=units, tz=TZ)
        assert (line.source, line.method_note, line.file_name) == (
            "蒙速办满意度",
            NOTE,
            "民调.csv",
        )
        assert (line.imported_at, line.current, line.rows) == ("2026-11-30 12:00", True, 2)


class TestTemplate:
    async def test_the_workbook(self, units: AsyncSession) -> None:
        file = await outside_template.template_download(session=units, fmt="xlsx")

        workbook = load_workbook(io.BytesIO(file.body))
        sheet = workbook.worksheets[0]
        assert (file.name, file.units) == ("外部民意导入模板.xlsx", 3)
        assert (sheet.title, sheet.freeze_panes) == ("外部民意", "C2")
        assert [c.value for c in sheet[1]] == [
            "单位编码",
            "单位名称",
            "得分（0–100）",
            "样本量（人）",
        ]
        assert [c.value for c in sheet[2]][:2] == ["示例", "示例（导入时跳过此行）"]
        assert [c.value for c in sheet["A"]][2:] == ["donghe", "qingshan", "yibao"]
        rules = {str(v.sqref): (v.type, v.formula1) for v in sheet.data_validations.dataValidation}
        assert rules == {"C3:C5": ("decimal", "0"), "D3:D5": ("whole", "1")}
        assert workbook.sheetnames[1] == "填写说明"

    async def test_unfilled_it_is_refused_filled_it_imports(self, units: AsyncSession) -> None:
        body = (await outside_template.template_download(session=units, fmt="xlsx")).body
        with pytest.raises(InvalidFile):
            await upload(units, "模板.xlsx", body)
        workbook = load_workbook(io.BytesIO(body))
        sheet = workbook.worksheets[0]
        sheet["C3"], sheet["D3"] = 82.5, 388  # donghe; the others left empty
        buffer = io.BytesIO()
        workbook.save(buffer)

        imported = await upload(units, "模板.xlsx", buffer.getvalue())

        assert imported.stored.rows == 1  # the example row skipped, empty units left out

    async def test_the_csv_template_round_trips(self, units: AsyncSession) -> None:
        file = await outside_template.template_download(session=units, fmt="csv")
        text = file.body.decode("utf-8-sig").replace("市医保局,,", "市医保局,90,35")

        imported = await upload(units, "模板.csv", text.encode("gbk"))

        assert text.splitlines()[0] == "单位编码,单位名称,得分（0–100）,样本量（人）"
        assert imported.stored.rows == 1
