"""考评结果 is computed once per state of its inputs: a second view reads a cached report; a new
rating or monitoring import changes the stamp and the numbers shown."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from scoring import monitoring, service
from scoring.demo import activity as demo_scores
from scoring.demo import generate as demo_data
from scoring.demo import survey as demo
from scoring.periods import recent
from surveys.accounts import units
from surveys.accounts.access import Actor, StaffRole
from surveys.cases import workdays
from surveys.core.settings import Settings
from surveys.haochaping.models import RatingSource
from surveys.haochaping.ratings import RatingIn, ingest
from surveys.questionnaire import catalog
from tests.surveys import reference_results as previous

TODAY = date(2026, 11, 23)
NOW = datetime(2026, 11, 23, 2, tzinfo=UTC)
PERIOD = "2026H2"
ADMIN = Actor(name="boss", role=StaffRole.admin, units=None)


@pytest.fixture
async def scored(session: AsyncSession, settings: Settings) -> service.Setup:
    parsed = units.parse_units_csv(demo.UNITS_CSV.read_text("utf-8"), source="units.csv")
    await units.upsert_units(session=session, units=parsed)
    await catalog.load_survey(session=session, definition=demo.demo_survey(TODAY), source="demo")
    await demo_scores.load(session=session, today=TODAY, now=NOW, tz=settings.tz,
                           policy=workdays.policy_from(settings))  # fmt: skip
    await session.flush()
    service.REPORTS.clear()
    return service.setup(settings, NOW)


@pytest.fixture
def computed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every computation of a report (a call of ``score_scope``), by scope."""
    calls: list[str] = []
    real = service.score_scope

    async def counting(**kwargs: Any) -> service.ScoreReport:
        calls.append(kwargs.get("period") or kwargs.get("year") or "")
        return await real(**kwargs)

    monkeypatch.setattr(service, "score_scope", counting)
    return calls


def _shown(page: service.ScoringPage) -> tuple[Any, ...]:
    report = page.report
    return (page.period, page.rows, page.charts, page.imports, report.fingerprint,
            report.halves, report.periods)  # fmt: skip


async def _previous(session: AsyncSession, setup: service.Setup) -> service.ScoringPage:
    return await previous.scoring_page(session=session, actor=ADMIN, setup=setup, period=PERIOD)


async def _page(session: AsyncSession, setup: service.Setup) -> service.ScoringPage:
    return await service.scoring_page(session=session, actor=ADMIN, setup=setup, period=PERIOD)


async def test_a_second_view_does_not_compute_again(
    session: AsyncSession, scored: service.Setup, computed: list[str]
) -> None:
    first = await _page(session, scored)
    assert computed  # the chosen half-year and the trend's
    assert _shown(first) == _shown(await _previous(session, scored))
    count = len(computed)
    later = replace(scored, computed_at=datetime(2026, 11, 24, tzinfo=UTC))
    second = await _page(session, later)
    assert len(computed) == count
    assert _shown(second) == _shown(first)
    assert second.report.computed_at == first.report.computed_at  # when it was computed


async def test_a_new_rating_changes_the_stamp_and_the_numbers(
    session: AsyncSession, scored: service.Setup, computed: list[str], settings: Settings
) -> None:
    before = await _page(session, scored)
    stamp = await service.input_stamp(session)
    unit = before.rows[0].unit.code
    items = [
        RatingIn(
            source_id=f"cache-{n}",
            unit=unit,
            level="very_dissatisfied",
            channel=2,
            rated_at=datetime(2026, 11, 20, 3, n, tzinfo=UTC),
        )  # fmt: skip
        for n in range(30)
    ]
    stored = await ingest(session=session, items=items, source=RatingSource.api, tz=settings.tz,
                          now=NOW, grace_days=30)  # fmt: skip
    assert len(stored.created) == 30
    assert await service.input_stamp(session) != stamp
    count = len(computed)
    after = await _page(session, scored)
    assert len(computed) > count
    assert _shown(after) == _shown(await _previous(session, scored))
    assert after.report.fingerprint != before.report.fingerprint
    assert after.rows != before.rows


