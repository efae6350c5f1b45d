"""The permission matrix: every API endpoint and console page × every role × own unit /
other unit, allowed or refused.

The routes are read from the app itself: a route without a declared permission, or one this
test has no sample request for, fails here, so no new route ships without a rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from httpx import ASGITransport, AsyncClient
from starlette.routing import Mount

from scoring.demo import survey as demo
from surveys.accounts import units
from surveys.accounts.access import Actor, Perm, StaffRole
from surveys.cases import workdays
from surveys.cases.models import FollowUpCase
from surveys.core.db import SessionMaker, unit_of_work
from surveys.core.settings import Settings
from surveys.haochaping import feedback
from surveys.haochaping.models import RatingSource
from surveys.questionnaire.catalog import load_survey
from tests.api.console.conftest import OTHER_UNIT, OWN_UNIT, Browser, add_user, bearer

# The rule book, written out independently of surveys.access: what each role may do.
MAY: dict[StaffRole, set[Perm]] = {
    StaffRole.admin: set(Perm),
    StaffRole.supervisor: {
        Perm.public,
        Perm.signed_in,
        Perm.view,
        Perm.export,
        Perm.decide_appeal,
    },
    StaffRole.staff: {
        Perm.public,
        Perm.signed_in,
        Perm.view,
        Perm.export,
        Perm.work_cases,
        Perm.push,
    },
    StaffRole.viewer: {Perm.public, Perm.signed_in, Perm.view},
}
# Routes whose service decides between two permissions by what is asked (a case move: unit
# work or a 申诉 decision); the sample bodies below ask for a work move.
SERVICE_DECIDES = {
    ("POST", "/api/v1/cases/{case_id}/transition"): Perm.work_cases,
    ("POST", "/console/cases/{case_id}/transition"): Perm.work_cases,
}
REFUSED = {401, 403, 404}
SIGN_IN = {"/console/login", "/console/logout", "/console/password"}


@dataclass
class World:
    case: dict[bool, int]  # own? -> case id
    unit_id: dict[bool, int]
    unit_code: dict[bool, str]
    survey: str


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    dependant: Any  # fastapi.dependencies.models.Dependant, router dependencies included

    @property
    def perm(self) -> Perm | None:
        """The permission declared through api_actor/console_actor/PUBLIC."""

        def walk(dependant: Any) -> Iterator[Perm]:
            perm = getattr(dependant.call, "perm", None)
            if perm is not None:
                yield perm
            for sub in dependant.dependencies:
                yield from walk(sub)

        found = set(walk(self.dependant))
        assert len(found) <= 1, f"{self.path} declares several permissions: {found}"
        return found.pop() if found else None


FASTAPI_OWN = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}  # public schema


def _routes(app: FastAPI) -> list[Endpoint]:
    """Every endpoint as served, with the prefixes and dependencies of its routers."""
    found = []
    for route in app.routes:
        if isinstance(route, Mount):
            continue  # /static: public files
        if getattr(route, "path", None) in FASTAPI_OWN:
            continue
        if isinstance(route, APIRoute):
            contexts: list[Any] = [route]
        else:
            assert hasattr(route, "effective_route_contexts"), f"unexpected route {route}"
            contexts = list(route.effective_route_contexts())
        for context in contexts:
            assert context.dependant is not None, context.path
            for method in sorted(set(context.methods) - {"HEAD"}):
                found.append(Endpoint(method, context.path, context.dependant))
    return found


# Sample bodies for the routes that take one (valid enough to pass validation).
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/console/login"): {"username": "nobody", "password": "x" * 12},
    ("POST", "/console/password"): {"current": "x", "new": "y" * 12, "repeat": "y" * 12},
    ("POST", "/console/logout"): {},
    ("POST", "/api/v1/cases/{case_id}/reply"): {"text": "您好，已核实。"},
    ("POST", "/console/cases/{case_id}/reply"): {"text": "您好，已核实。"},
    ("POST", "/console/cases/{case_id}/transition"): {"to": "核实中", "note": "核实"},
    ("POST", "/api/v1/cases/{case_id}/transition"): {"to": "核实中", "note": "核实"},
    ("POST", "/console/cases/{case_id}/close"): {"note": "重复件，合并办理"},
    ("POST", "/api/v1/cases/{case_id}/close"): {"note": "重复件，合并办理"},
    ("POST", "/console/cases/{case_id}/assign"): {"assignee": "u-staff"},
    ("POST", "/api/v1/cases/{case_id}/assign"): {"assignee": "u-staff"},
    ("POST", "/console/cases/{case_id}/claim"): {},
    ("POST", "/console/cases/bulk"): {"case": "1", "action": "escalate"},
    ("POST", "/api/v1/cases/bulk/assign"): {"cases": [1], "assignee": "u-staff"},
    ("POST", "/api/v1/cases/bulk/escalate"): {"cases": [1]},
    ("POST", "/console/cases/views"): {"name": "perm-view", "query": "state=待核实"},
    ("POST", "/console/cases/views/delete"): {"name": "perm-view"},
    ("POST", "/api/v1/service-events"): {
        "case_no": "PERM-1",
        "item_code": "X1",
        "item_name": "事项",
        "unit": "{unit_code}",
        "window": "W1",
        "channel": 4,
        "finished_at": "2025-09-20T10:00:00+08:00",
        "link_token": "perm-link-0001",
    },
    # Admin forms (files are left out: a missing file is a 422 from a route that let one in).
    ("POST", "/console/units"): {},
    ("POST", "/console/imports"): {},
    ("POST", "/console/hotline/import"): {},
    ("POST", "/console/scoring/import"): {"period": "2025H2", "component": "日常监测"},
    ("POST", "/console/scoring/outside"): {"period": "2025H2", "source": "蒙速办", "note": "说明"},
    ("POST", "/console/users"): {"username": "perm-new", "role": "viewer"},
    ("POST", "/console/users/reset"): {"username": "u-viewer"},
    ("POST", "/console/users/disable"): {"username": "u-viewer"},
    ("POST", "/console/users/enable"): {"username": "u-viewer"},
    ("POST", "/console/users/link-code"): {"username": "u-viewer"},
    ("POST", "/console/tokens"): {"name": "perm-token", "role": "viewer", "unit": OWN_UNIT},
    ("POST", "/console/tokens/revoke"): {"name": "perm-revoke"},
    ("POST", "/api/v1/surveys"): "YAML",  # the survey file itself, see _request
    ("POST", "/api/v1/surveys/{code}/publish"): {},
    ("POST", "/api/v1/surveys/{code}/close"): {},
    ("POST", "/api/v1/hotline-visits"): [
        {
            "ticket_no": "PERM-T1",
            "unit": "{unit_code}",
            "item_name": "噪音投诉",
            "finished_at": "2025-09-20T10:00:00+08:00",
            "attempts": [{"at": "2025-09-21T09:00:00+08:00", "outcome": "answered"}],
            "contacted": True,
            "resolved": True,
            "satisfaction": "满意",
        }
    ],
    ("POST", "/api/v1/ratings"): {
        "source_id": "perm-r1",
        "unit": "{unit_code}",
        "level": "satisfied",
        "channel": 4,
        "rated_at": "2025-09-21T09:00:00+08:00",
    },
}


def _fill(value: Any, world: World, own: bool) -> Any:
    if isinstance(value, str):
        return value.replace("{unit_code}", world.unit_code[own])
    if isinstance(value, dict):
        return {k: _fill(v, world, own) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, world, own) for v in value]
    return value


def _url(path: str, world: World, own: bool) -> tuple[str, bool]:
    """The path with its parameters filled in, and whether it names a unit's object."""
    samples = {
        "case_id": str(world.case[own]),
        "code": world.survey if "/surveys/" in path else world.unit_code[own],
        "unit_code": world.unit_code[own],
    }
    scoped = False
    for name in re.findall(r"{(\w+)}", path):
        assert name in samples, f"no sample for path parameter {name!r} of {path}"
        scoped |= name in {"case_id", "unit_code"} or (name == "code" and "/surveys/" not in path)
        path = path.replace("{" + name + "}", samples[name])
    return path, scoped


