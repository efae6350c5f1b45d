"""The console's monitoring import as the office uses it: download the template, fill it in,
upload it; a wrong file or a far half-year refused in Chinese, audited, nothing changed."""

from __future__ import annotations

import io
import re
from typing import Any
from urllib.parse import unquote

import pytest
from fastapi import FastAPI
from openpyxl import Workbook, load_workbook  # type: ignore[import-untyped]
from sqlmodel import col, func, select

from scoring.models import MonitoringImport, MonitoringScore
from surveys.accounts.access import StaffRole
from surveys.accounts.models import AuditEvent
from surveys.core.db import SessionMaker
from tests.api.console.conftest import OWN_UNIT, add_user

PERIOD = "2026H1"
ENGLISH = re.compile(r"\b(missing|column|row|line|invalid|unknown|not a|above|below)\b", re.I)


@pytest.fixture
async def boss(app: FastAPI, sessionmaker: SessionMaker, browser_for: Any) -> Any:
    await add_user(sessionmaker, "boss", StaffRole.admin, [])
    browser = await browser_for("boss")
    await browser.get("/console/scoring")
    return browser


async def _stored(sessionmaker: SessionMaker) -> tuple[int, int, float]:
    async with sessionmaker() as session:
        imports = (await session.exec(select(func.count()).select_from(MonitoringImport))).one()
        scores = (await session.exec(select(func.count()).select_from(MonitoringScore))).one()
        total = (await session.exec(select(func.sum(MonitoringScore.score)))).one()
    return int(imports), int(scores), float(total or 0)


async def _audit(sessionmaker: SessionMaker, action: str) -> list[AuditEvent]:
    async with sessionmaker() as session:
        statement = select(AuditEvent).where(AuditEvent.action == action)
        return list((await session.exec(statement.order_by(col(AuditEvent.id)))).all())


def _filled(template: bytes, score: float = 3.0) -> bytes:
    workbook = load_workbook(io.BytesIO(template))
    sheet = workbook.worksheets[0]
    for row in range(2, sheet.max_row + 1):
        for column in range(3, sheet.max_column + 1):
            sheet.cell(row=row, column=column, value=score)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


async def _upload(browser: Any, name: str, content: bytes, **form: str) -> Any:
    data = {"period": PERIOD, "component": "日常监测", **form}
    return await browser.post("/console/scoring/import", data, files={"file": (name, content)})


async def _template(browser: Any, query: str = "by=area&component=日常监测") -> Any:
    return await browser.client.get(f"/console/scoring/template?{query}")


class TestTemplate:
    async def test_the_page_links_the_templates(self, boss: Any) -> None:
        page = await boss.get("/console/scoring")

        assert 'href="/console/scoring/template?by=area"' in page.text
        assert "下载导入模板（按领域）" in page.text

    async def test_the_download_is_the_workbook_to_fill_in(self, boss: Any) -> None:
        response = await _template(boss)

        assert response.status_code == 200
        disposition = response.headers["content-disposition"]
        assert unquote(disposition.split("''")[1]) == "日常监测导入模板（按领域）.xlsx"
        sheet = load_workbook(io.BytesIO(response.content)).worksheets[0]
        assert sheet.title == "日常监测"
        assert sheet.freeze_panes == "C2"
        assert sheet["C1"].value == "一网通办（满分 25）"
        assert sheet.max_row == 36  # the header and the 35 demo units
        assert len(sheet.data_validations.dataValidation) == 7

    async def test_unit_staff_may_not_download_it(
        self, app: FastAPI, sessionmaker: SessionMaker, browser_for: Any
    ) -> None:
        await add_user(sessionmaker, "li", StaffRole.staff, [OWN_UNIT])
        browser = await browser_for("li")

        assert (await _template(browser)).status_code == 403


