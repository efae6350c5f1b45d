"""Outside 民意 results (a poll by a 民意调查机构, a 蒙速办 satisfaction figure): per unit and
half-year a score 0..100 with the people behind it (n), a source name and a method note.

One import per half-year and source name is current; importing the same pair again marks the
current one superseded (kept as history). Different source names stand side by side.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scoring.models import OutsideImport, OutsideScore


@dataclass(frozen=True)
class OutsideResult:
    """One unit's result from one current outside source."""

    source: str
    score: float
    n: int
    method_note: str
    imported_at: datetime


async def outside_results(*, session: AsyncSession, period: str) -> dict[int, list[OutsideResult]]:
    """Per unit id, the results of the current imports of ``period``, by source name."""
    statement = (
        select(OutsideScore, OutsideImport)
        .join(OutsideImport, col(OutsideImport.id) == col(OutsideScore.import_id))
        .where(OutsideImport.period == period, col(OutsideImport.superseded_at).is_(None))
        .order_by(col(OutsideScore.unit_id), col(OutsideImport.source_name), col(OutsideImport.id))
    )
    found: dict[int, list[OutsideResult]] = {}
    for score, stored in (await session.exec(statement)).all():
        found.setdefault(score.unit_id, []).append(
            OutsideResult(
                source=stored.source_name,
                score=score.score,
                n=score.n,
                method_note=stored.method_note,
                imported_at=stored.imported_at,
            )  # fmt: skip
        )
    return found
