"""Results exports and the integrations' pushes: each flow writes one audit row with ids
and counts (never exported text, rows or comments); a refused call leaves none."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.access import Actor, Forbidden, StaffRole
from surveys.accounts.models import AuditEvent
from surveys.cases import workdays
from surveys.cases.models import FollowUpCase
from surveys.core.exceptions import NotFound, UnknownUnit
from surveys.core.settings import Settings
from surveys.flows import exports
from surveys.flows import integrations as push_flows
from surveys.flows.registry import FLOWS, Adapter
from surveys.haochaping.models import Rating, ServiceEvent
from surveys.haochaping.service_events import ServiceEventIn
from tests.surveys.questionnaire.test_results import CODE, World, world

__all__ = ["world"]  # the fixture, shared with the results tests

NOW = datetime(2026, 5, 20, 2, 0, tzinfo=UTC)


async def _audit(session: AsyncSession) -> list[AuditEvent]:
    return list((await session.exec(select(AuditEvent).order_by(AuditEvent.id))).all())


async def _count(session: AsyncSession, model: type[Any]) -> int:
    return len((await session.exec(select(model))).all())


class TestRegister:
    def test_adapters(self) -> None:
        assert FLOWS["export.results"].adapters == frozenset({Adapter.console})
        assert FLOWS["ratings.push"].adapters == frozenset({Adapter.api})
        assert FLOWS["service_event.push"].adapters == frozenset({Adapter.api})


class TestExportResults:
    async def test_one_audit_row_without_the_text(
        self, session: AsyncSession, world: World
    ) -> None:
        file = await exports.export_results(
            session=session, actor=world.staff, survey=CODE, period="2026H1", fmt="csv"
        )

        assert file.name == f"results-{CODE}-2026H1.csv"
        assert file.media_type.startswith("text/csv")
        assert "13812345678" not in file.body.decode("utf-8-sig")
        [event] = await _audit(session)
        assert (event.action, event.actor, event.target) == ("export.results", "s", CODE)
        assert event.detail == {
            "fmt": "csv",
            "unit_id": None,
            "period": "2026H1",
            "channel": None,
            "size": len(file.body),
        }

    async def test_without_a_survey_the_latest_one(
        self, session: AsyncSession, world: World
    ) -> None:
        file = await exports.export_results(
            session=session, actor=world.staff, survey=None, unit_id=world.own, fmt="xlsx"
        )

        assert file.name == f"results-{CODE}.xlsx"
        [event] = await _audit(session)
        assert (event.target, event.detail["unit_id"]) == (CODE, world.own)

    async def test_a_viewer_is_refused(self, session: AsyncSession, world: World) -> None:
        with pytest.raises(Forbidden):
            await exports.export_results(session=session, actor=world.viewer, survey=CODE)

        assert await _audit(session) == []

    async def test_another_unit_is_not_found(self, session: AsyncSession, world: World) -> None:
        with pytest.raises(NotFound):
            await exports.export_results(
                session=session, actor=world.staff, survey=CODE, unit_id=world.other
            )

        assert await _audit(session) == []


def _token(world: World) -> Actor:
    return Actor(name="hall", role=StaffRole.staff, units=frozenset({world.own}))


def _rating(source_id: str, unit: str, level: str, **more: Any) -> dict[str, object]:
    return {
        "source_id": source_id,
        "unit": unit,
        "level": level,
        "channel": 1,
        "rated_at": "2026-05-20T09:00:00+08:00",
        **more,
    }


class TestPushRatings:
    async def _push(
        self, session: AsyncSession, settings: Settings, actor: Actor, rows: list[Any]
    ) -> Any:
        return await push_flows.push_ratings(
            session=session, actor=actor, rows=rows, tz=settings.tz, now=NOW,
            grace_days=15, policy=workdays.policy_from(settings),
        )  # fmt: skip

    async def test_one_audit_row_of_counts(
        self, session: AsyncSession, settings: Settings, world: World
    ) -> None:
        rows = [
            _rating("r1", "spj", "very_satisfied", comment="电话 13812345678"),
            _rating("r2", "spj", "dissatisfied", reasons=["态度差"]),
            _rating("r3", "kundulun", "satisfied"),  # not this token's unit
            {"source_id": "r4"},  # invalid
        ]
        await self._push(session, settings, _token(world), rows)
        await self._push(session, settings, _token(world), rows[:1])  # a retry

        events = await _audit(session)
        assert [(e.action, e.actor, e.target) for e in events] == [
            ("ratings.push", "hall", None),
            ("ratings.push", "hall", None),
        ]
        assert [e.detail for e in events] == [
            {"rows": 4, "created": 2, "duplicates": 0, "refused": 2, "cases_opened": 1},
            {"rows": 1, "created": 0, "duplicates": 1, "refused": 0, "cases_opened": 0},
        ]
        assert "13812345678" not in str([e.detail for e in events])

    async def test_a_viewer_pushes_nothing(
        self, session: AsyncSession, settings: Settings, world: World
    ) -> None:
        with pytest.raises(Forbidden):
            await self._push(session, settings, world.viewer, [_rating("r1", "spj", "satisfied")])

        assert await _audit(session) == []
        assert (await _count(session, Rating), await _count(session, FollowUpCase)) == (0, 0)


def _event(case_no: str, unit: str, link: str) -> ServiceEventIn:
    return ServiceEventIn(
        case_no=case_no, item_code="I1", item_name="营业执照", unit=unit, channel=1,
        finished_at=datetime(2026, 5, 20, 9, 0, tzinfo=UTC), link_token=link,
    )  # fmt: skip


class TestPushServiceEvent:
    async def test_one_audit_row_per_request(self, session: AsyncSession, world: World) -> None:
        first, created = await push_flows.push_service_event(
            session=session, actor=_token(world), item=_event("BJ-1", "spj", "link-0001")
        )
        again, created_again = await push_flows.push_service_event(
            session=session, actor=_token(world), item=_event("BJ-1", "spj", "link-0001")
        )

        assert (created, created_again, again.id) == (True, False, first.id)
        events = await _audit(session)
        assert [(e.action, e.target, e.detail) for e in events] == [
            ("service_event.push", "BJ-1", {"event_id": first.id, "created": True}),
            ("service_event.push", "BJ-1", {"event_id": first.id, "created": False}),
        ]

    async def test_refusals_leave_no_row(self, session: AsyncSession, world: World) -> None:
        with pytest.raises(UnknownUnit):
            await push_flows.push_service_event(
                session=session, actor=_token(world), item=_event("BJ-2", "kundulun", "link-0002")
            )
        with pytest.raises(Forbidden):
            await push_flows.push_service_event(
                session=session, actor=world.viewer, item=_event("BJ-3", "spj", "link-0003")
            )

        assert await _audit(session) == []
        assert await _count(session, ServiceEvent) == 0