class TestUpload:
    async def test_the_filled_template_imports_and_says_which_row_was_the_header(
        self, boss: Any, sessionmaker: SessionMaker
    ) -> None:
        content = _filled((await _template(boss)).content)

        response = await _upload(boss, "日常监测.xlsx", content)

        assert response.status_code == 303, response.text
        page = await boss.get(response.headers["location"])
        assert page.status_code == 200
        assert "2026H1 日常监测：已导入 35 个单位的得分（按领域）" in page.text
        assert "表头取自工作表“日常监测”第 1 行" in page.text
        imports, scores, total = await _stored(sessionmaker)
        assert (imports, scores, total) == (1, 35 * 7, 35 * 7 * 3.0)

    async def test_a_title_row_above_the_header_is_read_past(
        self, boss: Any, sessionmaker: SessionMaker
    ) -> None:
        filled = load_workbook(io.BytesIO(_filled((await _template(boss)).content)))
        sheet = filled.worksheets[0]
        sheet.insert_rows(1)
        sheet["A1"] = "2026年上半年日常监测得分"
        sheet.merge_cells("A1:I1")
        buffer = io.BytesIO()
        filled.save(buffer)

        response = await _upload(boss, "带标题.xlsx", buffer.getvalue())

        assert response.status_code == 303, response.text
        page = await boss.get(response.headers["location"])
        assert "表头取自工作表“日常监测”第 2 行" in page.text

    async def test_a_wrong_file_is_refused_in_chinese_audited_and_changes_nothing(
        self, boss: Any, sessionmaker: SessionMaker
    ) -> None:
        assert (
            await _upload(boss, "a.xlsx", _filled((await _template(boss)).content))
        ).is_redirect
        before = await _stored(sessionmaker)
        bad = _filled((await _template(boss)).content, score=26.0)

        response = await _upload(boss, "错的.xlsx", bad)

        assert response.status_code == 422
        problems = re.findall(r"<li>(.*?)</li>", response.text.split('class="problems"')[1])
        assert len(problems) == 101  # 100 listed, the rest counted
        assert problems[0].startswith("错的.xlsx 工作表“日常监测” 第 2 行 C 列“一网通办”：")
        assert "26 超过“一网通办”的满分 25。" in problems[0]
        assert not ENGLISH.search(response.text.split("<main")[-1])
        assert await _stored(sessionmaker) == before
        [refusal] = await _audit(sessionmaker, "import.monitoring.refused")
        assert refusal.detail == {
            "file": "错的.xlsx", "problems": 101, "reason": "error.invalid_file"
        }  # fmt: skip

    async def test_an_unfilled_template_is_one_message(self, boss: Any) -> None:
        response = await _upload(boss, "空模板.xlsx", (await _template(boss)).content)

        problems = re.findall(r"<li>(.*?)</li>", response.text.split('class="problems"')[1])
        assert len(problems) == 1
        assert problems[0].startswith("模板尚未填写：空模板.xlsx 工作表“日常监测” 中 35 个单位")

    async def test_a_far_half_year_needs_the_confirmation(
        self, boss: Any, sessionmaker: SessionMaker
    ) -> None:
        content = _filled((await _template(boss)).content)

        refused = await _upload(boss, "2030.xlsx", content, period="2030H2")

        assert refused.status_code == 422
        assert "考评期间 2030H2 不在常规导入范围" in refused.text
        assert 'name="force"' in refused.text
        assert (await _stored(sessionmaker))[0] == 0
        token = re.search(r'name="csrftoken" value="([^"]+)"', refused.text)
        assert token is not None
        boss.csrf = token.group(1)
        confirmed = await _upload(boss, "2030.xlsx", content, period="2030H2", force="true")
        assert confirmed.status_code == 303, confirmed.text
        [done] = await _audit(sessionmaker, "import.monitoring")
        assert done.detail["forced"] is True
        assert len(await _audit(sessionmaker, "import.monitoring.refused")) == 1

    async def test_a_workbook_without_a_header(self, boss: Any) -> None:
        workbook = Workbook()
        workbook.active.append(["说明：本表为示例"])
        buffer = io.BytesIO()
        workbook.save(buffer)

        response = await _upload(boss, "无表头.xlsx", buffer.getvalue())

        assert response.status_code == 422
        assert "无表头.xlsx 工作表“Sheet”：在前 10 行中没有找到表头。" in response.text
