"""The flow that loads units (考评对象) from a CSV file: all rows or none, audited."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts import audit, units
from surveys.accounts.access import Actor, Perm
from surveys.flows.registry import Adapter, flow


@flow("units.load", perm=Perm.manage, adapters=frozenset({Adapter.console, Adapter.cli}))
async def load_units(
    *, session: AsyncSession, actor: Actor, text: str, source: str
) -> tuple[int, int]:
    """Add or update units from a CSV text (:class:`InvalidFile` lists every problem)."""
    parsed = units.parse_units_csv(text, source=source)
    created, updated = await units.upsert_units(session=session, units=parsed)
    await audit.record(
        session=session,
        actor=actor,
        action="units.load",
        target=source[:120],
        created=created,
        updated=updated,
    )
    return created, updated
