"""``export.haochaping``: the national exchange export as a staff flow (permission, audit)."""

from __future__ import annotations

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.access import Actor, Forbidden, StaffRole
from surveys.accounts.models import AuditEvent
from surveys.flows import exports as export_flows
from tests.surveys.haochaping.test_national import ADMIN, TZ, seed_ratings


class TestFlow:
    async def test_the_export_is_audited_with_its_period_format_and_rows(
        self, session: AsyncSession
    ) -> None:
        await seed_ratings(session)
        file = await export_flows.export_haochaping(
            session=session, actor=ADMIN, period="2026H2", fmt="csv", tz=TZ
        )
        assert file.name == "haochaping-2026H2-national.csv"
        (event,) = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "export.haochaping"))
        ).all()
        assert (event.actor, event.target) == ("admin", "2026H2")
        assert event.detail == {"fmt": "national-csv", "rows": 5, "size": len(file.body)}

    async def test_a_viewer_may_not_export(self, session: AsyncSession) -> None:
        viewer = Actor(name="v", role=StaffRole.viewer, units=None)
        with pytest.raises(Forbidden):
            await export_flows.export_haochaping(
                session=session, actor=viewer, period="2026H2", fmt="json", tz=TZ
            )
