"""The demo outside source: 蒙速办满意度 for every demo unit in the previous and current
half-year, stored through the import's checks, and nothing more on a rerun."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from scoring import outside
from scoring.demo import generate as demo_data
from scoring.demo import outside as demo_outside
from surveys.core.models import pk

NOW = datetime(2026, 11, 30, 4, tzinfo=UTC)


async def test_one_source_for_every_demo_unit_in_both_halves(session: AsyncSession) -> None:
    units = demo_data.demo_units()
    session.add_all(units)
    await session.flush()

    added = await demo_outside.load_outside(session=session, today=date(2026, 11, 30), now=NOW)
    again = await demo_outside.load_outside(session=session, today=date(2026, 11, 30), now=NOW)

    assert (added, again) == (2, 0)
    imports = await outside.list_imports(session=session)
    assert [(i.period, i.source_name, i.rows) for i in imports] == [
        ("2026H1", "蒙速办满意度", len(units)),
        ("2026H2", "蒙速办满意度", len(units)),
    ]
    results = await outside.outside_results(session=session, period="2026H2")
    assert set(results) == {pk(unit) for unit in units}
    for [result] in results.values():
        assert 0 <= result.score <= 100
        assert 60 <= result.n <= 200
        assert result.method_note == demo_outside.NOTE
