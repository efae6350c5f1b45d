"""The console's results page filters by channel and shows the responses per channel."""

from __future__ import annotations

import html
from typing import Any

from scoring.demo import survey as demo
from surveys.accounts.access import StaffRole
from surveys.core.db import SessionMaker, unit_of_work
from surveys.core.i18n import Translator
from surveys.questionnaire import catalog, respondents
from tests.api.console.conftest import add_user
from tests.surveys.test_channel_parity import TODAY, answer_all

t = Translator()


async def seed(sessionmaker: SessionMaker) -> str:
    definition = demo.demo_survey(TODAY)
    async with unit_of_work(sessionmaker) as session:
        await catalog.load_survey(session=session, definition=definition, source="demo")
        for n, channel in enumerate(("telegram", "web", "web")):
            me = await respondents.get_or_create_respondent(
                session=session, secret=b"s", channel=channel, external_id=n
            )
            await answer_all(session, me, definition.code, channel)
    return definition.code


class TestChannelFilter:
    async def test_counts_by_channel_and_the_web_alone(
        self, sessionmaker: SessionMaker, browser_for: Any
    ) -> None:
        code = await seed(sessionmaker)
        await add_user(sessionmaker, "chief", StaffRole.admin, [])
        chief = await browser_for("chief")

        both = await chief.get(f"/console/results?survey={code}")
        web = await chief.get(f"/console/results?survey={code}&channel=web")

        assert both.status_code == web.status_code == 200
        counts = (
            f"{t('console.results.channel_telegram')} 1 · {t('console.results.channel_web')} 2"
        )
        assert counts in html.unescape(both.text)
        assert t("console.results.summary", version=1, responses=3) in html.unescape(both.text)
        assert t("console.results.summary", version=1, responses=2) in html.unescape(web.text)
        assert '<option value="web" selected>' in web.text

    async def test_an_unknown_channel_is_a_clear_refusal(
        self, sessionmaker: SessionMaker, browser_for: Any
    ) -> None:
        code = await seed(sessionmaker)
        await add_user(sessionmaker, "chief", StaffRole.admin, [])
        chief = await browser_for("chief")

        page = await chief.get(f"/console/results?survey={code}&channel=fax")

        assert page.status_code == 404

    async def test_the_download_follows_the_channel_shown(
        self, sessionmaker: SessionMaker, browser_for: Any
    ) -> None:
        code = await seed(sessionmaker)
        await add_user(sessionmaker, "chief", StaffRole.admin, [])
        chief = await browser_for("chief")

        page = await chief.get(f"/console/results?survey={code}&channel=web")
        link = html.unescape(page.text).split('href="/console/results/export?')[1].split('"')[0]
        web = await chief.get(f"/console/results/export?{link}")
        both = await chief.get(f"/console/results/export?survey={code}&fmt=csv")

        assert "channel=web" in link
        assert web.status_code == both.status_code == 200
        app_row = next(line for line in web.text.splitlines() if ",app,蒙速办APP," in line)
        all_row = next(line for line in both.text.splitlines() if ",app,蒙速办APP," in line)
        assert app_row.split(",")[6:9] == ["2", "100.0", "2"]  # the two web responses
        assert all_row.split(",")[6:9] == ["3", "100.0", "3"]
