"""The ``import.outside`` flow: one audit row per import, a refusal (file, source, period)
audited as ``import.outside.refused`` with nothing stored, unit staff refused."""

from __future__ import annotations

import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scoring import flows, monitoring, outside
from surveys.accounts.access import Actor, Forbidden, StaffRole
from surveys.accounts.models import AuditEvent
from surveys.core.exceptions import InvalidFile

from .test_outside import ADMIN, GOOD, NOTE, NOW, PERIOD, counts, csv_bytes
from .test_outside import units as units  # noqa: F401 - the fixture


async def _events(session: AsyncSession) -> list[AuditEvent]:
    return list((await session.exec(select(AuditEvent).order_by(col(AuditEvent.id)))).all())


class TestFlow:
    async def flow(
        self, session: AsyncSession, content: bytes, *, period: str = PERIOD,
        source: str = "蒙速办满意度", actor: Actor = ADMIN, force: bool = False,
    ) -> outside.Imported:  # fmt: skip
        return await flows.import_outside(
            session=session, actor=actor, file_name="/srv/in/民调.csv", content=content,
            period=period, source_name=source, method_note=NOTE, now=NOW, force=force,
        )  # fmt: skip

    async def test_one_audit_row(self, units: AsyncSession) -> None:
        imported = await self.flow(units, csv_bytes(GOOD))

        [event] = await _events(units)
        assert (event.action, event.target) == ("import.outside", "2026H2 蒙速办满意度")
        assert event.detail == {"import_id": imported.stored.id, "rows": 2,
                                "sha256": imported.stored.sha256}  # fmt: skip

    async def test_a_bad_file_is_audited_as_refused(self, units: AsyncSession) -> None:
        with pytest.raises(InvalidFile):
            await self.flow(units, csv_bytes([*GOOD, "nowhere,,1,1", "yibao,,1,1"]))

        [event] = await _events(units)
        assert (event.action, event.target) == ("import.outside.refused", "2026H2 蒙速办满意度")
        assert event.detail == {"file": "民调.csv", "problems": 2, "reason": "error.invalid_file"}
        assert await counts(units) == (0, 0)

    async def test_a_missing_source_is_audited_as_refused(self, units: AsyncSession) -> None:
        with pytest.raises(outside.InvalidSourceName):
            await self.flow(units, csv_bytes(GOOD), source=" ")

        [event] = await _events(units)
        assert (event.action, event.detail["reason"]) == (
            "import.outside.refused",
            "outside.invalid_source",
        )

    async def test_a_far_period_is_refused_then_forced(self, units: AsyncSession) -> None:
        with pytest.raises(monitoring.PeriodOutOfRange):
            await self.flow(units, csv_bytes(GOOD), period="2030H2")
        assert await counts(units) == (0, 0)

        imported = await self.flow(units, csv_bytes(GOOD), period="2030H2", force=True)

        assert imported.stored.period == "2030H2"
        refusal, done = await _events(units)
        assert (refusal.action, refusal.detail["reason"]) == (
            "import.outside.refused",
            "import.monitoring.period_out_of_range",
        )
        assert (done.action, done.detail["forced"]) == ("import.outside", True)

    async def test_unit_staff_may_not(self, units: AsyncSession) -> None:
        staff = Actor(name="li", role=StaffRole.staff, units=frozenset({1}))

        with pytest.raises(Forbidden):
            await self.flow(units, csv_bytes(GOOD), actor=staff)

        assert await _events(units) == []
        assert await counts(units) == (0, 0)
