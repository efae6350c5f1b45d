"""Demo outside 民意 results: one source (蒙速办满意度) for every demo unit in the current and
the previous half-year, so the console's import history and the 民意 sources show one.

Scores follow each unit's demo quality (:func:`scoring.demo.generate.unit_quality`, the same
that shapes its ratings and answers), with a little noise; n is 60 to 200 people, so that
with the other sources about half the demo units stay under the 385 rule, as units counted
in people do in practice. Stored through :func:`scoring.outside.store_table`, checked like
any file; reruns add nothing.
"""

from __future__ import annotations

import random
from datetime import date, datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scoring import outside
from scoring.demo import generate as demo_data
from surveys.accounts.models import Unit

SOURCE = "蒙速办满意度"
NOTE = (
    "演示数据：蒙速办 App“好差评”模块的满意度汇总。按办事人计（同一人多次评价只计最近一次），"
    "得分为满意及以上评价所占比例 × 100，样本量为评价人数。"
)
HEADER = [outside.CODE_COLUMN, outside.SCORE_COLUMN, outside.N_COLUMN]


def demo_outside_rows(
    period: str, codes: list[str], *, seed: int = demo_data.DEFAULT_SEED
) -> list[list[str]]:
    """The file of one half-year: the header, then a score and n per unit code."""
    rows = [HEADER]
    for code in codes:
        rng = random.Random(f"{seed}:outside:{period}:{code}")  # str seeds: hash-independent
        quality = demo_data.unit_quality(code, seed)
        score = min(100.0, max(0.0, 62 + 36 * quality + rng.uniform(-3, 3)))
        rows.append([code, f"{score:.1f}", str(rng.randint(60, 200))])
    return rows


async def load_outside(
    *, session: AsyncSession, today: date, now: datetime, seed: int = demo_data.DEFAULT_SEED
) -> int:
    """Import the demo source for the previous and current half-year where it is missing;
    the number of imports added."""
    demo_codes = {unit.code for unit in demo_data.demo_units()}
    statement = select(Unit.code).where(col(Unit.active).is_(True)).order_by(col(Unit.code))
    codes = [code for code in (await session.exec(statement)).all() if code in demo_codes]
    if not codes:
        return 0
    current = {
        (i.period, i.source_name)
        for i in await outside.list_imports(session=session)
        if i.superseded_at is None
    }
    added = 0
    for period in demo_data.demo_periods(today):
        if (period, SOURCE) in current:
            continue
        await outside.store_table(
            session=session, rows=demo_outside_rows(period, codes, seed=seed), period=period,
            source_name=SOURCE, method_note=NOTE, actor="demo", now=now,
            file_name=f"demo_outside_{period}.csv",
        )  # fmt: skip
        added += 1
    return added
