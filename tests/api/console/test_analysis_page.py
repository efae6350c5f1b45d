"""The per-事项 analysis page (seed 004 item 17) and its download, as a browser without
JavaScript: 事项 and windows by 差评率, top reasons masked, a 12-month trend, audited export."""

from __future__ import annotations

import csv
import io
import itertools
import re
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import openpyxl  # type: ignore[import-untyped]
import pytest
from sqlmodel import col, select

from surveys.accounts import units
from surveys.accounts.access import StaffRole
from surveys.accounts.models import AuditEvent
from surveys.core.db import SessionMaker, unit_of_work
from surveys.core.models import pk
from surveys.haochaping.analysis import month_span, sparkline
from surveys.haochaping.models import Rating, RatingSource
from tests.api.console.conftest import OTHER_UNIT, OWN_UNIT, Browser, add_user

BEIJING = timezone(timedelta(hours=8))
PERIOD = "2026H2"
PHONE = "13812345678"
BrowserFor = Any
_ids = itertools.count(1)

# (事项 code, name, window, level, reasons, local time); 企业开办 has 2 差评 of 3, 社保卡 1 of 4.
RATINGS = [
    ("A100", "企业开办登记", "W01", "very_dissatisfied", ["等候时间长", "态度差"], (10, 9)),
    ("A100", "企业开办登记", "W01", "dissatisfied", ["等候时间长"], (10, 20)),
    ("A100", "企业开办登记", "W01", "satisfied", [], (11, 3)),
    ("B200", "社保卡办理", "W02", "dissatisfied", [f"请回电{PHONE}"], (11, 4)),
    ("B200", "社保卡办理", "W02", "satisfied", [], (11, 5)),
    ("B200", "社保卡办理", "W02", "very_satisfied", [], (11, 6)),
    ("B200", "社保卡办理", "W02", "neutral", [], (11, 7)),
]


async def add_rating(
    sessionmaker: SessionMaker,
    unit_code: str,
    item: str,
    name: str,
    window: str,
    level: str,
    reasons: list[str],
    month_day: tuple[int, int],
    **extra: Any,
) -> None:
    async with unit_of_work(sessionmaker) as session:
        unit = await units.get_unit_or_raise(session=session, code=unit_code)
        at = datetime(2026, *month_day, 10, tzinfo=BEIJING).astimezone(UTC)
        session.add(
            Rating.model_validate(
                {
                    "source": RatingSource.api,
                    "source_id": f"an-{next(_ids)}",
                    "unit_id": pk(unit),
                    "item_code": item,
                    "item_name": name,
                    "window_code": window,
                    "channel": 4,
                    "level": level,
                    "reasons": reasons,
                    "period": PERIOD,
                    "rated_at": at,
                    **extra,
                }
            )  # fmt: skip
        )


@pytest.fixture
async def rated(sessionmaker: SessionMaker) -> None:
    for row in RATINGS:
        await add_rating(sessionmaker, OWN_UNIT, *row)
    # Not counted: a 系统默认评价 and an upheld 申诉; and another unit's.
    await add_rating(sessionmaker, OWN_UNIT, "B200", "社保卡办理", "W02", "dissatisfied", [],
                     (11, 8), is_default=True)  # fmt: skip
    await add_rating(sessionmaker, OWN_UNIT, "B200", "社保卡办理", "W02", "dissatisfied", [],
                     (11, 9), excluded=True)  # fmt: skip
    await add_rating(sessionmaker, OTHER_UNIT, "C300", "不动产登记", "W09", "dissatisfied",
                     ["另一单位"], (11, 9))  # fmt: skip


@pytest.fixture
async def staff(browser_for: BrowserFor, sessionmaker: SessionMaker) -> Browser:
    await add_user(sessionmaker, "li", StaffRole.staff, [OWN_UNIT])
    browser: Browser = await browser_for("li")
    return browser


def table(html: str, kind: str) -> str:
    found = re.search(rf'<table class="grid analysis" id="analysis-{kind}">(.*?)</table>\s*</div>',
                      html, re.S)  # fmt: skip
    assert found, kind
    return found.group(1)


def codes(html: str, kind: str) -> list[str]:
    return re.findall(r'<tr data-code="([^"]*)">', table(html, kind))


async def analysis_audits(sessionmaker: SessionMaker) -> list[AuditEvent]:
    async with sessionmaker() as session:
        statement = select(AuditEvent).where(AuditEvent.action == "export.analysis")
        return list((await session.exec(statement.order_by(col(AuditEvent.id)))).all())


