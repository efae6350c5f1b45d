"""The results page: tables and chart containers, free-text search, exports by permission."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from openpyxl import load_workbook  # type: ignore[import-untyped]
from sqlmodel import select

from surveys.accounts import units
from surveys.accounts.access import StaffRole
from surveys.accounts.models import AuditEvent
from surveys.core.db import SessionMaker, unit_of_work
from surveys.core.models import pk
from surveys.questionnaire import catalog
from tests.api.console.conftest import OTHER_UNIT, OWN_UNIT, add_user
from tests.surveys.questionnaire.test_results import CODE, FORMULA, add_response, definition


@pytest.fixture
async def ids(app: Any, sessionmaker: SessionMaker) -> dict[str, int]:
    async with unit_of_work(sessionmaker) as session:
        by_code = {u.code: pk(u) for u in await units.list_units(session=session)}
        version = (
            await catalog.load_survey(session=session, definition=definition(), source="t")
        ).version
        await add_response(
            session,
            version,
            by_code[OWN_UNIT],
            {"sat": "satisfied", "pick": "a", "note": "请联系 13812345678"},
        )
        await add_response(
            session, version, by_code[OWN_UNIT], {"sat": "neutral", "note": FORMULA}
        )
        await add_response(
            session, version, by_code[OTHER_UNIT], {"sat": "very_satisfied", "note": "外单位"}
        )
    for role in (StaffRole.staff, StaffRole.viewer):
        await add_user(sessionmaker, f"u-{role.value}", role, [OWN_UNIT])
    await add_user(sessionmaker, "u-admin", StaffRole.admin, [])
    return {"own": by_code[OWN_UNIT], "other": by_code[OTHER_UNIT]}


def chart_data(html: str) -> list[dict[str, Any]]:
    found = re.search(r'<script type="application/json" id="results-data">(.*?)</script>', html)
    assert found
    data: list[dict[str, Any]] = json.loads(found.group(1))
    return data


class TestResultsPage:
    async def test_tables_charts_and_masked_text(self, browser_for: Any, ids: Any) -> None:
        browser = await browser_for("u-staff")

        response = await browser.get(f"/console/results?survey={CODE}")

        assert response.status_code == 200
        html = response.text
        assert 'id="chart-q-sat"' in html
        assert 'id="chart-q-pick"' in html
        assert 'id="chart-q-note"' not in html  # text questions have no chart
        assert '<script src="/static/vendor/echarts.min.js"></script>' in html
        assert "<table" in html  # the numbers without JavaScript
        assert "满意度均分 62.5" in html  # (75 + 50) / 2
        sat = next(c for c in chart_data(html) if c["id"] == "chart-q-sat")
        assert sat["counts"] == [0, 1, 1, 0, 0]
        assert sat["labels"][0] == "非常满意"
        assert "138****5678" in html
        assert "13812345678" not in html
        assert "外单位" not in html
        assert "/console/results/export?" in html

    async def test_defaults_to_the_newest_survey(self, browser_for: Any, ids: Any) -> None:
        browser = await browser_for("u-viewer")

        response = await browser.get("/console/results")

        assert response.status_code == 200
        assert 'id="chart-q-sat"' in response.text
        assert "/console/results/export?" not in response.text  # viewers may not export

    async def test_unit_choice_lists_own_units_only(self, browser_for: Any, ids: Any) -> None:
        browser = await browser_for("u-staff")

        html = (await browser.get("/console/results")).text

        assert f'<option value="{ids["own"]}"' in html
        assert f'<option value="{ids["other"]}"' not in html

    async def test_other_unit_is_404(self, browser_for: Any, ids: Any) -> None:
        browser = await browser_for("u-staff")

        response = await browser.get(f"/console/results?unit_id={ids['other']}")

        assert response.status_code == 404

    async def test_admin_filters_by_unit(self, browser_for: Any, ids: Any) -> None:
        browser = await browser_for("u-admin")

        html = (await browser.get(f"/console/results?unit_id={ids['other']}")).text

        assert "外单位" in html
        assert "请联系" not in html

    async def test_search_free_text(self, browser_for: Any, ids: Any) -> None:
        browser = await browser_for("u-staff")

        html = (await browser.get(f"/console/results?survey={CODE}&q=联系")).text

        assert "请联系 138****5678" in html
        assert "HYPERLINK" not in html
        assert "共 1 条" in html

    async def test_without_surveys_shows_a_notice(
        self, browser_for: Any, sessionmaker: SessionMaker
    ) -> None:
        await add_user(sessionmaker, "u-empty", StaffRole.viewer, [])
        browser = await browser_for("u-empty")

        response = await browser.get("/console/results")

        assert response.status_code == 200
        assert "还没有调查" in response.text

    async def test_anonymous_goes_to_sign_in(self, anonymous: Any) -> None:
        response = await anonymous.get("/console/results")

        assert response.status_code == 303
        assert response.headers["location"].startswith("/console/login")


class TestExport:
    async def test_csv_escaped_and_audited(
        self, browser_for: Any, ids: Any, sessionmaker: SessionMaker
    ) -> None:
        browser = await browser_for("u-staff")

        response = await browser.get(f"/console/results/export?survey={CODE}&fmt=csv")

        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert "attachment" in response.headers["content-disposition"]
        text = response.content.decode("utf-8-sig")
        assert "'" + FORMULA.replace('"', '""') in text
        assert "13812345678" not in text
        assert "外单位" not in text
        async with unit_of_work(sessionmaker) as session:
            events = (
                await session.exec(select(AuditEvent).where(AuditEvent.action == "export.results"))
            ).all()
        assert [(e.actor, e.target, e.detail["fmt"]) for e in events] == [("u-staff", CODE, "csv")]

    async def test_xlsx(self, browser_for: Any, ids: Any) -> None:
        browser = await browser_for("u-staff")

        response = await browser.get(f"/console/results/export?survey={CODE}&fmt=xlsx")

        assert response.status_code == 200
        book = load_workbook(io.BytesIO(response.content))
        values = [c.value for row in book["文字意见"].iter_rows() for c in row]
        assert "'" + FORMULA in values

    async def test_viewer_cannot_export(self, browser_for: Any, ids: Any) -> None:
        browser = await browser_for("u-viewer")

        response = await browser.get(f"/console/results/export?survey={CODE}&fmt=csv")

        assert response.status_code == 403

    async def test_other_unit_and_bad_format(self, browser_for: Any, ids: Any) -> None:
        browser = await browser_for("u-staff")

        other = await browser.get(f"/console/results/export?unit_id={ids['other']}")
        bad = await browser.get("/console/results/export?fmt=pdf")

        assert other.status_code == 404
        assert bad.status_code == 422


async def test_without_a_choice_the_latest_half_years_survey_is_shown(
    app: Any, sessionmaker: SessionMaker, browser_for: Any
) -> None:
    from datetime import date

    from scoring.demo import survey as demo
    from surveys.accounts.access import StaffRole
    from surveys.core.db import unit_of_work
    from surveys.questionnaire import catalog
    from tests.api.console.conftest import add_user

    async with unit_of_work(sessionmaker) as session:
        # Loaded newest first, so neither load order nor code order can pick it by luck.
        for day in (date(2026, 8, 1), date(2026, 3, 1)):
            definition = demo.demo_survey(day)
            await catalog.load_survey(session=session, definition=definition, source="demo")
    await add_user(sessionmaker, "boss", StaffRole.admin, [])
    browser = await browser_for("boss")
    page = await browser.get("/console/results")
    assert page.status_code == 200
    assert '<option value="szzf-2026h2" selected>' in page.text
