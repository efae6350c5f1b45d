"""GET /api/v1/ratings: the caller's units only, paged, nobody's identity, comments masked."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from surveys.accounts.access import Actor, StaffRole
from surveys.cases import workdays
from surveys.core.db import SessionMaker, unit_of_work
from surveys.core.settings import Settings
from surveys.haochaping import feedback
from surveys.haochaping.models import RatingSource
from tests.api.console.conftest import OTHER_UNIT, OWN_UNIT, bearer


async def _rate(
    sessionmaker: SessionMaker, settings: Settings, rows: list[dict[str, Any]]
) -> None:
    async with unit_of_work(sessionmaker) as session:
        await feedback.receive_ratings(
            session=session,
            rows=rows,
            source=RatingSource.api,
            actor=Actor(name="setup", role=StaffRole.admin, units=None),
            tz=settings.tz,
            now=datetime(2026, 11, 23, tzinfo=UTC),
            grace_days=15,
            policy=workdays.policy_from(settings),
        )


def _row(source_id: str, unit: str, level: str, **more: Any) -> dict[str, Any]:
    return {
        "source_id": source_id,
        "unit": unit,
        "level": level,
        "channel": 4,
        "rated_at": "2026-11-20T09:00:00+08:00",
        **more,
    }


async def test_staff_see_their_units_ratings_only(
    app: FastAPI, sessionmaker: SessionMaker, settings: Settings
) -> None:
    await _rate(
        sessionmaker,
        settings,
        [
            _row("a1", OWN_UNIT, "satisfied"),
            _row("a2", OWN_UNIT, "dissatisfied", comment="请回电 13812345678", reasons=["其他"]),
            _row("b1", OTHER_UNIT, "very_satisfied"),
        ],
    )
    headers = await bearer(sessionmaker, "t-staff", StaffRole.staff, OWN_UNIT)
    async with AsyncClient(
        transport=ASGITransport(app=app), base_url="http://test", headers=headers
    ) as client:
        mine = (await client.get("/api/v1/ratings", params={"limit": 1})).json()
        bad = (await client.get("/api/v1/ratings", params={"level": "dissatisfied"})).json()
        other = await client.get("/api/v1/ratings", params={"unit_id": 999999})

    assert mine["count"] == 2
    assert len(mine["data"]) == 1
    assert [r["source_id"] for r in bad["data"]] == ["a2"]
    assert bad["data"][0]["comment"] == "请回电 138****5678"
    assert "respondent_id" not in bad["data"][0]
    assert other.status_code == 404


async def test_after_cursor_pages_give_the_offset_pages_and_a_bad_one_is_refused(
    app: FastAPI, sessionmaker: SessionMaker, settings: Settings
) -> None:
    # 13 ratings, some at the same moment (ties are ordered by id), over three days.
    rows = [
        _row(f"k{n}", OWN_UNIT, "satisfied", rated_at=f"2026-11-{18 + n % 3}T09:00:0{n % 2}+08:00")
        for n in range(13)
    ]
    await _rate(sessionmaker, settings, rows)
    headers = await bearer(sessionmaker, "t-admin", StaffRole.admin, None)
    async with AsyncClient(
        transport=ASGITransport(app=app), base_url="http://test", headers=headers
    ) as client:
        by_offset = [
            (await client.get("/api/v1/ratings", params={"limit": 5, "offset": o})).json()
            for o in (0, 5, 10)
        ]
        by_cursor = [(await client.get("/api/v1/ratings", params={"limit": 5})).json()]
        while by_cursor[-1]["next"] is not None:
            after = by_cursor[-1]["next"]
            page = await client.get("/api/v1/ratings", params={"limit": 5, "after": after})
            by_cursor.append(page.json())
        forged = await client.get("/api/v1/ratings", params={"after": "yesterday_1"})

    def ids(pages: list[dict[str, Any]]) -> list[list[int]]:
        return [[r["id"] for r in p["data"]] for p in pages]

    assert ids(by_cursor) == ids(by_offset)
    assert [len(p) for p in ids(by_cursor)] == [5, 5, 3]
    assert {p["count"] for p in by_cursor} == {13}
    assert forged.status_code == 422
    assert forged.json()["code"] == "error.request_invalid"
    assert "query.after" in forged.json()["message"]


def test_every_text_of_the_cursor_shape_reads_as_a_cursor() -> None:
    import re

    from surveys.haochaping.ratings import CURSOR_PATTERN, _parse_cursor

    for text in ("0.000000_1", "9999999999.999999_999999999999999999", "1764000000.123456_42"):
        assert re.match(CURSOR_PATTERN, text)
        _parse_cursor(text)  # never BadCursor for a text the API lets through
    assert not re.match(CURSOR_PATTERN, "1764000000.123456_0")
