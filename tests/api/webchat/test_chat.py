"""The web chat's survey pages through real form posts, as a phone without JavaScript
would send them, and as htmx sends them."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select

from surveys.core.clock import today
from surveys.core.db import SessionMaker, unit_of_work
from surveys.core.settings import Settings
from surveys.questionnaire.models import (
    Answer,
    Respondent,
    Response,
    ResponseStatus,
    SurveyVersion,
)
from tests.api.webchat.conftest import Citizen, CitizenFactory

UNIT = "市审批服务局"
HTMX = {"HX-Request": "true"}


async def start(citizen: Citizen, code: str, unit: str | None = None) -> None:
    url = f"/c/s/{code}" + (f"/{unit}" if unit else "")
    page = await citizen.get(url, follow_redirects=True)
    assert page.status_code == 200, page.text
    if unit is None:
        await citizen.pick(UNIT)


async def short_path(citizen: Citizen) -> None:
    """Not used any service in six months: the questions for everyone, and no suggestion."""
    await citizen.pick("近六个月未办理过")
    await citizen.act("done")
    await citizen.pick("满意")  # city governance
    await citizen.pick("基本满意")  # data protection
    await citizen.pick("30岁以下")
    await citizen.act("skip")


async def responses(sessionmaker: SessionMaker) -> list[Response]:
    async with sessionmaker() as session:
        return list((await session.exec(select(Response))).all())


async def answers(sessionmaker: SessionMaker) -> dict[str, Answer]:
    async with sessionmaker() as session:
        rows = (await session.exec(select(Answer).order_by(col(Answer.id)))).all()
    return {row.question_key: row for row in rows}


class TestHome:
    async def test_lists_the_open_survey_with_its_link(self, citizen: Citizen, code: str) -> None:
        page = await citizen.get("/c/")

        assert page.status_code == 200
        assert f'href="/c/s/{code}"' in page.text
        assert "数字政府建设满意度调查" in page.text
        assert '<html lang="zh-Hans">' in page.text

    async def test_a_first_visit_gets_no_citizen_cookie_yet(self, citizen: Citizen) -> None:
        page = await citizen.get("/c/")

        assert "minyi_citizen" not in page.headers.get("set-cookie", "")


class TestBegin:
    async def test_without_a_unit_asks_for_one(self, citizen: Citizen, code: str) -> None:
        page = await citizen.get(f"/c/s/{code}")

        assert page.status_code == 303
        assert page.headers["location"] == "/c/chat"
        cookie = page.headers.get_list("set-cookie")
        assert any(c.startswith("minyi_citizen=") and "HttpOnly" in c for c in cookie)
        assert any("SameSite=lax" in c or "samesite=lax" in c.lower() for c in cookie)
        page = await citizen.get("/c/chat")
        assert "请选择您要评价的地区或部门" in page.text
        assert "本调查用于了解您对包头市数字政府建设" in page.text  # the introduction, once

        again = await citizen.get("/c/chat")
        assert "本调查用于了解" not in again.text

    async def test_with_a_unit_starts_at_the_first_question(
        self, citizen: Citizen, code: str
    ) -> None:
        await start(citizen, code, "spj")

        assert "您通过哪些渠道办理过政务服务" in citizen.page.text  # type: ignore[union-attr]
        assert "第 1 题，共约" in citizen.page.text  # type: ignore[union-attr]
        assert "本问卷评价：市审批服务局" in citizen.page.text  # type: ignore[union-attr]

    async def test_opening_the_link_again_resumes_saying_so(
        self, citizen: Citizen, code: str
    ) -> None:
        await start(citizen, code, "spj")
        await citizen.pick("蒙速办APP")
        await citizen.act("done")

        page = await citizen.get(f"/c/s/{code}/spj", follow_redirects=True)

        assert "继续上次的问卷，已答 1 题" in page.text
        assert "您通过哪些渠道办理过政务服务" not in page.text.split("继续上次的问卷")[1]

    async def test_unknown_survey_is_a_404_naming_it(self, citizen: Citizen) -> None:
        page = await citizen.get("/c/s/no-such-survey")

        assert page.status_code == 404
        assert "no-such-survey" in page.text
        assert "未找到该调查" in page.text
        assert "/surveys" not in page.text  # a bot command means nothing here

    async def test_unknown_unit_is_a_404_naming_it(self, citizen: Citizen, code: str) -> None:
        page = await citizen.get(f"/c/s/{code}/nowhere")

        assert page.status_code == 404
        assert "nowhere" in page.text

    async def test_an_unknown_page_is_a_404_page(self, citizen: Citizen) -> None:
        page = await citizen.get("/c/nothing/here/at/all")

        assert page.status_code == 404
        assert "没有这个页面" in page.text

    async def test_closed_survey_is_refused(
        self, citizen: Citizen, code: str, sessionmaker: SessionMaker, settings: Settings
    ) -> None:
        async with unit_of_work(sessionmaker) as session:
            version = (await session.exec(select(SurveyVersion))).one()
            version.closes_on = today(settings.tz) - timedelta(days=1)
            session.add(version)

        page = await citizen.get(f"/c/s/{code}")

        assert page.status_code == 409
        assert "不在开放时间内" in page.text


class TestAnswering:
    async def test_short_path_to_the_end(
        self, citizen: Citizen, code: str, sessionmaker: SessionMaker
    ) -> None:
        await start(citizen, code)
        await short_path(citizen)

        page = citizen.page
        assert page is not None
        assert str(page.url).endswith("/c/thanks")
        assert "问卷已完成" in page.text
        (response,) = await responses(sessionmaker)
        assert response.status == ResponseStatus.completed
        stored = await answers(sessionmaker)
        assert stored["channels"].choices == ["none"]
        assert stored["suggestion"].skipped
        assert "overall" not in stored

    async def test_long_path_with_ticks_scale_and_text(
        self, citizen: Citizen, code: str, sessionmaker: SessionMaker
    ) -> None:
        await start(citizen, code)
        page = await citizen.pick("蒙速办APP")
        assert 'aria-pressed="true"' in page.text  # ticked, same question
        await citizen.act("done")
        await citizen.pick("不满意")
        await citizen.pick("办理时间长")
        await citizen.act("done")
        await citizen.pick("满意")  # online experience
        await citizen.pick("1次")
        await citizen.pick("8")  # recommend, 0–10
        await citizen.pick("满意")
        await citizen.pick("满意")
        await citizen.pick("60岁及以上")
        await citizen.pick("非常满意")  # elderly services
        page = await citizen.act("text", text="  窗口再多开几个  ")

        assert "问卷已完成" in page.text
        stored = await answers(sessionmaker)
        assert stored["dissatisfied_reasons"].choices == ["slow"]
        assert stored["recommend"].number == 8
        assert stored["suggestion"].text == "窗口再多开几个"

    async def test_a_refused_answer_says_why_and_stays(self, citizen: Citizen, code: str) -> None:
        await start(citizen, code)

        page = await citizen.act("done")  # nothing ticked

        assert page.status_code == 200
        assert "您通过哪些渠道办理过政务服务" in page.text
        assert 'class="bubble notice"' in page.text

    async def test_reload_resumes_at_the_same_question(
        self, citizen_for: CitizenFactory, code: str
    ) -> None:
        citizen = await citizen_for()
        await start(citizen, code)
        await citizen.pick("近六个月未办理过")
        await citizen.act("done")

        page = await citizen.get("/c/chat")
        again = await citizen.get("/c/chat")

        assert "城市治理" in page.text
        assert "城市治理" in again.text

    async def test_the_answer_just_given_shows_as_a_bubble(
        self, citizen: Citizen, code: str
    ) -> None:
        await start(citizen, code)

        page = await citizen.pick("蒙速办APP")
        page = await citizen.act("done")

        assert '<p class="bubble me">' in page.text
        assert "蒙速办APP" in page.text


class TestRefusals:
    async def test_stale_form_is_a_409_showing_the_current_question(
        self, citizen: Citizen, code: str
    ) -> None:
        await start(citizen, code)
        old = citizen.form()
        await citizen.pick("近六个月未办理过")
        await citizen.act("done")

        page = await citizen.client.post("/c/chat", data={**old, "act": "pick", "i": "0"})

        assert page.status_code == 409
        assert "该按钮已失效" in page.text
        assert "城市治理" in page.text

    async def test_another_version_is_stale(self, citizen: Citizen, code: str) -> None:
        await start(citizen, code)
        form = {**citizen.form(), "v": "999", "act": "pick", "i": "0"}

        page = await citizen.client.post("/c/chat", data=form)

        assert page.status_code == 409
        assert "该按钮已失效" in page.text

    async def test_posting_without_a_survey_in_progress(self, citizen: Citizen) -> None:
        page = await citizen.client.post("/c/chat", data={"v": "1", "p": "1", "act": "skip"})

        assert page.status_code == 409
        assert "没有进行中的调查" in page.text

    async def test_malformed_posts_are_400_in_chinese(
        self, citizen: Citizen, code: str, sessionmaker: SessionMaker
    ) -> None:
        await start(citizen, code, "spj")
        bad = [
            {},
            {"v": "x", "p": "1", "act": "pick", "i": "0"},
            {"v": "1", "p": "1", "act": "jump"},
            {"v": "1", "p": "1", "act": "pick"},
            {"v": "1", "p": "-1", "act": "pick", "i": "0"},
            {"v": "1", "p": "1", "act": "pick", "i": "99999999999999"},
            {"v": "1", "act": "text", "text": "好" * 5000},
        ]
        for data in bad:
            page = await citizen.client.post("/c/chat", data=data)
            assert page.status_code == 400, data
            assert "提交的内容无法识别" in page.text
        page = await citizen.client.post(
            "/c/chat", content=b"\xff\xfe", headers={"content-type": "multipart/form-data"}
        )
        assert page.status_code == 400
        assert await answers(sessionmaker) == {}

    async def test_an_option_out_of_range_changes_nothing(
        self, citizen: Citizen, code: str, sessionmaker: SessionMaker
    ) -> None:
        await start(citizen, code, "spj")

        page = await citizen.act("pick", i=42)

        assert page.status_code == 409
        assert await answers(sessionmaker) == {}


class TestOnce:
    async def test_the_same_cookie_cannot_answer_twice(
        self, citizen_for: CitizenFactory, code: str, sessionmaker: SessionMaker
    ) -> None:
        citizen = await citizen_for()
        await start(citizen, code)
        await short_path(citizen)

        page = await citizen.get(f"/c/s/{code}")

        assert page.status_code == 409
        assert "每人每期限答一次" in page.text

        other = await citizen_for()
        await start(other, code)
        assert len(await responses(sessionmaker)) == 2

    async def test_a_forged_cookie_is_a_new_citizen(
        self, citizen_for: CitizenFactory, code: str, sessionmaker: SessionMaker
    ) -> None:
        citizen = await citizen_for()
        await start(citizen, code)
        await short_path(citizen)
        real = citizen.client.cookies["minyi_citizen"]
        forged = await citizen_for()
        forged.client.cookies.set("minyi_citizen", real[:-3] + "abc", path="/c")

        page = await forged.get(f"/c/s/{code}", follow_redirects=True)

        assert page.status_code == 200
        assert "请选择您要评价的地区或部门" in page.text
        assert len(await responses(sessionmaker)) == 2


class TestHtmx:
    async def test_an_htmx_answer_gets_the_fragment(self, citizen: Citizen, code: str) -> None:
        await start(citizen, code, "spj")
        form = {**citizen.form(), "act": "pick", "i": "5"}

        page = await citizen.client.post("/c/chat", data=form, headers=HTMX)

        assert page.status_code == 200
        assert page.text.lstrip().startswith('<div id="chat"')
        assert "<html" not in page.text
        assert 'aria-pressed="true"' in page.text

    async def test_the_last_htmx_answer_redirects_to_the_thanks(
        self, citizen: Citizen, code: str
    ) -> None:
        await start(citizen, code, "spj")
        await citizen.pick("近六个月未办理过")
        await citizen.act("done")
        await citizen.pick("满意")
        await citizen.pick("满意")
        await citizen.pick("30岁以下")
        form = {**citizen.form(), "act": "skip"}

        page = await citizen.client.post("/c/chat", data=form, headers=HTMX)

        assert page.headers["HX-Redirect"] == "/c/thanks"


class TestLanguageAndCare:
    async def test_english_from_accept_language(
        self, citizen_for: CitizenFactory, code: str
    ) -> None:
        citizen = await citizen_for(**{"Accept-Language": "en-GB,en;q=0.9,zh;q=0.5"})

        page = await citizen.get("/c/")
        await start(citizen, code, "spj")

        assert '<html lang="en">' in page.text
        assert "Open surveys" in page.text
        assert "Question 1 of about" in citizen.page.text  # type: ignore[union-attr]

    async def test_switching_to_english_and_back(self, citizen: Citizen, code: str) -> None:
        await start(citizen, code, "spj")

        page = await citizen.client.post(
            "/c/prefs", data={"lang": "en", "next": "/c/chat"}, follow_redirects=True
        )

        assert str(page.url).endswith("/c/chat")
        assert "Question 1 of about" in page.text
        page = await citizen.client.post(
            "/c/prefs", data={"lang": "zh_Hans", "next": "/c/chat"}, follow_redirects=True
        )
        assert "第 1 题" in page.text

    async def test_care_mode_is_remembered(self, citizen: Citizen) -> None:
        page = await citizen.client.post(
            "/c/prefs", data={"care": "1", "next": "/c/"}, follow_redirects=True
        )

        assert '<body class="care">' in page.text
        assert '<body class="care">' in (await citizen.get("/c/")).text
        page = await citizen.client.post(
            "/c/prefs", data={"care": "0", "next": "/c/"}, follow_redirects=True
        )
        assert '<body class="standard">' in page.text

    async def test_care_mode_shows_one_question_without_the_transcript(
        self, citizen: Citizen, code: str
    ) -> None:
        await citizen.client.post("/c/prefs", data={"care": "1", "next": "/c/"})
        await start(citizen, code, "spj")

        await citizen.pick("蒙速办APP")
        page = await citizen.act("done")

        assert 'class="transcript"' not in page.text
        assert "<fieldset>" in page.text

    async def test_prefs_never_send_the_citizen_elsewhere(self, citizen: Citizen) -> None:
        for target in ("https://evil.example/", "//evil.example/c/", "/console/users"):
            page = await citizen.client.post("/c/prefs", data={"care": "1", "next": target})
            assert page.status_code == 303
            assert page.headers["location"] == "/c/"

    async def test_a_bad_prefs_cookie_is_ignored(self, citizen: Citizen) -> None:
        citizen.client.cookies.set("minyi_prefs", "xx.9<script>", path="/c")

        page = await citizen.get("/c/")

        assert page.status_code == 200
        assert '<body class="standard">' in page.text


class TestWithTheEngine:
    async def test_the_transcript_survives_a_reload(self, citizen: Citizen, code: str) -> None:
        await start(citizen, code)
        await citizen.pick("近六个月未办理过")
        await citizen.act("done")
        await citizen.pick("满意")

        page = await citizen.get("/c/chat")

        assert page.text.count('<p class="bubble me">') == 3  # unit, channels, governance
        assert UNIT in page.text
        assert "近六个月未办理过" in page.text

    async def test_going_back_and_changing_an_answer(
        self, citizen: Citizen, code: str, sessionmaker: SessionMaker
    ) -> None:
        await start(citizen, code, "spj")
        await citizen.pick("近六个月未办理过")
        page = await citizen.act("done")
        assert "返回上一题" in page.text

        page = await citizen.act("back")

        assert "您通过哪些渠道办理过政务服务" in page.text
        await citizen.pick("近六个月未办理过")  # untick
        await citizen.pick("政府网站")
        page = await citizen.act("done")
        assert "总体来看" in page.text
        assert (await answers(sessionmaker))["channels"].choices == ["web"]

    async def test_web_answers_and_preferences_are_recorded(
        self, citizen: Citizen, code: str, sessionmaker: SessionMaker
    ) -> None:
        await citizen.client.post("/c/prefs", data={"care": "1", "lang": "en", "next": "/c/"})
        await start(citizen, code, "spj")

        (response,) = await responses(sessionmaker)
        async with sessionmaker() as session:
            respondent = await session.get_one(Respondent, response.respondent_id)
        assert response.channel == "web"
        assert respondent.care_mode
        assert respondent.language == "en"
