"""The scoring flows: each writes exactly one audit row; a forbidden call writes none, a
refused import its ``import.monitoring.refused`` row."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from scoring import feedback_sheet, flows, service
from scoring.exceptions import UnknownComponent
from scoring.method import load_method
from scoring.models import Component, MonitoringImport
from surveys.accounts.access import Actor, Forbidden, StaffRole
from surveys.accounts.models import AuditEvent, Unit, UnitKind
from surveys.core.exceptions import InvalidFile, NotFound
from surveys.core.models import pk
from surveys.flows.registry import FLOWS, Adapter
from surveys.questionnaire.definitions import Level

from .helpers import NOW, TZ, add_ratings, add_unit, import_totals

PERIOD = "2026H1"
ADMIN = Actor(name="boss", role=StaffRole.admin, units=None, address="10.0.0.1")
SETUP = service.Setup(
    method=load_method(), tz=TZ, computed_at=datetime(2026, 7, 15, 1, 0, tzinfo=UTC)
)
TOTALS = "单位编码,单位名称,总分\na,东河区,80\nb,青山区,70\nc,市医保局,90\n".encode()


async def _seed(session: AsyncSession) -> list[Unit]:
    units = [
        await add_unit(session, "a", "东河区", UnitKind.district),
        await add_unit(session, "b", "青山区", UnitKind.district),
        await add_unit(session, "c", "市医保局", UnitKind.department),
    ]
    for unit in units:
        await add_ratings(session, unit, PERIOD, {Level.very_satisfied: 3, Level.neutral: 1})
    for component in (Component.monitoring, Component.field):
        await import_totals(session, PERIOD, component, {"a": 80, "b": 70, "c": 90})
    return units


async def _audit(session: AsyncSession) -> list[AuditEvent]:
    return list((await session.exec(select(AuditEvent).order_by(AuditEvent.id))).all())


def _staff(unit: Unit) -> Actor:
    return Actor(name="li", role=StaffRole.staff, units=frozenset({pk(unit)}))


VIEWER = Actor(name="v", role=StaffRole.viewer, units=None)


class TestRegister:
    def test_the_scoring_flows_and_their_adapters(self) -> None:
        both = frozenset({Adapter.console, Adapter.cli})
        for action in ("import.monitoring", "export.scores", "export.feedback"):
            assert FLOWS[action].adapters == both


class TestImportMonitoring:
    async def test_one_audit_row_with_counts(self, session: AsyncSession) -> None:
        await _seed(session)

        imported = await flows.import_monitoring(
            session=session, actor=ADMIN, file_name="daily.csv", content=TOTALS,
            period=PERIOD, component="third", now=NOW,
        )  # fmt: skip

        stored = imported.stored
        assert stored.component == Component.third_party
        assert stored.imported_by == "boss"
        [event] = await _audit(session)
        assert (event.action, event.actor, event.target) == (
            "import.monitoring",
            "boss",
            f"{PERIOD} 第三方评估",
        )
        assert event.detail == {"import_id": pk(stored), "rows": 3, "sha256": stored.sha256}
        assert event.address == "10.0.0.1"

    @pytest.mark.parametrize("actor", [VIEWER, Actor("s", StaffRole.supervisor, None)])
    async def test_only_administrators(self, session: AsyncSession, actor: Actor) -> None:
        await _seed(session)
        before = len((await session.exec(select(MonitoringImport))).all())

        with pytest.raises(Forbidden):
            await flows.import_monitoring(
                session=session, actor=actor, file_name="x.csv", content=TOTALS,
                period=PERIOD, component="日常监测", now=NOW,
            )  # fmt: skip

        assert await _audit(session) == []
        assert len((await session.exec(select(MonitoringImport))).all()) == before

    async def test_a_bad_file_or_component_is_audited_as_refused(
        self, session: AsyncSession
    ) -> None:
        await _seed(session)
        with pytest.raises(InvalidFile):
            await flows.import_monitoring(
                session=session, actor=ADMIN, file_name="x.csv",
                content="单位编码,单位名称,总分\nnowhere,?,80\n".encode(), period=PERIOD,
                component="日常监测", now=NOW,
            )  # fmt: skip
        with pytest.raises(UnknownComponent):
            await flows.import_monitoring(
                session=session, actor=ADMIN, file_name="x.csv", content=TOTALS,
                period=PERIOD, component="民意调查", now=NOW,
            )  # fmt: skip
        events = await _audit(session)
        assert [(e.action, e.target) for e in events] == [
            ("import.monitoring.refused", f"{PERIOD} 日常监测"),
            ("import.monitoring.refused", f"{PERIOD} 民意调查"),
        ]
        assert events[0].detail == {
            "file": "x.csv", "problems": 2, "reason": "error.invalid_file"
        }  # fmt: skip


class TestExportScores:
    async def test_one_audit_row_for_the_half_year(self, session: AsyncSession) -> None:
        await _seed(session)

        report = await flows.export_scores(
            session=session, actor=ADMIN, period=PERIOD, formats=["csv", "xlsx", "csv"],
            setup=SETUP,
        )  # fmt: skip

        assert report.scope == PERIOD
        [event] = await _audit(session)
        assert (event.action, event.target) == ("export.scores", PERIOD)
        assert event.detail == {"formats": ["csv", "xlsx"], "fingerprint": report.fingerprint}

    async def test_a_year(self, session: AsyncSession) -> None:
        await _seed(session)

        report = await flows.export_scores(
            session=session, actor=ADMIN, year="2026", formats=["json"], setup=SETUP
        )

        assert report.periods == ("2026H1", "2026H2")
        assert [(e.action, e.target) for e in await _audit(session)] == [("export.scores", "2026")]

    async def test_unit_staff_are_refused(self, session: AsyncSession) -> None:
        units = await _seed(session)

        with pytest.raises(Forbidden):
            await flows.export_scores(
                session=session, actor=_staff(units[0]), period=PERIOD, formats=["csv"],
                setup=SETUP,
            )  # fmt: skip

        assert await _audit(session) == []


class TestExportFeedback:
    async def test_own_unit_one_audit_row(self, session: AsyncSession) -> None:
        units = await _seed(session)

        sheet = await flows.export_feedback(
            session=session, actor=_staff(units[0]), unit_code="a", period=PERIOD, setup=SETUP
        )

        assert sheet.unit.code == "a"
        [event] = await _audit(session)
        assert (event.action, event.actor, event.target, event.detail) == (
            "export.feedback",
            "li",
            f"a {PERIOD}",
            {},
        )

    async def test_another_units_sheet_is_not_found_and_not_audited(
        self, session: AsyncSession
    ) -> None:
        units = await _seed(session)

        with pytest.raises(NotFound):
            await flows.export_feedback(
                session=session, actor=_staff(units[0]), unit_code="b", period=PERIOD,
                setup=SETUP,
            )  # fmt: skip

        assert await _audit(session) == []

    async def test_the_units_of_a_run(self, session: AsyncSession) -> None:
        units = await _seed(session)

        everyone = await feedback_sheet.sheet_units(session=session, actor=ADMIN)
        mine = await feedback_sheet.sheet_units(session=session, actor=_staff(units[1]))

        assert (everyone, mine) == (["a", "b", "c"], ["b"])
