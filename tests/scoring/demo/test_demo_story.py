"""The demo tells one story: a rating is excluded only through its case's upheld 申诉; every
case opens at its rating's time with deadlines counted from it; timelines run in order up to
the load time along the loop's moves; closed cases say how they closed; 承办人 serve the
case's unit; and every kind of case is there."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
import sqlalchemy as sa
from sqlmodel import SQLModel

from scoring.demo import activity as demo_scores
from scoring.demo import survey as demo
from scoring.demo.staff import SUPERVISORS
from surveys.accounts import units
from surveys.cases import service as cases
from surveys.cases import workdays
from surveys.cases.models import CaseState, CloseReason
from surveys.core.clock import as_utc
from surveys.core.db import create_engine, create_sessionmaker, unit_of_work
from surveys.questionnaire.definitions import Level
from tests.conftest import BACKEND

S = CaseState
TODAY = date(2026, 11, 23)
NOW = datetime(2026, 11, 23, 2, tzinfo=UTC)  # 10:00 in Shanghai
TZ_CALENDAR = workdays.WorkCalendar()
POLICY = workdays.DeadlinePolicy()
BAD = {Level.dissatisfied.value, Level.very_dissatisfied.value}
LABELS = {level.value: label for label, level in cases.RERATING_LEVELS.items()}


@dataclass(frozen=True)
class Story:
    """Everything the demo stored about ratings, cases and people, as plain rows."""

    ratings: dict[int, dict[str, Any]]
    cases: list[dict[str, Any]]
    events: dict[int, list[dict[str, Any]]]  # by case, in the order recorded
    roles: dict[str, str]  # username -> role
    serves: set[tuple[int, int]]  # (user id, unit id)
    names: dict[int, str]  # user id -> username
    kinds: dict[int, str]  # unit id -> kind
    first: demo_scores.DemoScores
    again: demo_scores.DemoScores


async def _rows(connection: Any, name: str, *order: str) -> list[dict[str, Any]]:
    table = SQLModel.metadata.tables[name]
    statement = sa.select(table).order_by(*(table.c[key] for key in order or ("id",)))
    return [dict(row._mapping) for row in await connection.execute(statement)]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def story(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> AsyncIterator[Story]:
    """The demo loaded twice into one database (SQLite, or PostgreSQL in that test run)."""
    if BACKEND == "postgres":
        running = request.getfixturevalue("server_backend")
        name, url = running.new_database()
    else:
        url = f"sqlite+aiosqlite:///{(tmp_path_factory.mktemp('story') / 'demo.db').as_posix()}"
    engine = create_engine(url)
    try:
        yield await _load_twice(engine)
    finally:
        await engine.dispose()
        if BACKEND == "postgres":
            running.drop_database(name)


async def _load_twice(engine: Any) -> Story:
    if BACKEND != "postgres":  # a PostgreSQL database is a copy of the migrated template
        async with engine.begin() as connection:
            await connection.run_sync(SQLModel.metadata.create_all)
    sessionmaker = create_sessionmaker(engine)
    parsed = units.parse_units_csv(demo.UNITS_CSV.read_text("utf-8"), source="units.csv")
    loads = []
    for _ in range(2):
        async with unit_of_work(sessionmaker) as session:
            await units.upsert_units(session=session, units=parsed)
            loads.append(
                await demo_scores.load(
                    session=session, today=TODAY, now=NOW, tz=TZ_CALENDAR.tz, policy=POLICY
                )
            )
    async with engine.connect() as connection:
        return await _story(connection, *loads)


async def _story(
    connection: Any, first: demo_scores.DemoScores, again: demo_scores.DemoScores
) -> Story:
    events: dict[int, list[dict[str, Any]]] = {}
    for event in await _rows(connection, "case_event"):
        event["at"] = as_utc(event["at"])
        events.setdefault(event["case_id"], []).append(event)
    found = await _rows(connection, "follow_up_case")
    for case in found:
        for key in ("opened_at", "closed_at", "escalated_at"):
            case[key] = case[key] and as_utc(case[key])
    ratings = {r["id"]: r for r in await _rows(connection, "rating")}
    for rating in ratings.values():
        rating["rated_at"] = as_utc(rating["rated_at"])
    users = await _rows(connection, "staff_user")
    links = await _rows(connection, "staff_unit", "user_id", "unit_id")
    return Story(
        ratings=ratings,
        cases=found,
        events=events,
        roles={u["username"]: u["role"] for u in users},
        serves={(link["user_id"], link["unit_id"]) for link in links},
        names={u["id"]: u["username"] for u in users},
        kinds={u["id"]: u["kind"] for u in await _rows(connection, "unit")},
        first=first,
        again=again,
    )


def _transitions(story: Story, case: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in story.events[case["id"]] if e["to_state"] is not None]


def _closing(story: Story, case: dict[str, Any]) -> dict[str, Any]:
    return _transitions(story, case)[-1]


class TestExclusions:
    def test_only_through_an_upheld_appeal(self, story: Story) -> None:
        excluded = {i for i, r in story.ratings.items() if r["excluded"]}
        upheld = {
            case["rating_id"]
            for case in story.cases
            if any(e["to_state"] == S.appeal_upheld for e in story.events[case["id"]])
        }
        assert excluded
        assert excluded == upheld

    def test_the_appeal_went_through_a_supervisor_and_closed(self, story: Story) -> None:
        for case in story.cases:
            if not story.ratings[case["rating_id"]]["excluded"]:
                continue
            path = [(e["from_state"], e["to_state"]) for e in _transitions(story, case)]
            assert path[-3:] == [
                (S.verifying, S.appealing), (S.appealing, S.appeal_upheld),
                (S.appeal_upheld, S.closed),
            ]  # fmt: skip
            decided, closed = _transitions(story, case)[-2:]
            for event in (decided, closed):
                assert story.roles[event["actor"]] == "supervisor"
                assert event["note"]
            assert (case["state"], case["close_reason"]) == (S.closed, CloseReason.appeal_upheld)

    def test_no_open_case_of_an_excluded_rating(self, story: Story) -> None:
        excluded = {i for i, r in story.ratings.items() if r["excluded"]}
        assert not [c for c in story.cases if c["rating_id"] in excluded and not c["closed_at"]]


class TestOpening:
    def test_every_bad_rating_has_its_case(self, story: Story) -> None:
        bad = {i for i, r in story.ratings.items() if r["level"] in BAD and not r["is_default"]}
        assert {case["rating_id"] for case in story.cases} == bad

    def test_opened_at_the_rating_with_deadlines_counted_from_it(self, story: Story) -> None:
        for case in story.cases:
            rating = story.ratings[case["rating_id"]]
            assert case["unit_id"] == rating["unit_id"]
            assert (
                rating["rated_at"] <= case["opened_at"] <= rating["rated_at"] + timedelta(hours=1)
            )
            kind = story.kinds[case["unit_id"]]
            due = POLICY.deadlines(TZ_CALENDAR, rating["rated_at"], kind)
            assert (case["contact_due"], case["rectify_due"]) == due
            assert TZ_CALENDAR.local_date(case["opened_at"]) <= case["contact_due"]


class TestTimelines:
    def test_in_order_from_the_opening_to_the_load_time(self, story: Story) -> None:
        for case in story.cases:
            events = story.events[case["id"]]
            assert (events[0]["kind"], events[0]["at"]) == ("opened", case["opened_at"])
            times = [e["at"] for e in events]
            assert times == sorted(times)
            assert times[-1] <= NOW

    def test_every_move_is_a_move_of_the_loop(self, story: Story) -> None:
        for case in story.cases:
            state = S.pending
            for event in _transitions(story, case)[1:]:
                assert event["from_state"] == state
                _check(story, case, state, event)
                state = S(event["to_state"])
            assert case["state"] == state

    def test_closed_and_escalated_times_are_the_events(self, story: Story) -> None:
        for case in story.cases:
            escalated = [e["at"] for e in story.events[case["id"]] if e["kind"] == "escalated"]
            assert escalated == ([case["escalated_at"]] if case["escalated_at"] else [])
            closing = _closing(story, case)
            closed = closing["at"] if closing["to_state"] == S.closed else None
            assert case["closed_at"] == closed

    def test_escalated_only_after_a_missed_deadline(self, story: Story) -> None:
        for case in story.cases:
            for event in story.events[case["id"]]:
                if event["kind"] == "escalated":
                    due = case["contact_due"] if event["from_state"] == S.pending else (
                        case["rectify_due"]
                    )  # fmt: skip
                    assert TZ_CALENDAR.local_date(event["at"]) > due
                    assert str(due) in event["note"]


def _check(story: Story, case: dict[str, Any], frm: CaseState, event: dict[str, Any]) -> None:
    """The rules of surveys.cases.service.transition and close."""
    to, role = S(event["to_state"]), story.roles.get(event["actor"], event["actor"])
    if to not in cases.TRANSITIONS[frm]:
        assert to is S.closed, (frm, to)
        assert frm in cases.CLOSE_FROM[CloseReason(case["close_reason"])]
        assert role in (cases.SYSTEM, "supervisor")
    assert (role == cases.CITIZEN) == (to in cases.CITIZEN_MOVES)
    if to in cases.APPEAL_DECISIONS:
        assert role == "supervisor"
    if to in cases.NOTE_REQUIRED:
        assert event["note"]


class TestClosing:
    def test_every_closed_case_says_how(self, story: Story) -> None:
        for case in story.cases:
            closing = _closing(story, case)
            if case["state"] != S.closed:
                assert case["close_reason"] is None
                continue
            frm, role = S(closing["from_state"]), story.roles.get(closing["actor"], "system")
            expected = cases.CLOSED_AFTER.get(frm) or (
                CloseReason.supervisor if role == "supervisor" else CloseReason.no_rerating
            )
            assert case["close_reason"] == expected
            assert closing["note"]

    def test_no_rerating_only_after_the_window(self, story: Story) -> None:
        for case in story.cases:
            if case["close_reason"] != CloseReason.no_rerating:
                continue
            replied, closed = _transitions(story, case)[-2:]
            assert closed["actor"] == cases.SYSTEM
            window = TZ_CALENDAR.add_working_days(replied["at"], 5)
            assert TZ_CALENDAR.local_date(closed["at"]) > window
            assert f"至 {window.isoformat()}" in closed["note"]  # the system's own note

    def test_rerating_is_the_citizens(self, story: Story) -> None:
        seconds = {
            r["source_id"].removesuffix("-2"): r for r in story.ratings.values() if r["round"] == 2
        }
        for case in story.cases:
            rerated = [e for e in story.events[case["id"]] if e["to_state"] == S.rerated]
            assert bool(rerated) == (case["rerating"] is not None)
            rating = story.ratings[case["rating_id"]]
            second = seconds.get(rating["source_id"])
            if second is not None:
                (event,) = rerated
                assert (event["at"], event["note"]) == (
                    second["rated_at"],
                    LABELS[second["level"]],
                )
                assert case["rerating"] == second["level"]
            elif rerated:
                assert rerated[0]["note"] == LABELS[case["rerating"]]
                assert rating["contact_ok"]


class TestPeople:
    def test_assignees_serve_the_cases_unit(self, story: Story) -> None:
        assigned = [c for c in story.cases if c["assignee_id"] is not None]
        assert assigned
        for case in assigned:
            assert (case["assignee_id"], case["unit_id"]) in story.serves
            assert story.roles[story.names[case["assignee_id"]]] == "staff"

    def test_every_assignee_was_assigned_before_the_work(self, story: Story) -> None:
        for case in story.cases:
            events = story.events[case["id"]]
            assigned = [e for e in events if e["kind"] == "assigned"]
            if case["assignee_id"] is None:
                assert not assigned
                continue
            (event,) = assigned
            name = story.names[case["assignee_id"]]
            assert event["note"] == f"承办人：未分配 → {name}"
            assert event["actor"] == name or story.roles[event["actor"]] == "supervisor"
            assert event["from_state"] == S.pending
            if event["actor"] == name:  # 认领: the first thing the assignee did
                assert next(e for e in events if e["actor"] == name) is event
        kinds = {
            story.roles[e["actor"]] for es in story.events.values() for e in es
            if e["kind"] == "assigned"
        }  # fmt: skip
        assert kinds == {"staff", "supervisor"}  # 认领 and assigned by a supervisor

    def test_staff_moves_are_by_the_units_staff(self, story: Story) -> None:
        ids = {name: user_id for user_id, name in story.names.items()}
        for case in story.cases:
            for event in story.events[case["id"]]:
                if story.roles.get(event["actor"]) == "staff":
                    assert (ids[event["actor"]], case["unit_id"]) in story.serves
                    if case["assignee_id"] is not None:
                        assert ids[event["actor"]] == case["assignee_id"]

    def test_some_cases_unassigned(self, story: Story) -> None:
        unassigned = [c for c in story.cases if c["assignee_id"] is None]
        assert 0 < len(unassigned) < len(story.cases) / 4

    def test_every_unit_has_staff_and_the_office_supervisors(self, story: Story) -> None:
        assert {unit for _, unit in story.serves} == set(story.kinds)
        assert all(story.roles[name] == "supervisor" for name in SUPERVISORS)


class TestMix:
    def test_every_kind_of_case_is_there(self, story: Story) -> None:
        closed = Counter(c["close_reason"] for c in story.cases if c["state"] == S.closed)
        assert set(closed) == set(CloseReason) - {CloseReason.unreachable}
        # Most old cases closed after the citizen's 复评.
        assert closed.most_common(1)[0][0] == CloseReason.rerated
        rejected = [
            c for c in story.cases if any(
                e["to_state"] == S.appeal_rejected for e in story.events[c["id"]]
            )
        ]  # fmt: skip
        assert rejected

    def test_recent_cases_are_in_progress_and_a_few_overdue(self, story: Story) -> None:
        states = Counter(c["state"] for c in story.cases)
        open_states = {s for s in states if s != S.closed}
        assert len(open_states) >= 3
        assert states[S.closed] > 0.9 * len(story.cases)
        overdue = [c for c in story.cases if _overdue(c, TODAY)]
        assert 1 <= len(overdue) <= 15
        late_closed = [c for c in story.cases if c["escalated_at"] and c["closed_at"]]
        assert late_closed  # 按时整改率 is not 100%

    def test_old_cases_are_all_closed(self, story: Story) -> None:
        old = [c for c in story.cases if c["opened_at"] < NOW - timedelta(days=60)]
        assert old
        assert all(c["state"] == S.closed for c in old)


def _overdue(case: dict[str, Any], on: date) -> bool:
    state = S(case["state"])
    if state in cases.AWAITING_CONTACT:
        return bool(on > case["contact_due"])
    return state in cases.AWAITING_RECTIFY and bool(on > case["rectify_due"])


class TestRerun:
    def test_adds_nothing(self, story: Story) -> None:
        assert story.first.cases == len(story.cases)
        assert story.first.staff == len(story.roles)
        assert (story.again.ratings, story.again.cases, story.again.staff) == (0, 0, 0)
