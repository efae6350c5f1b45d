"""Finished 办件 pushed by service systems: one event per 办件编号, only for the token's unit."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError
from sqlmodel import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.models import ApiToken, Unit, UnitKind
from surveys.accounts.tokens import actor_for_token, create_token
from surveys.core.db import SessionMaker, unit_of_work
from surveys.core.exceptions import UnknownUnit
from surveys.haochaping import service_events
from surveys.haochaping.models import ServiceEvent
from surveys.haochaping.service_events import (
    LinkTokenTaken,
    ServiceEventIn,
    get_event,
    get_event_by_link_token,
    receive_event,
)


def payload(**fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "case_no": "BJ-2026-0001",
        "item_code": "11150200MB1234567X",
        "item_name": "不动产登记",
        "unit": "kundulun",
        "window": "W07",
        "staff": "S-0042",
        "channel": 4,
        "finished_at": "2026-03-02T09:30:00+08:00",
        "link_token": "Ab3_x-9Z",
    }
    data.update(fields)
    return data


def event_in(**fields: Any) -> ServiceEventIn:
    return ServiceEventIn.model_validate(payload(**fields))


@pytest.fixture
async def units(session: AsyncSession) -> dict[str, Unit]:
    rows = [
        Unit(code="kundulun", name="昆都仑区", kind=UnitKind.district),
        Unit(code="qingshan", name="青山区", kind=UnitKind.district),
        Unit(code="old", name="撤并单位", kind=UnitKind.department, active=False),
    ]
    session.add_all(rows)
    await session.flush()
    return {unit.code: unit for unit in rows}


@pytest.fixture
async def token(session: AsyncSession) -> ApiToken:
    return (await create_token(session=session, name="全市审批系统", unit=None))[0]


async def bound_token(session: AsyncSession, unit: Unit) -> ApiToken:
    return (await create_token(session=session, name=f"{unit.code}-大厅", unit=unit))[0]


async def count(session: AsyncSession) -> int:
    return (await session.exec(select(func.count()).select_from(ServiceEvent))).one()


class TestServiceEventIn:
    def test_staff_is_accepted_and_dropped(self) -> None:
        item = event_in(staff="张三")

        assert "staff" not in item.model_dump()

    @pytest.mark.parametrize(
        ("fields", "field"),
        [
            ({"case_no": ""}, "case_no"),
            ({"item_code": ""}, "item_code"),
            ({"item_name": "x" * 201}, "item_name"),
            ({"unit": ""}, "unit"),
            ({"channel": 0}, "channel"),
            ({"channel": 8}, "channel"),
            ({"finished_at": "2026-03-02T09:30:00"}, "finished_at"),
            ({"link_token": "short"}, "link_token"),
            ({"link_token": "x" * 65}, "link_token"),
            ({"link_token": "x" * 63}, "link_token"),  # r_ + 63 > Telegram's 64
            ({"link_token": "has space1"}, "link_token"),
            ({"link_token": "链接码链接码链接码"}, "link_token"),
            ({"phone": "13800000000"}, "phone"),
        ],
    )
    def test_refuses_a_bad_field(self, fields: dict[str, Any], field: str) -> None:
        with pytest.raises(ValidationError) as caught:
            event_in(**fields)

        assert [e["loc"] for e in caught.value.errors()] == [(field,)]

    def test_the_longest_link_token_makes_a_64_character_deep_link(self) -> None:
        token = "x" * 62

        assert len(f"r_{event_in(link_token=token).link_token}") == 64

    def test_a_link_token_too_long_for_a_deep_link_is_refused_saying_why(self) -> None:
        with pytest.raises(ValidationError) as caught:
            event_in(link_token="x" * 63)

        [error] = caught.value.errors()
        assert "8-62 characters" in error["msg"]
        assert "(got 63)" in error["msg"]
        assert "Telegram's 64 characters" in error["msg"]

    def test_window_and_staff_are_optional(self) -> None:
        data = payload()
        del data["window"], data["staff"]

        assert ServiceEventIn.model_validate(data).window is None


class TestReceiveEvent:
    async def test_stores_a_new_event(
        self, session: AsyncSession, units: dict[str, Unit], token: ApiToken
    ) -> None:
        event, created = await receive_event(
            session=session, item=event_in(), actor=actor_for_token(token, None)
        )

        assert created is True
        assert event.id is not None
        assert (event.case_no, event.item_code, event.item_name) == (
            "BJ-2026-0001", "11150200MB1234567X", "不动产登记",
        )  # fmt: skip
        assert (event.unit_id, event.window_code, event.channel) == (
            units["kundulun"].id,
            "W07",
            4,
        )
        assert event.finished_at == datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
        assert (event.link_token, event.token_id) == ("Ab3_x-9Z", token.id)
        assert event.respondent_id is None

    async def test_nothing_about_staff_is_stored(
        self, session: AsyncSession, units: dict[str, Unit], token: ApiToken
    ) -> None:
        event, _ = await receive_event(
            session=session, item=event_in(staff="S-0042"), actor=actor_for_token(token, None)
        )

        assert "S-0042" not in {str(value) for value in event.model_dump().values()}

    async def test_the_same_case_no_twice_stores_one(
        self, session: AsyncSession, units: dict[str, Unit], token: ApiToken
    ) -> None:
        first, _ = await receive_event(
            session=session, item=event_in(), actor=actor_for_token(token, None)
        )

        again, created = await receive_event(
            session=session,
            item=event_in(item_name="改了名", link_token="another-1"),
            actor=actor_for_token(token, None),
        )

        assert (again.id, created) == (first.id, False)
        assert again.item_name == "不动产登记"
        assert await count(session) == 1

    async def test_a_unit_bound_token_pushes_for_its_unit(
        self, session: AsyncSession, units: dict[str, Unit]
    ) -> None:
        token = await bound_token(session, units["kundulun"])

        _, created = await receive_event(
            session=session, item=event_in(), actor=actor_for_token(token, None)
        )

        assert created is True

    @pytest.mark.parametrize("code", ["kundulun", "nowhere"])
    async def test_another_unit_is_refused_as_an_unknown_one(
        self, session: AsyncSession, units: dict[str, Unit], code: str
    ) -> None:
        token = await bound_token(session, units["qingshan"])

        with pytest.raises(UnknownUnit) as caught:
            await receive_event(
                session=session, item=event_in(unit=code), actor=actor_for_token(token, None)
            )

        assert (caught.value.key, caught.value.status_code) == ("error.unknown_unit", 404)
        assert caught.value.params == {"code": code}
        assert await count(session) == 0

    async def test_a_case_no_of_another_unit_is_a_new_event_of_this_unit(
        self, session: AsyncSession, units: dict[str, Unit], token: ApiToken
    ) -> None:
        theirs, _ = await receive_event(
            session=session, item=event_in(), actor=actor_for_token(token, None)
        )
        qingshan = await bound_token(session, units["qingshan"])

        ours, created = await receive_event(
            session=session,
            item=event_in(unit="qingshan", item_name="户籍办理", link_token="another-1"),
            actor=actor_for_token(qingshan, None),
        )

        assert created is True
        assert ours.id != theirs.id
        assert (ours.case_no, ours.unit_id, ours.item_name) == (
            "BJ-2026-0001", units["qingshan"].id, "户籍办理",
        )  # fmt: skip
        assert theirs.item_name == "不动产登记"
        assert await count(session) == 2

    async def test_a_retry_after_another_units_case_returns_its_own(
        self, session: AsyncSession, units: dict[str, Unit], token: ApiToken
    ) -> None:
        actor = actor_for_token(token, None)
        await receive_event(session=session, item=event_in(), actor=actor)
        first, _ = await receive_event(
            session=session, item=event_in(unit="qingshan", link_token="another-1"), actor=actor
        )

        again, created = await receive_event(
            session=session, item=event_in(unit="qingshan", link_token="another-2"), actor=actor
        )

        assert (again.id, created) == (first.id, False)
        assert await count(session) == 2

    @pytest.mark.parametrize("code", ["nowhere", "old"])
    async def test_an_unknown_or_inactive_unit_is_refused(
        self, session: AsyncSession, units: dict[str, Unit], token: ApiToken, code: str
    ) -> None:
        with pytest.raises(UnknownUnit) as caught:
            await receive_event(
                session=session, item=event_in(unit=code), actor=actor_for_token(token, None)
            )

        assert caught.value.params == {"code": code}
        assert await count(session) == 0

    async def test_a_link_token_of_another_case_is_refused(
        self, session: AsyncSession, units: dict[str, Unit], token: ApiToken
    ) -> None:
        await receive_event(session=session, item=event_in(), actor=actor_for_token(token, None))

        with pytest.raises(LinkTokenTaken) as caught:
            await receive_event(
                session=session, item=event_in(case_no="BJ-2"), actor=actor_for_token(token, None)
            )

        assert (caught.value.key, caught.value.status_code) == ("error.link_token_taken", 409)
        assert await count(session) == 1

    async def test_a_link_token_clash_says_the_same_whoever_holds_it(
        self, session: AsyncSession, units: dict[str, Unit], token: ApiToken
    ) -> None:
        actor = actor_for_token(token, None)
        await receive_event(session=session, item=event_in(), actor=actor)
        refusals = []
        for unit in ("kundulun", "qingshan"):
            with pytest.raises(LinkTokenTaken) as caught:
                await receive_event(
                    session=session, item=event_in(case_no="BJ-2", unit=unit), actor=actor
                )
            refusals.append((caught.value.key, caught.value.status_code, caught.value.params))

        assert refusals[0] == refusals[1] == ("error.link_token_taken", 409, {})
        assert await count(session) == 1


class TestRacingPushes:
    """A push whose checks ran before another push of the same 办件 was stored.

    SQLite lets one writer in at a time, so here the lost race is played by a check that
    misses the stored row; tests/postgres runs two pushes at once for real.
    """

    @staticmethod
    def miss_once(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
        real = getattr(service_events, name)
        missed: list[bool] = []

        async def stale(**kwargs: Any) -> ServiceEvent | None:
            if not missed:
                missed.append(True)
                return None
            return await real(**kwargs)

        monkeypatch.setattr(service_events, name, stale)

    async def test_the_second_push_of_a_new_case_answers_as_a_repeat(
        self,
        sessionmaker: SessionMaker,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        async with unit_of_work(sessionmaker) as session:
            session.add(Unit(code="kundulun", name="昆都仑区", kind=UnitKind.district))
            token = (await create_token(session=session, name="系统", unit=None))[0]
        actor = actor_for_token(token, None)
        async with unit_of_work(sessionmaker) as session:
            first, _ = await receive_event(session=session, item=event_in(), actor=actor)
        # Both checks ran before the first push was stored.
        self.miss_once(monkeypatch, "get_event")
        self.miss_once(monkeypatch, "get_event_by_link_token")

        async with unit_of_work(sessionmaker) as session:
            again, created = await receive_event(
                session=session, item=event_in(item_name="改了名"), actor=actor
            )

        assert (again.id, again.item_name, created) == (first.id, "不动产登记", False)
        async with sessionmaker() as session:
            assert await count(session) == 1

    async def test_a_racing_push_of_its_link_token_for_another_case_is_refused(
        self,
        session: AsyncSession,
        units: dict[str, Unit],
        token: ApiToken,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        actor = actor_for_token(token, None)
        await receive_event(session=session, item=event_in(), actor=actor)
        self.miss_once(monkeypatch, "get_event_by_link_token")

        with pytest.raises(LinkTokenTaken):
            await receive_event(session=session, item=event_in(case_no="BJ-2"), actor=actor)

        assert await count(session) == 1


class TestLookups:
    async def test_by_case_no_and_by_link_token(
        self, session: AsyncSession, units: dict[str, Unit], token: ApiToken
    ) -> None:
        event, _ = await receive_event(
            session=session, item=event_in(), actor=actor_for_token(token, None)
        )

        kundulun, qingshan = units["kundulun"].id, units["qingshan"].id
        assert kundulun is not None
        assert qingshan is not None
        found = await get_event(session=session, unit_id=kundulun, case_no="BJ-2026-0001")
        assert found is event
        assert await get_event_by_link_token(session=session, link_token="Ab3_x-9Z") is event
        assert await get_event(session=session, unit_id=kundulun, case_no="nope") is None
        assert await get_event(session=session, unit_id=qingshan, case_no="BJ-2026-0001") is None
        assert await get_event_by_link_token(session=session, link_token="nope-nope") is None
