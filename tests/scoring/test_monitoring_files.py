"""Monitoring files as offices have them: GBK CSV, title rows, two-level headers, the
template round trip; every refusal in Chinese; the period window; refused imports audited."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime

import pytest
from openpyxl import Workbook, load_workbook  # type: ignore[import-untyped]
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scoring import flows, monitoring, monitoring_template
from scoring.models import Component, ImportLayout, MonitoringImport, MonitoringScore
from surveys.accounts.access import Actor, StaffRole
from surveys.accounts.models import AuditEvent, UnitKind
from surveys.core.exceptions import InvalidFile
from surveys.core.i18n import Translator
from surveys.questionnaire.definitions import AREAS

from .helpers import NOW, add_unit, stored_counts

UNITS = {"donghe": "东河区", "yibao": "市医保局"}
SCORES = ["20", "20", "16", "8", "8", "4", "4"]
ADMIN = Actor(name="boss", role=StaffRole.admin, units=None, address="10.0.0.1")
# Words an English message would have; a Chinese one names files and columns only.
ENGLISH = re.compile(
    r"\b(missing|column|row|line|invalid|unknown|not a|above|below|empty|problem)\b", re.I
)


@pytest.fixture
async def units(session: AsyncSession) -> AsyncSession:
    await add_unit(session, "donghe", "东河区", UnitKind.district)
    await add_unit(session, "yibao", "市医保局", UnitKind.department)
    return session


def csv_bytes(encoding: str) -> bytes:
    lines = ["单位编码,单位名称," + ",".join(AREAS)]
    lines += [f"{code},{name}," + ",".join(SCORES) for code, name in UNITS.items()]
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def workbook_bytes(workbook: Workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def titled_xlsx() -> bytes:
    """A title merged across the table above a one-row header, as offices send them."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "日常监测"
    sheet.append(["2026年上半年各单位日常监测得分"])
    sheet.merge_cells("A1:I1")
    sheet.append(["单位编码", "单位名称", *(f"{a}\n（满分{p}分）" for a, p in AREAS.items())])
    for code, name in UNITS.items():
        sheet.append([code, name, *(float(s) for s in SCORES)])
    return workbook_bytes(workbook)