class TestAnalysisPage:
    async def test_items_and_windows_by_bad_rate_with_reasons(
        self, staff: Browser, rated: None
    ) -> None:
        page = await staff.get(f"/console/analysis?period={PERIOD}")
        assert page.status_code == 200, page.text
        html = page.text
        assert codes(html, "item") == ["A100", "B200"]
        assert codes(html, "window") == ["W01", "W02"]
        items = table(html, "item")
        assert "企业开办登记" in items
        assert "66.67%" in items
        assert "25.00%" in items
        assert "等候时间长（2）" in items
        assert "态度差（1）" in items
        assert "请回电138****5678（1）" in items
        assert PHONE not in html
        assert "不动产登记" not in html  # another unit's

    async def test_the_trend_has_twelve_months_with_the_counts(
        self, staff: Browser, rated: None
    ) -> None:
        html = (await staff.get(f"/console/analysis?period={PERIOD}")).text
        row = table(html, "item").split('<tr data-code="B200">')[0]
        months = re.findall(r"<tr><td>(\d{4}-\d{2})</td>", row)
        assert len(months) == 12
        assert "2026-10" in months
        assert "2026-11" in months
        october = re.search(
            r'<tr><td>2026-10</td><td class="num">(\d+)</td><td class="num">(\d+)</td>', row
        )
        assert october
        assert october.groups() == ("2", "2")

    async def test_the_nav_links_the_page(self, staff: Browser) -> None:
        html = (await staff.get("/console/dashboard")).text
        assert 'href="/console/analysis"' in html

    async def test_another_units_analysis_is_not_found(self, staff: Browser, rated: None) -> None:
        assert (await staff.get(f"/console/analysis?unit={OTHER_UNIT}")).status_code == 404
        html = (await staff.get("/console/analysis")).text
        assert f'<option value="{OWN_UNIT}" selected>' in html
        assert f'value="{OTHER_UNIT}"' not in html

    async def test_tables_scroll_in_their_own_box(self, staff: Browser, rated: None) -> None:
        html = (await staff.get("/console/analysis")).text
        assert html.count('<div class="scroll-box">') == 2
        assert '<link rel="stylesheet" href="/static/analysis.css">' in html


class TestAnalysisExport:
    async def test_xlsx_sheets_headers_and_audit(
        self, staff: Browser, sessionmaker: SessionMaker, rated: None
    ) -> None:
        response = await staff.get(f"/console/analysis/export?period={PERIOD}&fmt=xlsx")
        assert response.status_code == 200, response.text
        book = openpyxl.load_workbook(io.BytesIO(response.content))
        assert book.sheetnames == ["事项与窗口", "月度趋势"]
        summary = list(book["事项与窗口"].iter_rows(values_only=True))
        assert summary[0] == (
            "类别",
            "编码",
            "事项名称",
            "评价数",
            "差评数",
            "差评率",
            "主要差评原因",
        )
        assert [row[1] for row in summary[1:]] == ["A100", "B200", "W01", "W02"]
        assert summary[1][3:6] == (3, 2, 0.6667)
        assert book["事项与窗口"].freeze_panes == "A2"
        assert len(list(book["月度趋势"].iter_rows())) == 1 + 4 * 12
        (audit,) = await analysis_audits(sessionmaker)
        assert (audit.actor, audit.target) == ("li", OWN_UNIT)
        assert audit.detail == {"fmt": "xlsx", "period": PERIOD, "rows": 4 + 4 * 12}

    async def test_csv_is_masked(self, staff: Browser, rated: None) -> None:
        response = await staff.get("/console/analysis/export?fmt=csv")
        text = response.content.decode("utf-8-sig")
        assert PHONE not in text
        assert "138****5678" in text
        assert next(csv.reader(io.StringIO(text)))[0] == "类别"

    async def test_a_viewer_sees_the_page_but_may_not_export(
        self, browser_for: BrowserFor, sessionmaker: SessionMaker, rated: None
    ) -> None:
        await add_user(sessionmaker, "wang", StaffRole.viewer, [OWN_UNIT])
        viewer = await browser_for("wang")
        page = await viewer.get("/console/analysis")
        assert page.status_code == 200
        assert "/console/analysis/export" not in page.text
        assert (await viewer.get("/console/analysis/export")).status_code == 403
        assert await analysis_audits(sessionmaker) == []


class TestMonths:
    def test_twelve_months_to_the_end_of_the_period(self) -> None:
        assert month_span("2026H1", date(2026, 11, 30)) == [
            f"{y}-{m:02d}" for y, m in [(2025, 7), (2025, 8), (2025, 9), (2025, 10),
                                        (2025, 11), (2025, 12)] + [(2026, n) for n in range(1, 7)]
        ]  # fmt: skip

    def test_never_past_today(self) -> None:
        assert month_span("2026H2", date(2026, 9, 2))[-1] == "2026-09"
        assert month_span(None, date(2026, 1, 15))[0] == "2025-02"

    def test_sparkline(self) -> None:
        assert sparkline([None, 0.0, 0.5, 1.0]) == " ▁▄█"
        assert sparkline([0.0, 0.0]) == "▁▁"