async def test_a_monitoring_import_changes_the_numbers(
    session: AsyncSession, scored: service.Setup, computed: list[str], tmp_path: Any
) -> None:
    before = await _page(session, scored)
    stamp = await service.input_stamp(session)
    path, period, component = next(
        (p, per, c) for p, per, c in demo_data.demo_monitoring_files(TODAY) if per == PERIOD
    )
    rows = path.read_text("utf-8-sig").splitlines()
    changed = tmp_path / f"again{path.suffix}"
    # The same file with every score of the first unit lowered: a new import supersedes.
    head, first, *rest = rows
    cells = first.split(",")
    cells[-1] = "0"
    changed.write_text("\n".join([head, ",".join(cells), *rest]), "utf-8")
    await monitoring.import_monitoring_file(
        session=session, path=changed, period=period,
        component=monitoring.parse_component(component), actor="test", now=NOW,
    )  # fmt: skip
    assert await service.input_stamp(session) != stamp
    after = await _page(session, scored)
    assert _shown(after) == _shown(await _previous(session, scored))
    assert after.rows != before.rows


def test_the_cache_is_bounded_and_keeps_the_recently_used() -> None:
    cache = service.ReportCache(size=2)
    reports = [object() for _ in range(3)]
    cache.put("a", reports[0])  # type: ignore[arg-type]
    cache.put("b", reports[1])  # type: ignore[arg-type]
    assert cache.get("a") is reports[0]  # "a" used last: "b" goes first
    cache.put("c", reports[2])  # type: ignore[arg-type]
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (reports[0], None, reports[2])


def test_the_cache_is_safe_across_threads() -> None:
    cache = service.ReportCache(size=8)

    def work(n: int) -> None:
        for i in range(2000):
            cache.put(f"{n}-{i % 20}", object())  # type: ignore[arg-type]
            cache.get(f"{n}-{(i + 7) % 20}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(cache._reports) == 8


async def test_concurrent_views_agree(
    session: AsyncSession, scored: service.Setup, sessionmaker: Any
) -> None:
    await session.commit()

    async def view() -> tuple[Any, ...]:
        async with sessionmaker() as other:
            return _shown(await _page(other, scored))

    first, second = await asyncio.gather(view(), view())
    assert first == second


async def test_each_half_year_shown_is_computed_once(
    session: AsyncSession, scored: service.Setup, computed: list[str]
) -> None:
    first = await _page(session, scored)
    shown = first.charts["periods"]
    assert shown == recent(PERIOD, service.TREND_PERIODS)  # all four on the trend
    assert sorted(computed) == sorted(shown)  # each once, the chosen one included
    await _page(session, scored)
    await _page(session, scored)
    assert sorted(computed) == sorted(shown)  # later views compute none of the four


async def test_a_method_or_zone_change_computes_again(
    session: AsyncSession, scored: service.Setup, computed: list[str]
) -> None:
    before = await _page(session, scored)
    count = len(computed)
    other = next(name for name in scored.method.methods if name != scored.method.method)
    changed = replace(scored, method=scored.method.model_copy(update={"method": other}))
    after = await _page(session, changed)
    assert len(computed) == count + service.TREND_PERIODS
    assert after.report.fingerprint != before.report.fingerprint
    assert after.rows != before.rows
    stricter = replace(scored, method=scored.method.model_copy(update={"min_sample": 50}))
    await _page(session, stricter)
    assert len(computed) == count + 2 * service.TREND_PERIODS
    await _page(session, replace(scored, tz=ZoneInfo("Asia/Urumqi")))
    assert len(computed) == count + 3 * service.TREND_PERIODS
    again = await _page(session, scored)  # the first method again: still cached
    assert len(computed) == count + 3 * service.TREND_PERIODS
    assert again.rows == before.rows
