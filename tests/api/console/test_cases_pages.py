"""The 差评 case pages: the queue, one case, replies and moves, as a browser without JavaScript.

Cases are opened by the service on a real SQLite file: a 差评 on 2025-09-30 has its contact
deadline on 2025-10-09 and its 整改 deadline on 2025-10-14, long past, so it is overdue
unless a test moves its deadlines into the future.
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlmodel import col, select

from surveys.accounts import units
from surveys.accounts.access import StaffRole
from surveys.accounts.models import AuditEvent
from surveys.cases.models import CaseEvent, CaseState, FollowUpCase
from surveys.cases.service import masked_reference, open_case
from surveys.cases.workdays import DeadlinePolicy, WorkCalendar
from surveys.core.db import SessionMaker, unit_of_work
from surveys.core.models import pk
from surveys.haochaping.models import Rating, RatingSource
from surveys.questionnaire.models import Identity, Respondent
from tests.api.console.conftest import OTHER_UNIT, OWN_UNIT, Browser, add_user

S = CaseState
BEIJING = timezone(timedelta(hours=8))
RATED = datetime(2025, 9, 30, 15, tzinfo=BEIJING)
FAR = date(2099, 12, 31)
CHAT_ID = 7_700_123_456
_ids = itertools.count(1)
BrowserFor = Any  # the browser_for fixture: await browser_for("name") -> Browser


async def make_case(
    sessionmaker: SessionMaker,
    unit_code: str = OWN_UNIT,
    *,
    state: CaseState = S.pending,
    item: str = "企业开办登记",
    reasons: tuple[str, ...] = ("等候时间长",),
    comment: str | None = None,
    voice_file_id: str | None = None,
    due: date | None = None,
    opened: datetime | None = None,
) -> int:
    """A 差评 by a citizen with a chat identity, and its case opened by the service."""
    n = next(_ids)
    async with unit_of_work(sessionmaker) as session:
        unit = await units.get_unit_or_raise(session=session, code=unit_code)
        respondent = Respondent(pseudonym=pseudonym(n))
        session.add(respondent)
        await session.flush()
        identity = Identity(respondent_id=pk(respondent), channel="telegram", chat_id=CHAT_ID + n)
        session.add(identity)
        rating = Rating.model_validate(
            {
                "source": RatingSource.bot,
                "source_id": f"chat-{n}",
                "unit_id": pk(unit),
                "item_name": item,
                "channel": 2,
                "respondent_id": pk(respondent),
                "level": "dissatisfied",
                "reasons": list(reasons),
                "comment": comment,
                "voice_file_id": voice_file_id,
                "contact_ok": True,
                "period": "2025H2",
                "rated_at": RATED.astimezone(UTC),
            }
        )
        session.add(rating)
        await session.flush()
        case = await open_case(
            session=session, rating=rating, calendar=WorkCalendar(), policy=DeadlinePolicy()
        )
        assert case is not None
        case.state = state
        if due is not None:
            case.contact_due = case.rectify_due = due
        if opened is not None:
            case.opened_at = opened
        return pk(case)


def pseudonym(n: int) -> str:
    return f"hmac{n:04d}deadbeefcafe"


async def load_case(sessionmaker: SessionMaker, case_id: int) -> FollowUpCase:
    async with sessionmaker() as session:
        case = await session.get(FollowUpCase, case_id)
        assert case is not None
        return case


async def events_of(sessionmaker: SessionMaker, case_id: int) -> list[CaseEvent]:
    async with sessionmaker() as session:
        statement = select(CaseEvent).where(CaseEvent.case_id == case_id)
        return list((await session.exec(statement.order_by(col(CaseEvent.id)))).all())


async def case_audit(sessionmaker: SessionMaker) -> list[AuditEvent]:
    async with sessionmaker() as session:
        statement = select(AuditEvent).where(col(AuditEvent.action).startswith("case."))
        return list((await session.exec(statement.order_by(col(AuditEvent.id)))).all())


def case_links(html: str) -> set[int]:
    return {int(n) for n in re.findall(r'href="/console/cases/(\d+)"', html)}


def row_of(html: str, case_id: int) -> str:
    found = re.search(
        rf'<tr class="([^"]*)">\s*<td[^>]*>(?:<input [^>]*> )?<a href="/console/cases/{case_id}"',
        html,
    )
    assert found, f"no row for case {case_id}"
    return found.group(1)


@pytest.fixture
async def staff(browser_for: BrowserFor, sessionmaker: SessionMaker) -> Browser:
    await add_user(sessionmaker, "li", StaffRole.staff, [OWN_UNIT])
    browser: Browser = await browser_for("li")
    return browser


@pytest.fixture
async def viewer(browser_for: BrowserFor, sessionmaker: SessionMaker) -> Browser:
    await add_user(sessionmaker, "wang", StaffRole.viewer, [OWN_UNIT])
    browser: Browser = await browser_for("wang")
    return browser


@pytest.fixture
async def supervisor(browser_for: BrowserFor, sessionmaker: SessionMaker) -> Browser:
    await add_user(sessionmaker, "zhao", StaffRole.supervisor, [])
    browser: Browser = await browser_for("zhao")
    return browser


class TestQueue:
    async def test_shows_the_units_cases_and_never_another_units(
        self, staff: Browser, sessionmaker: SessionMaker
    ) -> None:
        own = await make_case(sessionmaker, OWN_UNIT, item="企业开办登记")
        other = await make_case(sessionmaker, OTHER_UNIT, item="低保申请")

        response = await staff.get("/console/cases")

        assert response.status_code == 200
        assert case_links(response.text) == {own}
        assert other not in case_links(response.text)
        assert "企业开办登记" in response.text
        assert "市审批服务局" in response.text
        assert "低保申请" not in response.text
        assert masked_reference(await load_case(sessionmaker, own)) in response.text
        assert "2025-10-09" in response.text
        assert "2025-10-14" in response.text
        # The unit choice offers only the actor's own units.
        assert f'value="{OWN_UNIT}"' in response.text
        assert f'value="{OTHER_UNIT}"' not in response.text

    async def test_a_city_wide_reader_sees_every_unit(
        self, supervisor: Browser, sessionmaker: SessionMaker
    ) -> None:
        own = await make_case(sessionmaker, OWN_UNIT)
        other = await make_case(sessionmaker, OTHER_UNIT)

        response = await supervisor.get("/console/cases")

        assert case_links(response.text) == {own, other}

    async def test_overdue_rows_are_highlighted(
        self, staff: Browser, sessionmaker: SessionMaker
    ) -> None:
        late = await make_case(sessionmaker)
        on_time = await make_case(sessionmaker, due=FAR)

        html = (await staff.get("/console/cases")).text

        assert "overdue" in row_of(html, late).split()
        assert "overdue" not in row_of(html, on_time).split()
        assert html.index(f"/console/cases/{late}") < html.index(f"/console/cases/{on_time}")

    async def test_filters_by_overdue_state_and_unit(
        self, supervisor: Browser, sessionmaker: SessionMaker
    ) -> None:
        late = await make_case(sessionmaker)
        on_time = await make_case(sessionmaker, due=FAR, state=S.verifying)
        other = await make_case(sessionmaker, OTHER_UNIT)

        async def shown(query: str) -> set[int]:
            response = await supervisor.get(f"/console/cases?{query}")
            assert response.status_code == 200, response.text
            return case_links(response.text)

        assert await shown("overdue=yes") == {late, other}
        assert await shown("overdue=no") == {on_time}
        assert await shown(f"state={S.verifying.value}") == {on_time}
        assert await shown(f"unit={OTHER_UNIT}") == {other}
        assert await shown(f"unit={OWN_UNIT}&overdue=yes") == {late}

    async def test_in_progress_leaves_out_closed_cases_only(
        self, supervisor: Browser, sessionmaker: SessionMaker
    ) -> None:
        waiting = await make_case(sessionmaker)
        replied = await make_case(sessionmaker, state=S.replied)
        closed = await make_case(sessionmaker, state=S.closed)

        page = await supervisor.get("/console/cases?state=open")
        assert page.status_code == 200, page.text
        assert case_links(page.text) == {waiting, replied}
        assert 'value="open" selected' in page.text
        every = await supervisor.get("/console/cases")
        assert case_links(every.text) == {waiting, replied, closed}
        # The nav opens the cases in progress; the 台账 link carries the filter.
        assert 'href="/console/cases?state=open"' in every.text
        assert "/console/cases/ledger.csv?state=open" in page.text

    async def test_filters_by_opening_date(
        self, staff: Browser, sessionmaker: SessionMaker
    ) -> None:
        march = await make_case(sessionmaker, opened=datetime(2026, 3, 10, 9, tzinfo=UTC))
        may = await make_case(sessionmaker, opened=datetime(2026, 5, 20, 9, tzinfo=UTC))

        response = await staff.get("/console/cases?opened_from=2026-03-10&opened_to=2026-04-30")
        assert case_links(response.text) == {march}
        response = await staff.get("/console/cases?opened_from=2026-05-01")
        assert case_links(response.text) == {may}

    @pytest.mark.parametrize(
        ("query", "message"),
        [
            ("unit=nosuchunit", "单位代码“nosuchunit”不存在或不在您的管辖范围内"),
            (f"unit={OTHER_UNIT}", f"单位代码“{OTHER_UNIT}”不存在或不在您的管辖范围内"),
            ("opened_from=2026-13-01", "日期“2026-13-01”格式不正确"),
            ("opened_from=2026-05-01&opened_to=2026-04-01", "开始日期晚于结束日期"),
            ("state=done", "状态“done”无效"),
            ("overdue=maybe", "逾期筛选“maybe”无效"),
            ("offset=-5", "分页参数“-5”无效"),
            ("limit=abc", "分页参数“abc”无效"),
        ],
    )
    async def test_a_bad_filter_is_explained_on_the_page(
        self, staff: Browser, sessionmaker: SessionMaker, query: str, message: str
    ) -> None:
        other = await make_case(sessionmaker, OTHER_UNIT)

        response = await staff.get(f"/console/cases?{query}")

        assert response.status_code == 422
        assert message in response.text
        assert 'role="alert"' in response.text
        assert other not in case_links(response.text)

    async def test_pages_with_previous_and_next_links(
        self, staff: Browser, sessionmaker: SessionMaker
    ) -> None:
        ids = [await make_case(sessionmaker, due=date(2099, 1, day)) for day in (1, 2, 3)]

        first = await staff.get("/console/cases?limit=2&overdue=no")
        assert case_links(first.text) == set(ids[:2])
        assert 'rel="prev"' not in first.text
        assert "共 3 件" in first.text
        next_url = re.search(r'rel="next" href="([^"]+)"', first.text)
        assert next_url is not None
        second = await staff.get(next_url.group(1).replace("&amp;", "&"))
        assert case_links(second.text) == {ids[2]}
        assert 'rel="next"' not in second.text
        assert 'rel="prev"' in second.text

    async def test_the_queue_needs_a_session(self, anonymous: Browser) -> None:
        response = await anonymous.client.get("/console/cases")

        assert response.status_code == 303
        assert response.headers["location"].startswith("/console/login")


class TestDetail:
    async def test_shows_the_rating_and_the_timeline(
        self, staff: Browser, sessionmaker: SessionMaker
    ) -> None:
        case_id = await make_case(
            sessionmaker, reasons=("等候时间长", "态度不好"), comment="窗口人员态度差"
        )

        response = await staff.get(f"/console/cases/{case_id}")

        html = response.text
        assert response.status_code == 200
        assert "市审批服务局" in html
        assert "企业开办登记" in html
        assert "不满意" in html  # the level's label
        assert "等候时间长、态度不好" in html
        assert "窗口人员态度差" in html
        assert "2025-10-09" in html
        assert "2025-10-14" in html
        assert "立案" in html
        assert "待核实" in html
        assert "已逾期" in html
        assert "语音评价" not in html

    async def test_never_shows_who_the_citizen_is(
        self, staff: Browser, sessionmaker: SessionMaker
    ) -> None:
        case_id = await make_case(sessionmaker, comment="请尽快处理")
        async with unit_of_work(sessionmaker) as session:
            case = await session.get(FollowUpCase, case_id)
            assert case is not None
            from surveys.cases.service import add_citizen_message

            await add_citizen_message(session=session, case=case, text="我又来了一趟")
            rating = await session.get(Rating, case.rating_id)
            assert rating is not None
            assert rating.respondent_id is not None
            identity = (
                await session.exec(
                    select(Identity).where(Identity.respondent_id == rating.respondent_id)
                )
            ).one()
            respondent = await session.get(Respondent, rating.respondent_id)
            assert respondent is not None
            secrets = [str(identity.chat_id), respondent.pseudonym, rating.source_id]

        pages = [
            (await staff.get(f"/console/cases/{case_id}")).text,
            (await staff.get("/console/cases")).text,
        ]

        for html in pages:
            for secret in secrets:
                assert secret not in html
        assert "我又来了一趟" in pages[0]
        assert re.search(r"<td>市民</td>\s*<td>市民留言</td>", pages[0])
        assert masked_reference(await load_case(sessionmaker, case_id)) in pages[0]

    async def test_phone_and_id_numbers_in_free_text_are_masked(
        self, staff: Browser, sessionmaker: SessionMaker
    ) -> None:
        case_id = await make_case(
            sessionmaker, comment="请回电13812345678，身份证110105199001011234"
        )

        html = (await staff.get(f"/console/cases/{case_id}")).text

        assert "138****5678" in html
        assert "110105********1234" in html
        assert "13812345678" not in html
        assert "199001011234" not in html

    async def test_a_voice_comment_is_only_mentioned(
        self, staff: Browser, sessionmaker: SessionMaker
    ) -> None:
        case_id = await make_case(sessionmaker, voice_file_id="AwACAgIAAxkBAAIBvoice")

        html = (await staff.get(f"/console/cases/{case_id}")).text

        assert "语音评价（在机器人中收听）" in html
        assert "AwACAgIAAxkBAAIBvoice" not in html
        assert "<audio" not in html

    async def test_another_units_case_is_not_found(
        self, staff: Browser, sessionmaker: SessionMaker
    ) -> None:
        other = await make_case(sessionmaker, OTHER_UNIT, item="低保申请")

        response = await staff.get(f"/console/cases/{other}")

        assert response.status_code == 404
        assert "未找到相关内容" in response.text
        assert "低保申请" not in response.text
        assert (await staff.get("/console/cases/999999")).status_code == 404
        assert (await staff.get("/console/cases/abc")).status_code == 404

    async def test_staff_see_the_forms_for_the_moves_open_to_them(
        self, staff: Browser, sessionmaker: SessionMaker
    ) -> None:
        case_id = await make_case(sessionmaker, state=S.verifying)

        html = (await staff.get(f"/console/cases/{case_id}")).text

        assert f'action="/console/cases/{case_id}/reply"' in html
        buttons = set(re.findall(r'name="to" value="([^"]+)"', html))
        assert buttons == {S.rectifying.value, S.unfounded.value, S.appealing.value}


class TestReply:
    async def test_staff_reply_is_stored_audited_and_shown(
        self, staff: Browser, sessionmaker: SessionMaker
    ) -> None:
        case_id = await make_case(sessionmaker)
        await staff.get(f"/console/cases/{case_id}")

        response = await staff.post(
            f"/console/cases/{case_id}/reply", {"text": "您好，我们已核实，将于本周内整改。"}
        )

        assert response.status_code == 303
        assert response.headers["location"] == f"/console/cases/{case_id}?done=reply"
        replies = [e for e in await events_of(sessionmaker, case_id) if e.kind == "reply"]
        text = "您好，我们已核实，将于本周内整改。"
        assert [(e.actor, e.note) for e in replies] == [("li", text)]
        [entry] = await case_audit(sessionmaker)
        assert (entry.actor, entry.action, entry.target) == ("li", "case.reply", f"case:{case_id}")
        assert entry.detail == {"event": replies[0].id}
        page = await staff.get(response.headers["location"])
        assert "答复已保存" in page.text
        assert "您好，我们已核实" in page.text

    async def test_an_empty_reply_is_refused_on_the_page(
        self, staff: Browser, sessionmaker: SessionMaker
    ) -> None:
        case_id = await make_case(sessionmaker)
        await staff.get(f"/console/cases/{case_id}")

        response = await staff.post(f"/console/cases/{case_id}/reply", {"text": "   "})

        assert response.status_code == 422
        assert "内容不能为空" in response.text
        assert [e.kind for e in await events_of(sessionmaker, case_id)] == ["opened"]
        assert await case_audit(sessionmaker) == []

    async def test_a_closed_case_takes_no_reply(
        self, staff: Browser, sessionmaker: SessionMaker
    ) -> None:
        case_id = await make_case(sessionmaker, state=S.closed)
        html = (await staff.get(f"/console/cases/{case_id}")).text
        assert "/reply" not in html

        response = await staff.post(f"/console/cases/{case_id}/reply", {"text": "补充说明"})

        assert response.status_code == 409
        assert "已关闭" in response.text
        assert await case_audit(sessionmaker) == []


class TestTransition:
    async def test_staff_move_a_case_on(self, staff: Browser, sessionmaker: SessionMaker) -> None:
        case_id = await make_case(sessionmaker)
        await staff.get(f"/console/cases/{case_id}")

        response = await staff.post(
            f"/console/cases/{case_id}/transition", {"to": S.verifying.value, "note": "已电话回访"}
        )

        assert response.status_code == 303
        assert response.headers["location"] == f"/console/cases/{case_id}?done=transition"
        assert (await load_case(sessionmaker, case_id)).state == S.verifying
        last = (await events_of(sessionmaker, case_id))[-1]
        assert (last.actor, last.kind, last.from_state, last.to_state, last.note) == (
            "li",
            "transition",
            S.pending.value,
            S.verifying.value,
            "已电话回访",
        )
        [entry] = await case_audit(sessionmaker)
        assert (entry.action, entry.target) == ("case.transition", f"case:{case_id}")
        assert entry.detail == {
            "event": last.id,
            "frm": S.pending.value,
            "to": S.verifying.value,
        }
        page = (await staff.get(response.headers["location"])).text
        assert "办理状态已更新" in page
        assert "待核实 → 核实中" in page

    async def test_a_missing_reason_is_explained_and_nothing_changes(
        self, staff: Browser, sessionmaker: SessionMaker
    ) -> None:
        case_id = await make_case(sessionmaker, state=S.verifying)
        await staff.get(f"/console/cases/{case_id}")

        response = await staff.post(
            f"/console/cases/{case_id}/transition", {"to": S.unfounded.value, "note": " "}
        )

        assert response.status_code == 422
        assert "须填写说明" in response.text
        assert (await load_case(sessionmaker, case_id)).state == S.verifying
        assert len(await events_of(sessionmaker, case_id)) == 1
        assert await case_audit(sessionmaker) == []

    @pytest.mark.parametrize("to", [S.closed.value, "done"])
    async def test_a_move_not_allowed_from_the_state_is_refused(
        self, staff: Browser, sessionmaker: SessionMaker, to: str
    ) -> None:
        case_id = await make_case(sessionmaker)
        await staff.get(f"/console/cases/{case_id}")

        response = await staff.post(f"/console/cases/{case_id}/transition", {"to": to})

        assert response.status_code == 409
        assert "不能转为" in response.text
        assert (await load_case(sessionmaker, case_id)).state == S.pending

    async def test_another_units_case_cannot_be_moved(
        self, staff: Browser, sessionmaker: SessionMaker
    ) -> None:
        other = await make_case(sessionmaker, OTHER_UNIT)
        await staff.get("/console/cases")

        moved = await staff.post(f"/console/cases/{other}/transition", {"to": S.verifying.value})
        replied = await staff.post(f"/console/cases/{other}/reply", {"text": "您好"})

        assert (moved.status_code, replied.status_code) == (404, 404)
        assert (await load_case(sessionmaker, other)).state == S.pending
        assert await case_audit(sessionmaker) == []


class TestViewer:
    async def test_sees_the_case_without_forms(
        self, viewer: Browser, sessionmaker: SessionMaker
    ) -> None:
        case_id = await make_case(sessionmaker, state=S.verifying)

        response = await viewer.get(f"/console/cases/{case_id}")

        assert response.status_code == 200
        assert "/reply" not in response.text
        assert "/transition" not in response.text
        assert 'name="to"' not in response.text

    async def test_a_post_is_forbidden(self, viewer: Browser, sessionmaker: SessionMaker) -> None:
        case_id = await make_case(sessionmaker)
        await viewer.get(f"/console/cases/{case_id}")

        replied = await viewer.post(f"/console/cases/{case_id}/reply", {"text": "您好"})
        moved = await viewer.post(
            f"/console/cases/{case_id}/transition", {"to": S.verifying.value, "note": "x"}
        )
        bogus = await viewer.post(f"/console/cases/{case_id}/transition", {"to": "done"})

        assert (replied.status_code, moved.status_code, bogus.status_code) == (403, 403, 403)
        assert [e.kind for e in await events_of(sessionmaker, case_id)] == ["opened"]
        assert await case_audit(sessionmaker) == []


class TestAppeal:
    async def test_a_supervisor_decides_an_appeal(
        self, supervisor: Browser, sessionmaker: SessionMaker
    ) -> None:
        case_id = await make_case(sessionmaker, state=S.appealing)

        html = (await supervisor.get(f"/console/cases/{case_id}")).text
        buttons = set(re.findall(r'name="to" value="([^"]+)"', html))
        response = await supervisor.post(
            f"/console/cases/{case_id}/transition",
            {"to": S.appeal_upheld.value, "note": "经核查，差评与办件无关"},
        )

        assert buttons == {S.appeal_upheld.value, S.appeal_rejected.value}
        assert "申诉裁定" in html
        assert "/reply" not in html  # replies are the unit's staff's
        assert response.status_code == 303
        case = await load_case(sessionmaker, case_id)
        assert case.state == S.appeal_upheld
        async with sessionmaker() as session:
            rating = await session.get(Rating, case.rating_id)
            assert rating is not None
            assert rating.excluded
        [entry] = await case_audit(sessionmaker)
        assert (entry.actor, entry.role, entry.action) == ("zhao", "supervisor", "case.transition")

    async def test_a_supervisor_does_not_do_the_units_work(
        self, supervisor: Browser, sessionmaker: SessionMaker
    ) -> None:
        case_id = await make_case(sessionmaker)
        await supervisor.get(f"/console/cases/{case_id}")

        response = await supervisor.post(
            f"/console/cases/{case_id}/transition", {"to": S.verifying.value}
        )

        assert response.status_code == 403
        assert (await load_case(sessionmaker, case_id)).state == S.pending

    async def test_staff_cannot_decide_an_appeal(
        self, staff: Browser, sessionmaker: SessionMaker
    ) -> None:
        case_id = await make_case(sessionmaker, state=S.appealing)

        html = (await staff.get(f"/console/cases/{case_id}")).text
        response = await staff.post(
            f"/console/cases/{case_id}/transition", {"to": S.appeal_upheld.value, "note": "x"}
        )

        assert 'name="to"' not in html
        assert "申诉裁定" not in html
        assert response.status_code == 403
        assert (await load_case(sessionmaker, case_id)).state == S.appealing
        assert await case_audit(sessionmaker) == []