def _query_params(dependant: Any) -> Iterator[Any]:
    yield from dependant.query_params
    for sub in dependant.dependencies:
        yield from _query_params(sub)


@pytest.fixture
async def world(app: FastAPI, sessionmaker: SessionMaker, settings: Settings) -> World:
    admin = Actor(name="setup", role=StaffRole.admin, units=None)
    async with unit_of_work(sessionmaker) as session:
        ids = {u.code: u.id for u in await units.list_units(session=session)}
        definition = demo.demo_survey(date(2025, 9, 1))
        await load_survey(session=session, definition=definition, source="demo")
        cases: dict[bool, int] = {}
        for own, code in ((True, OWN_UNIT), (False, OTHER_UNIT)):
            received = await feedback.receive_ratings(
                session=session,
                rows=[
                    {
                        "source_id": f"bad-{code}",
                        "unit": code,
                        "level": "dissatisfied",
                        "channel": 4,
                        "rated_at": "2025-09-20T09:00:00+08:00",
                    }
                ],
                source=RatingSource.api,
                actor=admin,
                tz=settings.tz,
                now=datetime(2025, 9, 22, tzinfo=UTC),
                grace_days=30,
                policy=workdays.policy_from(settings),
            )
            case: FollowUpCase = received.opened[0]
            assert case.id is not None
            cases[own] = case.id
    await bearer(sessionmaker, "perm-revoke", StaffRole.viewer, OWN_UNIT)
    for role in StaffRole:
        unit_codes = [] if role is StaffRole.admin else [OWN_UNIT]
        await add_user(sessionmaker, f"u-{role.value}", role, unit_codes)
    return World(
        case=cases,
        unit_id={True: ids[OWN_UNIT], False: ids[OTHER_UNIT]},  # type: ignore[dict-item]
        unit_code={True: OWN_UNIT, False: OTHER_UNIT},
        survey=definition.code,
    )


