"""12345 回访 indicators per unit and period (domain.md §6; Beijing 接诉即办 三率 practice).

* 回访率 = 接通 (outcome answered) ÷ all active visits;
* 联系率 = 是否联系 = 是 ÷ 接通;
* 解决率 = 已解决 ÷ those who gave 是否满意 (answered);
* 满意率 = (满意 + 基本满意) ÷ answered;

counted over the active (latest-round) visits whose 工单 was finished in the period, beside
the counts and the number flagged (无法联系 after too few attempts). A rate over nothing is
None (shown as —), never 0.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.access import Actor, Perm
from surveys.accounts.models import Unit
from surveys.core.models import pk
from surveys.hotline.tally import HotlineTally, hotline_tallies

RATE_DIGITS = 4


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, RATE_DIGITS) if whole else None


@dataclass(frozen=True)
class HotlineIndicators:
    """One unit's 回访 in a period: the counts and the four rates."""

    unit_id: int
    unit_code: str
    unit_name: str
    tally: HotlineTally
    reach_rate: float | None  # 回访率
    contact_rate: float | None  # 联系率
    resolve_rate: float | None  # 解决率
    satisfied_rate: float | None  # 满意率


def indicators_of(unit: Unit, tally: HotlineTally) -> HotlineIndicators:
    return HotlineIndicators(
        unit_id=pk(unit),
        unit_code=unit.code,
        unit_name=unit.name,
        tally=tally,
        reach_rate=rate(tally.reached, tally.visits),
        contact_rate=rate(tally.contacted, tally.reached),
        resolve_rate=rate(tally.resolved, tally.answered),
        satisfied_rate=rate(tally.satisfied + tally.basic, tally.answered),
    )


async def hotline_indicators(
    *, session: AsyncSession, actor: Actor, period: str
) -> list[HotlineIndicators]:
    """The units the actor sees that have 回访 in ``period``, by unit code."""
    actor.require(Perm.view)
    tallies = await hotline_tallies(session=session, period=period)
    ids = [unit_id for unit_id in tallies if actor.sees(unit_id)]
    if not ids:
        return []
    units = (await session.exec(select(Unit).where(col(Unit.id).in_(ids)))).all()
    rows = [indicators_of(unit, tallies[pk(unit)]) for unit in units]
    return sorted(rows, key=lambda row: row.unit_code)
