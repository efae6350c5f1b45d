"""The console's 12345回访 page as the evaluation office and unit staff use it: each unit's
回访量, 接通, the four rates, the 不满意 and the flagged 无法联系 of a half-year, hand-computed
below; unit staff see only their units; a manager uploads a 回访 file through the same flow
as ``minyi import hotline`` (counts shown, or every problem by row and column with nothing
stored); the form needs its CSRF token and the manage permission."""

from __future__ import annotations

import html
import io
import re
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from openpyxl import load_workbook  # type: ignore[import-untyped]
from sqlmodel import col, func, select

from api.console import hotline as page_module
from surveys.accounts.access import StaffRole
from surveys.accounts.models import AuditEvent, Unit
from surveys.cases.models import FollowUpCase
from surveys.core.db import SessionMaker, unit_of_work
from surveys.core.models import pk
from surveys.haochaping.models import Rating
from surveys.hotline.models import HotlineVisit, VisitOutcome, VisitSatisfaction, VisitSource
from tests.api.console.conftest import OTHER_UNIT, OWN_UNIT, add_user

PERIOD = "2026H2"
# 2026-12-01 12:00 in Baotou: the 工单 below were finished on Friday 2026-11-20.
NOW = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)
FINISHED = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
ENGLISH = re.compile(r"\b(missing|column|row|line|invalid|unknown|not a|error)\b", re.I)
HEADER = "工单号,单位编码,回访轮次,事项名称,办结时间,第1次回访时间,第1次回访结果,第2次回访时间,第2次回访结果,回访结果,是否联系,是否解决,是否满意\n"  # noqa: E501
GOOD = (
    HEADER
    + "H-1,spj,1,企业开办咨询,2026-11-20 16:30,2026-11-23 09:10,接通,,,,是,是,满意\n"
    + "H-2,spj,1,不动产登记,2026/11/20 16:30,2026/11/23 9:10,接通,,,,是,否,不满意\n"
    + "H-3,spj,1,噪音扰民,2026-11-20 16:30,2026-11-23 09:00,无人接听,2026-11-23 16:00,占线,无法联系,,,\n"  # noqa: E501
)
# The same file again with H-1's second round: three duplicates, one round retired.
AGAIN = GOOD + "H-1,spj,2,企业开办咨询,2026-11-20 16:30,2026-11-25 10:00,接通,,,,是,是,基本满意\n"
# Three problems in three rows, and a good row: nothing may be stored.
BAD = (
    HEADER
    + "B-1,spj,1,企业开办咨询,2026-11-20 16:30,2026-11-23 09:10,接通,,,,是,是,很好\n"
    + "B-2,nowhere,1,企业开办咨询,2026-11-20 16:30,2026-11-23 09:10,接通,,,,是,是,满意\n"
    + "B-3,spj,1,企业开办咨询,2026-11-20 16:30,2026-11-19 09:10,接通,,,,是,是,满意\n"
    + "B-4,spj,1,不动产登记,2026-11-20 16:30,2026-11-23 09:10,接通,,,,是,否,不满意\n"
)


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The page's default half-year and the import's "now" are those of :data:`NOW`."""
    monkeypatch.setattr(page_module, "utcnow", lambda: NOW)
    monkeypatch.setattr(page_module, "today", lambda tz: date(2026, 12, 1))


def _visit(unit: Unit, ticket: str, **fields: Any) -> HotlineVisit:
    data: dict[str, Any] = {
        "unit_id": pk(unit), "ticket_no": ticket, "item_name": "企业开办咨询",
        "finished_at": FINISHED, "outcome": VisitOutcome.answered, "period": PERIOD,
        "source": VisitSource.file,
        "attempts": [{"at": "2026-11-23T01:10:00+00:00", "outcome": "answered"}],
    }  # fmt: skip
    data.update(fields)
    return HotlineVisit(**data)


@pytest.fixture
async def visits(app: FastAPI, sessionmaker: SessionMaker) -> None:
    """A hand-made half-year. 市审批服务局 (spj), six counted visits:

    ====  ========  ====  ====  ========  ====
    #     outcome   联系   解决   满意       flag
    ====  ========  ====  ====  ========  ====
    1     接通       是     是     满意
    2     接通       是     否     基本满意
    3     接通       否     —      —
    4     接通       是     否     不满意
    5     无法联系                          呼叫不足
    6     无法联系
    ====  ========  ====  ====  ========  ====

    plus a retired first round (满意, not counted) and a visit of 2026H1 (not counted).
    回访率 4/6 = 66.7%; 联系率 3/4 = 75.0%; 解决率 1/3 = 33.3% (the three who gave 是否满意);
    满意率 (1 + 1)/3 = 66.7%; 不满意 1; flagged 1.
    昆都仑区 (kundulun): one visit, 接通 是 是 满意: 100.0% each, 不满意 0, flagged 0.
    """
    satisfied, basic, bad = (VisitSatisfaction.satisfied, VisitSatisfaction.basic,
                             VisitSatisfaction.dissatisfied)  # fmt: skip
    unreachable = VisitOutcome.unreachable
    async with unit_of_work(sessionmaker) as session:
        units = {u.code: u for u in (await session.exec(select(Unit))).all()}
        own, other = units[OWN_UNIT], units[OTHER_UNIT]
        session.add_all([
            _visit(own, "S-1", contacted=True, resolved=True, satisfaction=satisfied),
            _visit(own, "S-2", contacted=True, resolved=False, satisfaction=basic),
            _visit(own, "S-3", contacted=False),
            _visit(own, "S-4", contacted=True, resolved=False, satisfaction=bad),
            _visit(own, "S-5", outcome=unreachable, short_attempts=True),
            _visit(own, "S-6", outcome=unreachable),
            _visit(own, "S-7", round=1, active=False, contacted=True, resolved=True,
                   satisfaction=satisfied),
            _visit(own, "S-8", period="2026H1", contacted=True, resolved=True,
                   satisfaction=satisfied),
            _visit(other, "K-1", contacted=True, resolved=True, satisfaction=satisfied),
        ])  # fmt: skip


SPJ = ["市审批服务局", "6", "4", "66.7%", "75.0%", "33.3%", "66.7%", "1", "1"]
KUNDULUN = ["昆都仑区", "1", "1", "100.0%", "100.0%", "100.0%", "100.0%", "0", "0"]


def _table(page: str) -> dict[str, list[str]]:
    """The indicator table's rows by unit code, each cell's text."""
    table = page.split('id="hotline-units"')[1].split("</table>")[0]
    rows = re.findall(r'<tr data-unit="([^"]+)">(.*?)</tr>', table, re.S)
    return {
        code: [html.unescape(cell.strip()) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for code, row in rows
    }


def _text(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


async def _signed_in(browser_for: Any, sessionmaker: SessionMaker, name: str,
                     role: StaffRole, units: list[str]) -> Any:  # fmt: skip
    await add_user(sessionmaker, name, role, units)
    return await browser_for(name)


@pytest.fixture
async def boss(app: FastAPI, sessionmaker: SessionMaker, browser_for: Any) -> Any:
    return await _signed_in(browser_for, sessionmaker, "boss", StaffRole.admin, [])


async def _count(sessionmaker: SessionMaker, model: Any) -> int:
    async with sessionmaker() as session:
        return int((await session.exec(select(func.count()).select_from(model))).one())


async def _audit(sessionmaker: SessionMaker) -> list[AuditEvent]:
    async with sessionmaker() as session:
        statement = select(AuditEvent).where(AuditEvent.action == "import.hotline")
        return list((await session.exec(statement.order_by(col(AuditEvent.id)))).all())


async def _upload(browser: Any, name: str, content: bytes) -> Any:
    await browser.get(f"/console/hotline?period={PERIOD}")
    return await browser.post(
        "/console/hotline/import", {"period": PERIOD}, files={"file": (name, content)}
    )


class TestIndicators:
    async def test_each_unit_with_its_counts_and_rates(self, visits: None, boss: Any) -> None:
        response = await boss.get(f"/console/hotline?period={PERIOD}")

        assert response.status_code == 200
        assert _table(response.text) == {OWN_UNIT: SPJ, OTHER_UNIT: KUNDULUN}

    async def test_the_half_year_as_people_write_it_and_the_chooser(
        self, visits: None, boss: Any
    ) -> None:
        page = (await boss.get("/console/hotline")).text  # the current half-year by default

        assert "<h1>12345回访 2026年下半年</h1>" in page
        assert '<option value="2026H2" selected>2026年下半年</option>' in page
        assert '<option value="2026H1">2026年上半年</option>' in page
        assert _table(page)[OWN_UNIT] == SPJ

    async def test_another_half_year_counts_its_own_visits(self, visits: None, boss: Any) -> None:
        page = (await boss.get("/console/hotline?period=2026H1")).text

        assert _table(page) == {
            OWN_UNIT: ["市审批服务局", "1", "1", "100.0%", "100.0%", "100.0%", "100.0%", "0", "0"]
        }
        assert "<h1>12345回访 2026年上半年</h1>" in page

    async def test_an_empty_half_year_says_so(self, visits: None, boss: Any) -> None:
        page = (await boss.get("/console/hotline?period=2025H1")).text

        assert _table(page) == {}
        assert "2025年上半年暂无12345回访记录。" in page
        assert '<option value="2025H1" selected>2025年上半年</option>' in page

    async def test_a_rate_over_nothing_is_a_dash(
        self, app: FastAPI, sessionmaker: SessionMaker, boss: Any
    ) -> None:
        async with unit_of_work(sessionmaker) as session:
            unit = (await session.exec(select(Unit).where(Unit.code == OWN_UNIT))).one()
            session.add(_visit(unit, "U-1", outcome=VisitOutcome.unreachable))

        row = _table((await boss.get(f"/console/hotline?period={PERIOD}")).text)[OWN_UNIT]

        assert row == ["市审批服务局", "1", "0", "0.0%", "—", "—", "—", "0", "0"]

    async def test_the_four_rates_are_defined_under_the_table(
        self, visits: None, boss: Any
    ) -> None:
        text = _text((await boss.get(f"/console/hotline?period={PERIOD}")).text)

        for definition in (
            "回访率 接通的回访 ÷ 全部回访。",
            "联系率 “是否联系”答“是”的 ÷ 接通的回访。",
            "解决率 “是否解决”答“是”的 ÷ 回答了“是否满意”的回访。",
            "满意率 （满意 + 基本满意）÷ 回答了“是否满意”的回访。",
        ):
            assert definition in " ".join(text.split()), definition

    async def test_a_bad_period_is_refused(self, boss: Any) -> None:
        assert (await boss.get("/console/hotline?period=2026H3")).status_code == 422

    async def test_a_phone_shows_each_unit_as_a_card(self, visits: None, boss: Any) -> None:
        page = (await boss.get(f"/console/hotline?period={PERIOD}")).text

        assert 'class="grid hotline phone-cards"' in page
        assert 'data-label="未满三次即判无法联系">1</td>' in page


class TestScope:
    async def test_unit_staff_see_their_own_units_only(
        self, visits: None, sessionmaker: SessionMaker, browser_for: Any
    ) -> None:
        staff = await _signed_in(browser_for, sessionmaker, "li", StaffRole.staff, [OWN_UNIT])

        page = (await staff.get(f"/console/hotline?period={PERIOD}")).text

        assert _table(page) == {OWN_UNIT: SPJ}
        assert "仅显示您所属单位的回访。" in page
        assert 'href="/console/hotline"' in page  # the nav link is theirs too

    async def test_staff_of_the_other_unit_see_only_it(
        self, visits: None, sessionmaker: SessionMaker, browser_for: Any
    ) -> None:
        staff = await _signed_in(browser_for, sessionmaker, "wang", StaffRole.staff, [OTHER_UNIT])

        page = (await staff.get(f"/console/hotline?period={PERIOD}")).text

        assert _table(page) == {OTHER_UNIT: KUNDULUN}

    async def test_a_city_wide_viewer_sees_every_unit_but_no_upload(
        self, visits: None, sessionmaker: SessionMaker, browser_for: Any
    ) -> None:
        viewer = await _signed_in(browser_for, sessionmaker, "zhao", StaffRole.viewer, [])

        page = (await viewer.get(f"/console/hotline?period={PERIOD}")).text

        assert _table(page) == {OWN_UNIT: SPJ, OTHER_UNIT: KUNDULUN}
        assert "/console/hotline/import" not in page
        assert "/console/hotline/template" not in page


class TestUpload:
    async def test_the_form_and_the_template(self, boss: Any) -> None:
        page = (await boss.get("/console/hotline")).text
        form = page.split('action="/console/hotline/import"')[1].split("</form>")[0]
        assert 'name="csrftoken" value="' in form
        assert 'type="file" name="file"' in form

        response = await boss.client.get("/console/hotline/template?fmt=xlsx")

        assert response.status_code == 200
        assert "12345%E5%9B%9E%E8%AE%BF" in response.headers["content-disposition"]
        sheet = load_workbook(io.BytesIO(response.content)).worksheets[0]
        headers = [cell.value for cell in sheet[1]]
        assert headers[:4] == ["工单号", "单位编码", "回访轮次", "事项名称"]
        assert "第3次回访结果" in headers
        assert "第4次回访结果" not in headers
        assert sheet.cell(row=2, column=1).value == "BT12345202611200001"

    async def test_a_file_is_stored_and_counted(
        self, boss: Any, sessionmaker: SessionMaker
    ) -> None:
        response = await _upload(boss, "回访.csv", GOOD.encode("utf-8-sig"))

        assert response.status_code == 200, _text(response.text)[:600]
        assert ("新增 3 条，重复跳过 0 条，呼叫不足标记 1 条，旧轮次转为历史 0 条，"
                "不满意转差评立案 1 件。") in response.text  # fmt: skip
        assert "回访.csv 已导入" in response.text
        # The page after the upload shows the half-year with the new visits.
        assert _table(response.text) == {
            OWN_UNIT: ["市审批服务局", "3", "2", "66.7%", "100.0%", "50.0%", "50.0%", "1", "1"]
        }
        assert await _count(sessionmaker, HotlineVisit) == 3
        assert await _count(sessionmaker, FollowUpCase) == 1
        [event] = await _audit(sessionmaker)
        assert (event.actor, event.target) == ("boss", "回访.csv")

    async def test_the_same_file_again_with_a_second_round(
        self, boss: Any, sessionmaker: SessionMaker
    ) -> None:
        await _upload(boss, "回访.csv", GOOD.encode("gbk"))

        response = await _upload(boss, "回访2.csv", AGAIN.encode("gbk"))

        assert response.status_code == 200
        assert ("新增 1 条，重复跳过 3 条，呼叫不足标记 0 条，旧轮次转为历史 1 条，"
                "不满意转差评立案 0 件。") in response.text  # fmt: skip
        assert await _count(sessionmaker, HotlineVisit) == 4
        assert await _count(sessionmaker, FollowUpCase) == 1
        # H-1 counts by its second round (基本满意); three visits counted, not four.
        assert _table(response.text)[OWN_UNIT][1] == "3"

    async def test_an_xlsx_with_a_title_row(self, boss: Any, sessionmaker: SessionMaker) -> None:
        template = (await boss.client.get("/console/hotline/template?fmt=xlsx")).content
        workbook = load_workbook(io.BytesIO(template))
        sheet = workbook.worksheets[0]
        sheet.insert_rows(1)
        sheet.cell(row=1, column=1, value="12345热线回访记录（11月）")
        headers = [cell.value for cell in sheet[2]]
        sheet.cell(row=3, column=headers.index("单位编码") + 1, value=OWN_UNIT)
        buffer = io.BytesIO()
        workbook.save(buffer)

        response = await _upload(boss, "回访.xlsx", buffer.getvalue())

        assert response.status_code == 200, _text(response.text)[:600]
        assert "新增 1 条" in response.text
        assert "表头在第 2 行，其上方的 1 行（标题等）未导入。" in response.text
        assert await _count(sessionmaker, HotlineVisit) == 1

    async def test_a_bad_file_names_every_problem_and_stores_nothing(
        self, boss: Any, sessionmaker: SessionMaker
    ) -> None:
        response = await _upload(boss, "坏文件.csv", BAD.encode("gbk"))

        assert response.status_code == 422
        problems = [html.unescape(p) for p in re.findall(r"<li><code>(.*?)</code></li>",
                                                          response.text)]  # fmt: skip
        assert len(problems) == 3, problems
        assert problems[0].startswith("第 2 行 是否满意 列：“很好”不是满意度")
        assert problems[1] == "第 3 行 单位编码 列：没有编码为“nowhere”的在用单位。"
        assert problems[2].startswith("第 4 行 第1次回访时间 列：")
        assert "坏文件.csv 中发现 3 处问题" in response.text
        assert not ENGLISH.search(" ".join(problems)), problems
        assert await _count(sessionmaker, HotlineVisit) == 0
        assert await _count(sessionmaker, Rating) == 0  # B-4's 不满意 opened nothing
        assert await _count(sessionmaker, FollowUpCase) == 0
        assert await _audit(sessionmaker) == []

    async def test_another_file_type_is_refused_in_chinese(
        self, boss: Any, sessionmaker: SessionMaker
    ) -> None:
        response = await _upload(boss, "回访.xls", b"\xd0\xcf\x11\xe0 old excel")

        assert response.status_code == 422
        assert "只能导入 .csv 或 .xlsx 文件，这个文件的扩展名是 .xls" in response.text
        assert await _count(sessionmaker, HotlineVisit) == 0

    async def test_no_file_chosen(self, boss: Any) -> None:
        await boss.get("/console/hotline")
        response = await boss.post("/console/hotline/import", {"period": PERIOD})

        assert response.status_code == 422
        assert "请先选择要上传的文件。" in response.text

    async def test_without_the_csrf_token_nothing_is_stored(
        self, boss: Any, sessionmaker: SessionMaker
    ) -> None:
        await boss.get("/console/hotline")
        files = {"file": ("回访.csv", GOOD.encode("gbk"))}
        for data in ({}, {"csrftoken": "forged"}):
            response = await boss.client.post("/console/hotline/import", data=data, files=files)
            assert response.status_code == 403

        assert await _count(sessionmaker, HotlineVisit) == 0
        assert await _audit(sessionmaker) == []

    @pytest.mark.parametrize(
        ("role", "units"), [(StaffRole.viewer, []), (StaffRole.staff, [OWN_UNIT]),
                            (StaffRole.supervisor, [])],
    )  # fmt: skip
    async def test_without_the_manage_permission_no_upload(
        self, sessionmaker: SessionMaker, browser_for: Any, role: StaffRole, units: list[str],
        app: FastAPI,
    ) -> None:  # fmt: skip
        browser = await _signed_in(browser_for, sessionmaker, "li", role, units)
        page = await browser.get("/console/hotline")
        assert page.status_code == 200
        assert "/console/hotline/import" not in page.text

        response = await browser.post(
            "/console/hotline/import", files={"file": ("回访.csv", GOOD.encode("gbk"))}
        )
        template = await browser.client.get("/console/hotline/template")

        assert (response.status_code, template.status_code) == (403, 403)
        assert "您的角色无权执行此操作。" in response.text
        assert await _count(sessionmaker, HotlineVisit) == 0