def test_every_route_declares_a_permission(app: FastAPI) -> None:
    endpoints = _routes(app)
    missing = [f"{e.method} {e.path}" for e in endpoints if e.perm is None]
    assert len(endpoints) > 10
    assert missing == []


async def _request(
    client: AsyncClient | Browser, method: str, url: str, body: Any, console: bool
) -> int:
    if console:
        assert isinstance(client, Browser)
        if method == "GET":
            return (await client.client.get(url)).status_code
        return (await client.post(url, body or {})).status_code
    assert isinstance(client, AsyncClient)
    response = (
        await client.request(method, url, json=body)
        if body is not None
        else (await client.request(method, url))
    )
    return response.status_code


def _judge(status: int, *, allowed: bool, sees: bool) -> tuple[bool, str]:
    """Whether the status is right, and what was wanted."""
    if not sees:
        # Another unit's object is 404 (its id reveals nothing); a refused role may get 403.
        return status in {403, 404}, "403/404"
    if not allowed:
        return status == 403, "403"
    return status not in REFUSED and status < 500, "allowed"


@pytest.mark.parametrize("role", list(StaffRole))
async def test_matrix(
    app: FastAPI, world: World, sessionmaker: SessionMaker, browser_for: Any, role: StaffRole
) -> None:
    unit = None if role is StaffRole.admin else OWN_UNIT
    headers = await bearer(sessionmaker, f"t-{role.value}", role, unit)
    failures: list[str] = []
    async with AsyncClient(
        transport=ASGITransport(app=app), base_url="http://test", headers=headers
    ) as api:
        for endpoint in _routes(app):
            method, path, perm = endpoint.method, endpoint.path, endpoint.perm
            if perm is None:
                continue  # test_every_route_declares_a_permission names it
            if path.startswith("/c/"):
                continue  # the citizens' web chat: public, nothing of staff (tests/api/webchat)
            if (
                path in {"/console/login", "/console/logout", "/console/password"}
                and method == "POST"
            ):
                continue  # sign-in itself: tests/console/test_auth.py
            console = path.startswith("/console")
            for own in (True, False):
                url, scoped = _url(path, world, own)
                query_scoped = not scoped and any(
                    q.name == "unit_id" for q in _query_params(endpoint.dependant)
                )
                if not own and not (scoped or query_scoped):
                    continue  # nothing unit-specific to refuse
                if query_scoped and not own:
                    url += f"?unit_id={world.unit_id[False]}"
                if (method, path) not in BODIES and method != "GET":
                    failures.append(f"no sample body for {method} {path}")
                    continue
                body = _fill(BODIES.get((method, path)), world, own)
                # A fresh session per request: a refused POST must not leave state behind.
                client: AsyncClient | Browser = (
                    await browser_for(f"u-{role.value}") if console else api
                )
                status = await _request(client, method, url, body, console)
                allowed = SERVICE_DECIDES.get((method, path), perm) in MAY[role]
                ok, want = _judge(status, allowed=allowed, sees=role is StaffRole.admin or own)
                if not ok:
                    failures.append(f"{role.value} {method} {url} ({perm}): {status}, want {want}")
    assert failures == [], "\n".join(failures)
