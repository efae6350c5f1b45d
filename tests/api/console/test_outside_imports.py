"""The console's outside 民意 import as the office uses it: on the 考评结果 page, download the
template, fill in the units the source covered, upload it with its 来源 and 方法说明; a wrong
file or a missing note refused in Chinese, audited, nothing stored; the history lists each
source with its note, the superseded one kept."""

from __future__ import annotations

import html
import io
import re
from typing import Any
from urllib.parse import unquote

import pytest
from fastapi import FastAPI
from openpyxl import load_workbook  # type: ignore[import-untyped]
from sqlmodel import col, func, select

from scoring.models import OutsideImport, OutsideScore
from surveys.accounts.access import StaffRole
from surveys.accounts.models import AuditEvent
from surveys.core.db import SessionMaker
from tests.api.console.conftest import OWN_UNIT, add_user

PERIOD = "2026H1"
NOTE = "蒙速办“好差评”满意度，2026年1—6月，按办事人计"
ENGLISH = re.compile(r"\b(missing|column|row|line|invalid|unknown|not a|above|below)\b", re.I)


@pytest.fixture
async def boss(app: FastAPI, sessionmaker: SessionMaker, browser_for: Any) -> Any:
    await add_user(sessionmaker, "boss", StaffRole.admin, [])
    browser = await browser_for("boss")
    await browser.get("/console/scoring")
    return browser


async def _stored(sessionmaker: SessionMaker) -> tuple[int, int]:
    async with sessionmaker() as session:
        imports = (await session.exec(select(func.count()).select_from(OutsideImport))).one()
        scores = (await session.exec(select(func.count()).select_from(OutsideScore))).one()
    return int(imports), int(scores)


async def _audit(sessionmaker: SessionMaker, action: str) -> list[AuditEvent]:
    async with sessionmaker() as session:
        statement = select(AuditEvent).where(AuditEvent.action == action)
        return list((await session.exec(statement.order_by(col(AuditEvent.id)))).all())


async def _template(browser: Any, fmt: str = "xlsx") -> Any:
    return await browser.client.get(f"/console/scoring/outside/template?fmt={fmt}")


def _filled(template: bytes, units: int, score: float = 88.0, n: int = 400) -> bytes:
    """The template with the first ``units`` units filled in (the others not covered)."""
    workbook = load_workbook(io.BytesIO(template))
    sheet = workbook.worksheets[0]
    for row in range(3, 3 + units):
        sheet.cell(row=row, column=3, value=score)
        sheet.cell(row=row, column=4, value=n)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


async def _upload(browser: Any, name: str, content: bytes, **form: str) -> Any:
    data = {"period": PERIOD, "source": "蒙速办满意度", "note": NOTE, **form}
    return await browser.post("/console/scoring/outside", data, files={"file": (name, content)})


def _history(page: str) -> list[list[str]]:
    table = page.split('class="grid outside-imports"')[1].split("</table>")[0]
    rows = re.findall(r"<tr data-import.*?</tr>", table, re.S)
    return [[html.unescape(c.strip()) for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)]
            for r in rows]  # fmt: skip


class TestPage:
    async def test_the_form_and_the_template_link(self, boss: Any) -> None:
        page = await boss.get("/console/scoring")

        form = page.text.split('action="/console/scoring/outside"')[1].split("</form>")[0]
        for name in ("period", "source", "note", "file"):
            assert f'name="{name}"' in form
        assert 'href="/console/scoring/outside/template"' in form
        assert "尚未导入外部民意结果。" in page.text

    async def test_the_template_lists_every_unit_below_an_example(self, boss: Any) -> None:
        response = await _template(boss)

        assert response.status_code == 200
        disposition = response.headers["content-disposition"]
        assert unquote(disposition.split("''")[1]) == "外部民意导入模板.xlsx"
        sheet = load_workbook(io.BytesIO(response.content)).worksheets[0]
        assert sheet.title == "外部民意"
        assert sheet["A2"].value == "示例"
        assert sheet.max_row == 37  # header, example and the 35 demo units

    async def test_unit_staff_may_neither_download_nor_upload(
        self, app: FastAPI, sessionmaker: SessionMaker, browser_for: Any, boss: Any
    ) -> None:
        content = _filled((await _template(boss)).content, 2)
        await add_user(sessionmaker, "li", StaffRole.staff, [OWN_UNIT])
        browser = await browser_for("li")
        await browser.get("/console")

        assert (await _template(browser)).status_code == 403
        assert (await _upload(browser, "x.xlsx", content)).status_code == 403
        assert await _stored(sessionmaker) == (0, 0)


