"""Administration flows: each writes exactly one audit row named after its action, never a
secret; an actor without the permission changes nothing and leaves no row.

Every registered flow of these modules has a case below, so a new flow cannot ship untested.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts import accounts, tokens
from surveys.accounts.access import Actor, Forbidden, StaffRole
from surveys.accounts.models import ApiToken, AuditEvent, StaffUser, Unit, UnitKind
from surveys.cases.models import CalendarOverride
from surveys.core.settings import Settings
from surveys.flows import accounts as account_flows
from surveys.flows import calendar as calendar_flows
from surveys.flows import imports as import_flows
from surveys.flows import surveys as survey_flows
from surveys.flows import units as unit_flows
from surveys.flows.registry import FLOWS
from surveys.haochaping.models import Rating
from surveys.questionnaire.models import SurveyVersion

NOW = datetime(2025, 9, 30, 8, tzinfo=UTC)
ADMIN = Actor(name="boss", role=StaffRole.admin, units=None)
MODULES = {
    m.__name__ for m in (account_flows, calendar_flows, import_flows, survey_flows, unit_flows)
}
SURVEY = (
    "code: later\ntitle: 以后\nperiod: 2026H2\nopens_on: 2026-07-01\n"
    "closes_on: 2026-12-31\nquestions:\n"
    "  - {key: q1, type: satisfaction, text: 满意吗？}\n"
)


@dataclass
class World:
    session: AsyncSession
    settings: Settings
    folder: Path
    li_id: int


Run = Callable[[World, Actor], Awaitable[Any]]
State = Callable[[World], Awaitable[Any]]


async def _scalars(session: AsyncSession, statement: Any) -> list[Any]:
    return list((await session.exec(statement)).all())


async def _li(world: World) -> StaffUser:
    user = await world.session.get(StaffUser, world.li_id)
    assert user is not None
    await world.session.refresh(user)
    return user


async def usernames(world: World) -> list[str]:
    return sorted(await _scalars(world.session, select(StaffUser.username)))


async def li_state(world: World) -> tuple[object, ...]:
    li = await _li(world)
    return (li.password_hash, li.active, li.link_code_hash, li.session_version)


async def token_state(world: World) -> list[tuple[str, object]]:
    rows = await _scalars(world.session, select(ApiToken).order_by(col(ApiToken.id)))
    return [(t.name, t.revoked_at) for t in rows]


async def unit_state(world: World) -> list[tuple[str, str]]:
    rows = await _scalars(world.session, select(Unit).order_by(col(Unit.code)))
    return [(u.code, u.name) for u in rows]


async def rating_count(world: World) -> int:
    return int((await world.session.exec(select(func.count()).select_from(Rating))).one())


async def survey_state(world: World) -> list[tuple[object, ...]]:
    rows = await _scalars(world.session, select(SurveyVersion).order_by(col(SurveyVersion.id)))
    for row in rows:
        await world.session.refresh(row)
    return [(v.version, v.opens_on, v.closed_at) for v in rows]


async def calendar_state(world: World) -> list[tuple[date, bool]]:
    rows = await _scalars(world.session, select(CalendarOverride))
    return sorted((r.day, r.workday) for r in rows)


def _ratings_file(world: World) -> Path:
    path = world.folder / "ratings.csv"
    path.write_text(
        "source_id,unit,level,channel,rated_at\nF-1,spj,满意,4,2025-09-29T10:00:00+08:00\n",
        "utf-8",
    )
    return path


@dataclass(frozen=True)
class Case:
    action: str
    run: Run
    state: State
    secret: bool = False  # the flow returns a secret that must not reach the audit row


def _s(world: World) -> AsyncSession:
    return world.session


CASES = [
    Case(
        "user.create",
        lambda w, a: account_flows.create_user(
            session=_s(w), actor=a, username="zhao", role=StaffRole.staff, unit_codes=["spj"]
        ),
        usernames,
        secret=True,
    ),
    Case(
        "user.reset",
        lambda w, a: account_flows.reset_user_password(session=_s(w), actor=a, username="li"),
        li_state,
        secret=True,
    ),
    Case(
        "user.disable",
        lambda w, a: account_flows.disable_user(session=_s(w), actor=a, username="li"),
        li_state,
    ),
    Case(
        "user.enable",
        lambda w, a: account_flows.enable_user(session=_s(w), actor=a, username="off"),
        lambda w: _active_of(w, "off"),
    ),
    Case(
        "user.link_code",
        lambda w, a: account_flows.issue_user_link_code(
            session=_s(w), actor=a, username="li", now=NOW
        ),
        li_state,
        secret=True,
    ),
    Case(
        "staff.add",
        lambda w, a: account_flows.add_staff(
            session=_s(w), actor=a, username="wang", role=StaffRole.staff, unit_codes=["spj"]
        ),
        usernames,
    ),
    Case(
        "staff.link_code",
        lambda w, a: account_flows.issue_staff_link_code(
            session=_s(w), actor=a, username="li", now=NOW
        ),
        li_state,
        secret=True,
    ),
    Case(
        "token.create",
        lambda w, a: account_flows.create_token(
            session=_s(w), actor=a, name="sys", role=None, unit_code="spj"
        ),
        token_state,
        secret=True,
    ),
    Case(
        "token.revoke",
        lambda w, a: account_flows.revoke_token(session=_s(w), actor=a, name="old"),
        token_state,
    ),
    Case(
        "units.load",
        lambda w, a: unit_flows.load_units(
            session=_s(w), actor=a, text="code,name,kind\nqs,青山区,旗县区\n", source="u.csv"
        ),
        unit_state,
    ),
    Case(
        "import.ratings",
        lambda w, a: import_flows.import_ratings(
            session=_s(w),
            actor=a,
            path=_ratings_file(w),
            source="ratings.csv",
            settings=w.settings,
            now=NOW,
        ),
        rating_count,
    ),
    Case(
        "survey.load",
        lambda w, a: survey_flows.load_yaml(
            session=_s(w), actor=a, text=SURVEY.replace("以后", "以后再说")
        ),
        survey_state,
    ),
    Case(
        "survey.publish",
        lambda w, a: survey_flows.publish(
            session=_s(w), actor=a, code="later", today=date(2026, 5, 10)
        ),
        survey_state,
    ),
    Case(
        "survey.close",
        lambda w, a: survey_flows.close(session=_s(w), actor=a, code="later", now=NOW),
        survey_state,
    ),
    Case(
        "calendar.set",
        lambda w, a: calendar_flows.set_calendar_day(
            session=_s(w), actor=a, day=date(2027, 2, 6), workday=False, source="国办发明电"
        ),
        calendar_state,
    ),
]


async def _active_of(world: World, username: str) -> bool:
    user = await accounts.get_user(session=world.session, username=username)
    assert user is not None
    await world.session.refresh(user)
    return user.active


async def _events(session: AsyncSession, after: int) -> list[AuditEvent]:
    statement = select(AuditEvent).where(col(AuditEvent.id) > after).order_by(col(AuditEvent.id))
    return await _scalars(session, statement)


async def _last_event_id(session: AsyncSession) -> int:
    found = (await session.exec(select(func.max(AuditEvent.id)))).one()
    return int(found or 0)


@pytest.fixture
async def world(session: AsyncSession, settings: Settings, tmp_path: Path) -> World:
    """A unit, an account (li), a disabled one (off), a live token and a loaded survey."""
    session.add(Unit(code="spj", name="市审批局", kind=UnitKind.department))
    await session.flush()
    li, _ = await accounts.create_user(
        session=session, username="li", role=StaffRole.staff, unit_codes=["spj"]
    )
    await accounts.create_user(
        session=session, username="off", role=StaffRole.viewer, unit_codes=[]
    )
    await accounts.set_active(session=session, username="off", active=False)
    await tokens.create_token(session=session, name="old", unit=None)
    await survey_flows.load_yaml(session=session, actor=ADMIN, text=SURVEY)
    assert li.id is not None
    return World(session=session, settings=settings, folder=tmp_path, li_id=li.id)


def test_every_admin_flow_has_a_case() -> None:
    registered = {a for a, spec in FLOWS.items() if spec.func.__module__ in MODULES}
    assert registered == {case.action for case in CASES}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.action)
async def test_writes_one_audit_row(world: World, case: Case) -> None:
    before = await case.state(world)
    mark = await _last_event_id(world.session)

    done = await case.run(world, ADMIN)

    assert await case.state(world) != before
    events = await _events(world.session, mark)
    assert [(e.action, e.actor, e.role) for e in events] == [(case.action, "boss", "admin")]
    if case.secret:
        secrets = [v for v in (done if isinstance(done, tuple) else (done,)) if isinstance(v, str)]
        assert secrets
        written = f"{events[0].target} {events[0].detail}"
        assert all(secret not in written for secret in secrets)


@pytest.mark.parametrize("role", [StaffRole.viewer, StaffRole.staff, StaffRole.supervisor])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.action)
async def test_refused_without_permission(world: World, case: Case, role: StaffRole) -> None:
    actor = Actor(name="someone", role=role, units=None)
    before = await case.state(world)
    mark = await _last_event_id(world.session)

    with pytest.raises(Forbidden):
        await case.run(world, actor)

    assert await case.state(world) == before
    assert await _events(world.session, mark) == []


async def test_a_refused_rule_leaves_no_row(world: World) -> None:
    li = await _li(world)
    me = Actor(name="li", role=StaffRole.admin, units=None, user_id=li.id)
    mark = await _last_event_id(world.session)

    with pytest.raises(account_flows.CannotDisableSelf):
        await account_flows.disable_user(session=world.session, actor=me, username="li")
    with pytest.raises(account_flows.UnknownUser):
        await account_flows.issue_staff_link_code(
            session=world.session, actor=ADMIN, username="nobody", now=NOW
        )
    with pytest.raises(account_flows.InvalidUsername):
        await account_flows.add_staff(
            session=world.session, actor=ADMIN, username="a b", role=StaffRole.admin, unit_codes=[]
        )

    assert (await _li(world)).active
    assert await _events(world.session, mark) == []


async def test_staff_add_audits_role_and_units_and_no_password(world: World) -> None:
    mark = await _last_event_id(world.session)

    user = await account_flows.add_staff(
        session=world.session,
        actor=ADMIN,
        username=" wang ",
        role=StaffRole.staff,
        unit_codes=["spj", "spj"],
    )

    assert user.password_hash is None
    [event] = await _events(world.session, mark)
    assert (event.target, event.detail) == ("wang", {"role": "staff", "units": ["spj"]})


async def test_calendar_set_audits_the_day_not_the_notice(world: World) -> None:
    mark = await _last_event_id(world.session)

    await calendar_flows.set_calendar_day(
        session=world.session, actor=ADMIN, day=date(2027, 2, 6), workday=True, source="通知"
    )

    [event] = await _events(world.session, mark)
    assert (event.target, event.detail) == ("2027-02-06", {"workday": True})
