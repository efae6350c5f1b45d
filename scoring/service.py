"""Scores of a half-year or a year: aggregates from SQL, arithmetic off the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from scoring import compute
from scoring.aggregate import gather_inputs
from scoring.compute import HalfResult, UnitInput, YearResult
from scoring.exceptions import NoUnits
from scoring.method import Method
from scoring.periods import check_period, halves

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ScoreReport:
    """One computation: what was scored, how, from which inputs, and when."""

    scope: str  # "2026H1" or "2026"
    periods: tuple[str, ...]
    method: Method
    computed_at: datetime
    fingerprint: str
    halves: dict[str, list[HalfResult]]
    year: list[YearResult] | None = None


def _quiet(_step: str) -> None:
    return None


async def _inputs(
    session: AsyncSession, periods: tuple[str, ...], method: Method, tz: ZoneInfo,
    progress: Progress,
) -> dict[str, list[UnitInput]]:  # fmt: skip
    inputs = {}
    for period in periods:
        progress(f"{period}: counting ratings and answers")
        inputs[period] = await gather_inputs(session=session, period=period, method=method, tz=tz)
        if not inputs[period]:
            raise NoUnits()
    return inputs


async def score_period(
    *, session: AsyncSession, period: str, method: Method, tz: ZoneInfo,
    computed_at: datetime, progress: Progress = _quiet,
) -> ScoreReport:  # fmt: skip
    """Every active unit's 民意 score, components and half-year score, ranked within kind."""
    check_period(period)
    inputs = await _inputs(session, (period,), method, tz, progress)
    progress(f"{period}: computing scores")
    results = await asyncio.to_thread(compute.score_half, inputs[period], method)
    return ScoreReport(
        scope=period, periods=(period,), method=method, computed_at=computed_at,
        fingerprint=compute.fingerprint(inputs, method), halves={period: results},
    )  # fmt: skip


async def score_year(
    *, session: AsyncSession, year: str | int, method: Method, tz: ZoneInfo,
    computed_at: datetime, progress: Progress = _quiet,
) -> ScoreReport:  # fmt: skip
    """Both half-years and 年度分 = their mean (missing when a half is), ranked within kind."""
    periods = halves(year)
    inputs = await _inputs(session, periods, method, tz, progress)
    progress(f"{year}: computing scores")
    first = await asyncio.to_thread(compute.score_half, inputs[periods[0]], method)
    second = await asyncio.to_thread(compute.score_half, inputs[periods[1]], method)
    annual = compute.score_year(first, second, periods)
    return ScoreReport(
        scope=str(year), periods=periods, method=method, computed_at=computed_at,
        fingerprint=compute.fingerprint(inputs, method),
        halves={periods[0]: first, periods[1]: second}, year=annual,
    )  # fmt: skip