class TestUpload:
    async def test_the_filled_template_imports_and_shows_in_the_history(
        self, boss: Any, sessionmaker: SessionMaker
    ) -> None:
        content = _filled((await _template(boss)).content, 3)

        response = await _upload(boss, "蒙速办.xlsx", content)

        assert response.status_code == 303, response.text
        done = await boss.get(response.headers["location"])
        assert "2026H1 外部民意“蒙速办满意度”：已导入 3 个单位的得分和样本量" in done.text
        assert "表头取自工作表“外部民意”第 1 行" in done.text
        assert await _stored(sessionmaker) == (1, 3)
        [event] = await _audit(sessionmaker, "import.outside")
        assert (event.target, event.detail["rows"]) == ("2026H1 蒙速办满意度", 3)
        page = await boss.get(f"/console/scoring?period={PERIOD}")
        assert _history(page.text) == [
            [
                "2026年上半年",
                "蒙速办满意度",
                NOTE,
                "蒙速办.xlsx",
                "3",
                _history(page.text)[0][5],
                "当前有效",
            ]  # fmt: skip
        ]

    async def test_again_supersedes_and_another_source_stands_beside(
        self, boss: Any, sessionmaker: SessionMaker
    ) -> None:
        template = (await _template(boss)).content
        assert (await _upload(boss, "a.xlsx", _filled(template, 3))).status_code == 303
        assert (await _upload(boss, "b.xlsx", _filled(template, 5, 70))).status_code == 303
        other = await _upload(boss, "c.xlsx", _filled(template, 2, 90, 1200),
                              source="北疆民意调查中心", note="入户问卷")  # fmt: skip
        assert other.status_code == 303

        page = await boss.get(f"/console/scoring?period={PERIOD}")

        lines = [(row[1], row[3], row[4], row[6]) for row in _history(page.text)]
        assert lines == [
            ("北疆民意调查中心", "c.xlsx", "2", "当前有效"),
            ("蒙速办满意度", "b.xlsx", "5", "当前有效"),
            ("蒙速办满意度", "a.xlsx", "3", "已被替换"),
        ]
        assert await _stored(sessionmaker) == (3, 10)

    async def test_a_wrong_file_is_refused_in_chinese_audited_and_changes_nothing(
        self, boss: Any, sessionmaker: SessionMaker
    ) -> None:
        content = _filled((await _template(boss)).content, 3, score=100.5, n=0)

        response = await _upload(boss, "错的.xlsx", content)

        assert response.status_code == 422
        problems = re.findall(r"<li>(.*?)</li>", response.text.split('class="problems"')[1])
        assert len(problems) == 6  # score and n of three rows
        assert html.unescape(problems[0]) == (
            "错的.xlsx 工作表“外部民意” 第 3 行 C 列“得分”：得分 100.5 超出范围，"
            "应为 0 至 100 之间的数字。"
        )
        assert "第 3 行 D 列“样本量”：样本量 0 小于 1" in html.unescape(problems[1])
        assert not ENGLISH.search(response.text.split("<main")[-1])
        assert NOTE in html.unescape(response.text)  # kept in the form to correct and resend
        assert await _stored(sessionmaker) == (0, 0)
        [refusal] = await _audit(sessionmaker, "import.outside.refused")
        assert refusal.detail == {"file": "错的.xlsx", "problems": 6,
                                  "reason": "error.invalid_file"}  # fmt: skip

    async def test_a_missing_method_note_is_refused(
        self, boss: Any, sessionmaker: SessionMaker
    ) -> None:
        content = _filled((await _template(boss)).content, 1)

        response = await _upload(boss, "a.xlsx", content, note="  ")

        assert response.status_code == 422
        assert "方法说明必须填写，长度 1 至 2000 个字（现为 0 个字）" in response.text
        assert await _stored(sessionmaker) == (0, 0)
        [refusal] = await _audit(sessionmaker, "import.outside.refused")
        assert refusal.detail["reason"] == "outside.invalid_note"

    async def test_a_far_half_year_needs_the_confirmation(
        self, boss: Any, sessionmaker: SessionMaker
    ) -> None:
        content = _filled((await _template(boss)).content, 1)

        refused = await _upload(boss, "2030.xlsx", content, period="2030H2")

        assert refused.status_code == 422
        assert "考评期间 2030H2 不在常规导入范围" in refused.text
        assert 'name="force"' in refused.text
        token = re.search(r'name="csrftoken" value="([^"]+)"', refused.text)
        assert token is not None
        boss.csrf = token.group(1)
        confirmed = await _upload(boss, "2030.xlsx", content, period="2030H2", force="true")
        assert confirmed.status_code == 303, confirmed.text
        [done] = await _audit(sessionmaker, "import.outside")
        assert done.detail["forced"] is True