def two_level_xlsx() -> bytes:
    """Title row, then 单位编码/单位名称/总分 merged over two rows and 领域得分 over the areas."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "汇总"
    sheet.append(["日常监测得分汇总表"])
    sheet.merge_cells("A1:J1")
    sheet.append(["单位编码", "单位名称", "领域得分", *[None] * 6, "合计"])
    sheet.append([None, None, *AREAS])
    for cells in ("A2:A3", "B2:B3", "C2:I2", "J2:J3"):
        sheet.merge_cells(cells)
    for code, name in UNITS.items():
        sheet.append([code, name, *(float(s) for s in SCORES), 80.0])
    return workbook_bytes(workbook)


async def upload(
    session: AsyncSession, name: str, content: bytes, period: str = "2026H1"
) -> monitoring.Imported:
    return await monitoring.import_monitoring_upload(
        session=session, file_name=name, content=content, period=period,
        component=Component.monitoring, actor="test", now=NOW,
    )  # fmt: skip


async def refused(session: AsyncSession, name: str, content: bytes) -> list[str]:
    before = await stored_counts(session)
    with pytest.raises(InvalidFile) as caught:
        await upload(session, name, content)
    assert await stored_counts(session) == before
    return caught.value.problems


class TestOfficeFiles:
    @pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8", "utf-8-sig"])
    async def test_a_csv_in_any_office_encoding(self, units: AsyncSession, encoding: str) -> None:
        imported = await upload(units, "日常监测.csv", csv_bytes(encoding))

        assert imported.stored.rows == 2
        assert imported.stored.layout is ImportLayout.area
        assert (imported.header.row, imported.sheet) == (1, None)

    async def test_an_xlsx_with_a_merged_title_row(self, units: AsyncSession) -> None:
        imported = await upload(units, "监测.xlsx", titled_xlsx())

        assert imported.stored.rows == 2
        assert (imported.header.first, imported.header.row) == (2, 2)
        assert "表头取自工作表“日常监测”第 2 行" in imported.summary(Translator())

    async def test_an_xlsx_with_a_two_level_header(self, units: AsyncSession) -> None:
        imported = await upload(units, "监测.xlsx", two_level_xlsx())

        scores = (await units.exec(select(MonitoringScore))).all()
        assert imported.stored.rows == 2
        assert {s.area for s in scores} == set(AREAS)
        assert sum(s.score for s in scores) == pytest.approx(160)
        assert (imported.header.first, imported.header.row) == (2, 3)
        assert "表头取自工作表“汇总”第 2–3 行" in imported.summary(Translator())

    async def test_a_bad_cell_below_a_two_level_header_names_sheet_row_and_column(
        self, units: AsyncSession
    ) -> None:
        workbook = load_workbook(io.BytesIO(two_level_xlsx()))
        workbook.active["E5"] = 21  # 协同办公 of 市医保局, 满分 20

        [problem] = await refused(units, "监测.xlsx", workbook_bytes(workbook))

        assert (
            problem
            == "监测.xlsx 工作表“汇总” 第 5 行 E 列“协同办公”：21 超过“协同办公”的满分 20。"
        )


class TestTemplate:
    async def template(
        self, session: AsyncSession, fmt: str = "xlsx", layout: ImportLayout = ImportLayout.area
    ) -> monitoring_template.TemplateFile:
        return await monitoring_template.template_download(
            session=session, layout=layout, component=Component.monitoring, fmt=fmt
        )

    async def test_the_workbook_a_person_fills_in(self, units: AsyncSession) -> None:
        file = await self.template(units)

        workbook = load_workbook(io.BytesIO(file.body))
        sheet = workbook.worksheets[0]
        assert file.name == "日常监测导入模板（按领域）.xlsx"
        assert (sheet.title, sheet.freeze_panes) == ("日常监测", "C2")
        assert [c.value for c in sheet[1]][2:4] == ["一网通办（满分 25）", "一网统管（满分 25）"]
        assert [c.value for c in sheet["A"]][1:] == ["donghe", "yibao"]
        rules = {str(v.sqref): (v.type, v.formula1, v.formula2)
                 for v in sheet.data_validations.dataValidation}  # fmt: skip
        assert rules["C2:C3"] == ("decimal", "0", "25")
        assert rules["I2:I3"] == ("decimal", "0", "5")
        assert len(rules) == len(AREAS)
        assert workbook.sheetnames[1] == "填写说明"

    async def test_unfilled_it_is_one_message(self, units: AsyncSession) -> None:
        file = await self.template(units)

        problems = await refused(units, "模板.xlsx", file.body)

        assert problems == [
            "模板尚未填写：模板.xlsx 工作表“日常监测” 中 2 个单位的得分都是空的。"
            "请在“一网通办”至“统筹管理”各列填写各单位的得分（0 至该列满分）后再导入。"
        ]

    async def test_filled_in_it_imports(self, units: AsyncSession) -> None:
        workbook = load_workbook(io.BytesIO((await self.template(units)).body))
        sheet = workbook.worksheets[0]
        for row in (2, 3):
            for column, score in enumerate(SCORES, start=3):
                sheet.cell(row=row, column=column, value=float(score) - 0.5)

        imported = await upload(units, "模板.xlsx", workbook_bytes(workbook))

        assert imported.stored.rows == 2
        scores = (await units.exec(select(MonitoringScore))).all()
        assert sum(s.score for s in scores) == pytest.approx(160 - 14 * 0.5)

    async def test_the_csv_template_round_trips_too(self, units: AsyncSession) -> None:
        file = await self.template(units, "csv", ImportLayout.total)
        text = (
            file.body.decode("utf-8-sig")
            .replace("东河区,", "东河区,88.5")
            .replace("市医保局,", "市医保局,90")
        )

        imported = await upload(units, "总分.csv", text.encode("utf-8-sig"))

        assert imported.stored.layout is ImportLayout.total
        assert text.splitlines()[0] == "单位编码,单位名称,总分（满分 100）"


BAD_FILES = {
    "a.txt": b"x",
    "b.csv": "单位编码".encode("gbk") + b"\xff",
    "c.xlsx": b"not a zip",
    "d.csv": b"",
    "e.csv": "甲,乙\n丙,丁\n".encode(),
    "f.csv": "单位编码,单位名称\ndonghe,东河区\n".encode(),
    "g.csv": "单位编码,单位名称,总分,总分,备用\nnowhere,无,x,1,2\n,,-1\n".encode(),
    "h.csv": (
        "单位编码,单位名称,总分\ndonghe,东河,101\ndonghe,东河区,\n" + "yibao,市医保局,,9\n"
    ).encode(),
    "i.csv": '单位编码,单位名称,总分\n"donghe,东河区,80\n'.encode()
    + b'"'
    + b"x" * 200_000
    + b'"\n',
}


class TestEveryRefusalIsChinese:
    @pytest.mark.parametrize("name", sorted(BAD_FILES))
    async def test_no_english_left(self, units: AsyncSession, name: str) -> None:
        problems = await refused(units, name, BAD_FILES[name])

        assert problems
        for problem in problems:
            assert not ENGLISH.search(problem), problem
            assert re.search(r"[\u4e00-\u9fff]", problem), problem
            assert name in problem  # says which file


class TestPeriodWindow:
    @pytest.mark.parametrize(
        ("today", "window"),
        [(date(2026, 11, 30), ("2024H2", "2027H1")), (date(2027, 3, 1), ("2025H1", "2027H2"))],
    )
    def test_two_years_back_to_the_next_half_year(
        self, today: date, window: tuple[str, str]
    ) -> None:
        assert monitoring.period_window(today) == window

    @pytest.mark.parametrize("period", ["2030H2", "1990H1", "2024H1", "2027H2"])
    def test_outside_is_refused(self, period: str) -> None:
        with pytest.raises(monitoring.PeriodOutOfRange) as caught:
            monitoring.check_period_window(period, date(2026, 11, 30))

        text = Translator()(caught.value.key, **caught.value.params)
        assert text.startswith(f"考评期间 {period} 不在常规导入范围 2024H2 至 2027H1")
        assert "--force" in text


async def _events(session: AsyncSession) -> list[AuditEvent]:
    statement = select(AuditEvent).order_by(col(AuditEvent.id))
    return list((await session.exec(statement)).all())


class TestFlowRefusals:
    NOW = datetime(2026, 11, 30, 4, tzinfo=UTC)

    async def flow(
        self, session: AsyncSession, content: bytes, period: str, *, force: bool = False
    ) -> monitoring.Imported:
        return await flows.import_monitoring(
            session=session, actor=ADMIN, file_name="/srv/in/日常监测.csv", content=content,
            period=period, component="日常监测", now=self.NOW, force=force,
        )  # fmt: skip

    async def test_a_far_period_is_refused_audited_then_imported_when_confirmed(
        self, units: AsyncSession
    ) -> None:
        with pytest.raises(monitoring.PeriodOutOfRange):
            await self.flow(units, csv_bytes("gbk"), "2030H2")
        assert await stored_counts(units) == (0, 0)

        imported = await self.flow(units, csv_bytes("gbk"), "2030H2", force=True)

        assert imported.stored.period == "2030H2"
        refusal, done = await _events(units)
        assert (refusal.action, refusal.target) == ("import.monitoring.refused", "2030H2 日常监测")
        assert refusal.detail == {
            "file": "日常监测.csv", "problems": 1,
            "reason": "import.monitoring.period_out_of_range",
        }  # fmt: skip
        assert (done.action, done.detail["forced"]) == ("import.monitoring", True)

    async def test_a_refused_file_leaves_the_stored_import_as_it_was(
        self, units: AsyncSession
    ) -> None:
        first = await self.flow(units, csv_bytes("utf-8"), "2026H2")
        before = await stored_counts(units)
        bad = csv_bytes("utf-8").replace(b",20,", b",30,", 1)

        with pytest.raises(InvalidFile):
            await self.flow(units, bad, "2026H2")

        assert await stored_counts(units) == before
        current = (await units.exec(select(MonitoringImport))).all()
        assert [(i.id, i.superseded_at) for i in current] == [(first.stored.id, None)]
        refusal = (await _events(units))[-1]
        assert refusal.action == "import.monitoring.refused"
        assert refusal.detail == {"file": "日常监测.csv", "problems": 1,
                                  "reason": "error.invalid_file"}  # fmt: skip
