"""Every staff flow does the same through each adapter that offers it.

For each flow in :data:`surveys.flows.registry.FLOWS`, the same world is built once per
adapter (a fresh SQLite file: demo units, an admin account ``boss`` and an admin token
``boss``, plus what the scenario needs), the action is done through the console (a signed-in
browser without JavaScript), the REST API (a bearer token) or the CLI (``minyi --as boss``,
a real process), and the stored data are compared: the same rows changed, and exactly one
audit row of the flow's action with the same role, target and detail, naming the account
(``token:boss`` over the API) and the address (``cli`` from the command line).

A flow without a scenario here, or a scenario that misses one of the flow's adapters, fails.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient, Response
from sqlmodel import SQLModel

import scoring.flows  # noqa: F401  (registers the scoring flows)
import surveys.flows.accounts  # noqa: F401  (the flows register when imported)
import surveys.flows.broadcasts  # noqa: F401
import surveys.flows.calendar  # noqa: F401
import surveys.flows.case_closing  # noqa: F401
import surveys.flows.cases  # noqa: F401
import surveys.flows.exports  # noqa: F401
import surveys.flows.imports  # noqa: F401
import surveys.flows.integrations  # noqa: F401
import surveys.flows.privacy  # noqa: F401
import surveys.flows.sessions  # noqa: F401
import surveys.flows.surveys  # noqa: F401
import surveys.flows.units  # noqa: F401
from api.main import create_app
from scoring.demo import survey as demo
from surveys.accounts import accounts, staff, units
from surveys.accounts.access import StaffRole
from surveys.accounts.models import StaffUnit
from surveys.cases import service as cases
from surveys.cases.models import CaseView
from surveys.cases.workdays import DeadlinePolicy, load_calendar
from surveys.core.clock import today
from surveys.core.db import SessionMaker, create_engine, create_sessionmaker, unit_of_work
from surveys.core.models import pk, utcnow
from surveys.core.settings import Settings
from surveys.delivery import broadcasts
from surveys.flows.registry import FLOWS, Adapter
from surveys.haochaping.models import Rating, RatingSource
from surveys.questionnaire import catalog, respondents
from surveys.questionnaire.models import Identity
from tests.api.console.conftest import PASSWORD, Browser, add_user, bearer

REPO = Path(__file__).resolve().parents[2]
DEMO_DATA = REPO / "scoring" / "demo" / "data"
MINYI = REPO / ".venv" / "bin" / "minyi"
SECRET = "parity-secret-key"
BOSS = "boss"
# Tables and columns that differ between two runs of the same action for reasons that are
# not the action: signing in to the console, random secrets, clocks.
IGNORED_TABLES = {"audit_event", "login_attempt", "alembic_version"}
VOLATILE = ("_at", "_hash")
VOLATILE_COLUMNS = {"at", "session_version", "failed_logins", "locked_until", "last_login_at"}
ADDRESS = {Adapter.console: "127.0.0.1", Adapter.api: "127.0.0.1", Adapter.cli: "cli"}
ACTOR = {Adapter.console: BOSS, Adapter.api: f"token:{BOSS}", Adapter.cli: BOSS}
UNIT = "spj"  # 市审批服务局, a demo unit


@dataclass
class World:
    """One adapter's copy of the world: a data folder with its own SQLite file."""

    root: Path
    settings: Settings
    sessionmaker: SessionMaker
    token: dict[str, str] = field(default_factory=dict)
    ctx: dict[str, Any] = field(default_factory=dict)

    @property
    def db(self) -> Path:
        return self.root / "var" / "minyi.db"


Prepare = Callable[[World], Awaitable[None]]
ConsoleCall = Callable[[Browser, dict[str, Any]], Awaitable[Response]]
ApiCall = Callable[[AsyncClient, dict[str, Any]], Awaitable[Response]]
CliArgs = Callable[[dict[str, Any]], list[str]]


@dataclass(frozen=True)
class Scenario:
    prepare: Prepare | None = None
    console: ConsoleCall | None = None
    api: ApiCall | None = None
    cli: CliArgs | None = None

    def adapters(self) -> frozenset[Adapter]:
        found = {
            Adapter.console: self.console,
            Adapter.api: self.api,
            Adapter.cli: self.cli,
        }
        return frozenset(adapter for adapter, call in found.items() if call is not None)


# Worlds ---------------------------------------------------------------------------------


async def _open_case(world: World) -> None:
    """A 差评 of the demo unit with its follow-up case (待核实)."""
    async with unit_of_work(world.sessionmaker) as session:
        unit = await units.get_unit_or_raise(session=session, code=UNIT)
        rating = Rating(
            source=RatingSource.api,
            source_id="parity-1",
            unit_id=pk(unit),
            channel=1,
            level="very_dissatisfied",
            period="2026H2",
            rated_at=datetime(2026, 11, 2, 3, tzinfo=UTC),
        )
        session.add(rating)
        await session.flush()
        calendar = await load_calendar(session=session, tz=world.settings.tz)
        case = await cases.open_case(
            session=session, rating=rating, calendar=calendar, policy=DeadlinePolicy()
        )
        assert case is not None
        world.ctx["case"] = pk(case)


def _ok(response: Response) -> Response:
    assert response.status_code < 400, (response.status_code, response.text[:500])
    return response


# Scenarios ------------------------------------------------------------------------------


async def _console_move(browser: Browser, ctx: dict[str, Any]) -> Response:
    await browser.get(f"/console/cases/{ctx['case']}")
    return await browser.post(
        f"/console/cases/{ctx['case']}/transition", {"to": "核实中", "note": "已电话核实"}
    )


async def _api_move(client: AsyncClient, ctx: dict[str, Any]) -> Response:
    return await client.post(
        f"/api/v1/cases/{ctx['case']}/transition", json={"to": "核实中", "note": "已电话核实"}
    )


async def _console_reply(browser: Browser, ctx: dict[str, Any]) -> Response:
    await browser.get(f"/console/cases/{ctx['case']}")
    return await browser.post(f"/console/cases/{ctx['case']}/reply", {"text": "已整改，请复评"})


async def _api_reply(client: AsyncClient, ctx: dict[str, Any]) -> Response:
    return await client.post(f"/api/v1/cases/{ctx['case']}/reply", json={"text": "已整改，请复评"})


# 结案 and the cases closed without 复评 (surveys.flows.case_closing).

CLOSE_NOTE = "重复件，已并入同一事项办理"


async def _console_close(browser: Browser, ctx: dict[str, Any]) -> Response:
    await browser.get(f"/console/cases/{ctx['case']}")
    return await browser.post(f"/console/cases/{ctx['case']}/close", {"note": CLOSE_NOTE})


async def _api_close(client: AsyncClient, ctx: dict[str, Any]) -> Response:
    return await client.post(f"/api/v1/cases/{ctx['case']}/close", json={"note": CLOSE_NOTE})


async def _replied_case(world: World) -> None:
    """The case moved to 已反馈 on 2026-12-01 and never re-rated."""
    await _open_case(world)
    async with unit_of_work(world.sessionmaker) as session:
        case = await session.get_one(cases.FollowUpCase, world.ctx["case"])
        for to in (cases.S.verifying, cases.S.rectifying, cases.S.replied):
            event = await cases.transition(
                session=session, case=case, to=to, actor="li", actor_role="staff", note="已整改"
            )
        event.at = datetime(2026, 12, 1, 2, tzinfo=UTC)


CASE_CLOSING: dict[str, Scenario] = {
    "case.close": Scenario(
        prepare=_open_case,
        console=_console_close,
        api=_api_close,
        cli=lambda ctx: ["case", "close", str(ctx["case"]), "--note", CLOSE_NOTE],
    ),
    "case.close_unrerated": Scenario(
        prepare=_replied_case,
        cli=lambda ctx: ["case", "close-unrerated", "--today", "2026-12-20"],
    ),
}


# Worlds beyond the case: accounts, tokens, files and a survey the scenarios act on.

FILES = {
    "units.csv": "code,name,kind\nparity,平价测试局,市直部门\n".encode(),
    "ratings.csv": (
        "source_id,unit,level,channel,rated_at\n"
        "P-1,spj,非常不满意,4,2026-11-20T09:00:00+08:00\n"
        "P-2,spj,满意,4,2026-11-20T10:00:00+08:00\n"
    ).encode(),
    "daily.csv": (DEMO_DATA / "demo_daily_2026H1.csv").read_bytes(),
    "outside.csv": "单位编码,得分,样本量\nspj,88.5,400\n".encode("gbk"),
    "survey.yaml": demo.SURVEY_YAML.read_bytes(),
}
RATING = {
    "source_id": "push-1",
    "unit": UNIT,
    "level": "very_dissatisfied",
    "channel": 4,
    "rated_at": "2026-11-21T09:00:00+08:00",
}
EVENT = {
    "case_no": "BJ2026112300001",
    "item_code": "11150200MB",
    "item_name": "建设工程规划许可证核发",
    "unit": UNIT,
    "window": "W03",
    "channel": 4,
    "finished_at": "2026-11-20T10:00:00+08:00",
    "link_token": "rcpt-7f3a9c21",
}
# 12345 回访: a file and a pushed batch (surveys.flows.hotline).
FILES["hotline.csv"] = (
    "工单号,单位编码,事项名称,办结时间,第1次回访时间,第1次回访结果,是否满意\n"
    "H-1,spj,企业开办咨询,2026-11-20 16:30,2026-11-23 09:10,接通,不满意\n"
).encode("gbk")
HOTLINE = [{"ticket_no": "H-2", "unit": UNIT, "item_name": "企业开办咨询",
            "finished_at": "2026-11-20T16:30:00+08:00", "satisfaction": "不满意",
            "attempts": [{"at": "2026-11-23T09:10:00+08:00", "outcome": "接通"}]}]  # fmt: skip


async def _api_hotline(client: AsyncClient, ctx: dict[str, Any]) -> Response:
    return await client.post("/api/v1/hotline-visits", json=HOTLINE)


def _account(name: str, role: StaffRole, unit_codes: list[str], *, active: bool = True) -> Prepare:
    async def prepare(world: World) -> None:
        await add_user(world.sessionmaker, name, role, unit_codes)
        if not active:
            async with unit_of_work(world.sessionmaker) as session:
                await accounts.set_active(session=session, username=name, active=False)

    return prepare


async def _erp_token(world: World) -> None:
    await bearer(world.sessionmaker, "erp", StaffRole.staff, UNIT)


async def _bot_staff(world: World) -> None:
    async with unit_of_work(world.sessionmaker) as session:
        await staff.add_staff(
            session=session, username="helper", role=StaffRole.staff, unit_codes=[UNIT]
        )


async def _demo_survey(world: World) -> None:
    definition = demo.demo_survey(today(world.settings.tz))
    async with unit_of_work(world.sessionmaker) as session:
        await catalog.load_survey(session=session, definition=definition, source="demo survey")
    world.ctx["survey"] = definition.code


async def _files(world: World) -> None:
    for name, data in FILES.items():
        (world.root / name).write_bytes(data)


async def _contacts(world: World) -> None:
    """Two citizens' chat ids: one unused since 2020 (past the retention), one seen today."""
    async with unit_of_work(world.sessionmaker) as session:
        for chat_id, seen in ((1001, datetime(2020, 1, 1, tzinfo=UTC)), (1002, utcnow())):
            respondent = await respondents.get_or_create_respondent(
                session=session, secret=b"parity", channel="telegram", external_id=chat_id
            )
            session.add(
                Identity(
                    respondent_id=pk(respondent),
                    channel="telegram",
                    chat_id=chat_id,
                    created_at=seen,
                    last_seen_at=seen,
                )
            )


async def _broadcast(world: World) -> None:
    """A running broadcast of the demo survey (and one consenting citizen, not yet invited)."""
    await _demo_survey(world)
    async with unit_of_work(world.sessionmaker) as session:
        respondent = await respondents.get_or_create_respondent(
            session=session, secret=b"parity", channel="telegram", external_id=1003
        )
        await respondents.remember_contact(
            session=session,
            respondent=respondent,
            channel="telegram",
            chat_id=1003,
            language_code=None,
        )
        await respondents.set_invite_consent(
            session=session, respondent=respondent, consent=True, now=utcnow()
        )
        started = await broadcasts.start(
            session=session,
            survey_code=world.ctx["survey"],
            created_by=BOSS,
            today=today(world.settings.tz),
            now=utcnow(),
        )
        world.ctx["broadcast"] = pk(started)


async def _paused_broadcast(world: World) -> None:
    await _broadcast(world)
    async with unit_of_work(world.sessionmaker) as session:
        await broadcasts.pause(session=session, broadcast_id=world.ctx["broadcast"])


def _page_post(page: str, url: str, data: dict[str, Any]) -> ConsoleCall:
    async def call(browser: Browser, ctx: dict[str, Any]) -> Response:
        await browser.get(page)
        return await browser.post(url, data)

    return call


def _upload(page: str, url: str, name: str, data: dict[str, Any] | None = None) -> ConsoleCall:
    async def call(browser: Browser, ctx: dict[str, Any]) -> Response:
        await browser.get(page)
        return await browser.post(url, data or {}, files={"file": (name, FILES[name])})

    return call


def _download(url: str) -> ConsoleCall:
    async def call(browser: Browser, ctx: dict[str, Any]) -> Response:
        return await browser.get(url.format(**ctx))

    return call


def _api_post(url: str, body: dict[str, Any] | None = None) -> ApiCall:
    async def call(client: AsyncClient, ctx: dict[str, Any]) -> Response:
        return await client.post(url.format(**ctx), json=body)

    return call


def _api_get(url: str) -> ApiCall:
    async def call(client: AsyncClient, ctx: dict[str, Any]) -> Response:
        return await client.get(url.format(**ctx))

    return call


async def _api_survey(client: AsyncClient, ctx: dict[str, Any]) -> Response:
    headers = {"Content-Type": "application/yaml"}
    return await client.post("/api/v1/surveys", content=FILES["survey.yaml"], headers=headers)


def _both(*steps: Prepare) -> Prepare:
    async def prepare(world: World) -> None:
        for step in steps:
            await step(world)

    return prepare


WORKER = _account("worker", StaffRole.staff, [UNIT])


async def _boss_serves_unit(world: World) -> None:
    """The case's unit with ``boss`` among its staff, who may then take its cases."""
    await _open_case(world)
    async with unit_of_work(world.sessionmaker) as session:
        unit = await units.get_unit_or_raise(session=session, code=UNIT)
        boss = await accounts.get_user(session=session, username=BOSS)
        assert boss is not None
        session.add(StaffUnit(user_id=pk(boss), unit_id=pk(unit)))


async def _boss_view(world: World) -> None:
    async with unit_of_work(world.sessionmaker) as session:
        boss = await accounts.get_user(session=session, username=BOSS)
        assert boss is not None
        session.add(CaseView(user_id=pk(boss), name="整改中", query="state=整改中"))


def _queue_post(url: str, data: dict[str, Any]) -> ConsoleCall:
    async def call(browser: Browser, ctx: dict[str, Any]) -> Response:
        await browser.get("/console/cases")
        return await browser.post(url, {k: str(v).format(**ctx) for k, v in data.items()})

    return call


def _case_post(action: str, data: dict[str, Any]) -> ConsoleCall:
    async def call(browser: Browser, ctx: dict[str, Any]) -> Response:
        await browser.get(f"/console/cases/{ctx['case']}")
        return await browser.post(f"/console/cases/{ctx['case']}/{action}", data)

    return call


async def _api_bulk(client: AsyncClient, ctx: dict[str, Any]) -> Response:
    return await client.post(
        "/api/v1/cases/bulk/assign", json={"cases": [ctx["case"]], "assignee": "worker"}
    )


async def _api_bulk_escalate(client: AsyncClient, ctx: dict[str, Any]) -> Response:
    return await client.post("/api/v1/cases/bulk/escalate", json={"cases": [ctx["case"]]})


CASE_WORK: dict[str, Scenario] = {
    "case.assign": Scenario(
        prepare=_both(_open_case, WORKER),
        console=_case_post("assign", {"assignee": "worker"}),
        api=_api_post("/api/v1/cases/{case}/assign", {"assignee": "worker"}),
        cli=lambda ctx: ["case", "assign", str(ctx["case"]), "worker"],
    ),
    "case.claim": Scenario(
        prepare=_boss_serves_unit,
        console=_case_post("claim", {}),
        cli=lambda ctx: ["case", "claim", str(ctx["case"])],
    ),
    "case.bulk_assign": Scenario(
        prepare=_both(_open_case, WORKER),
        console=_queue_post(
            "/console/cases/bulk", {"case": "{case}", "action": "assign", "assignee": "worker"}
        ),
        api=_api_bulk,
        cli=lambda ctx: ["case", "bulk-assign", str(ctx["case"]), "--to", "worker"],
    ),
    "case.bulk_escalate": Scenario(
        prepare=_open_case,
        console=_queue_post("/console/cases/bulk", {"case": "{case}", "action": "escalate"}),
        api=_api_bulk_escalate,
        cli=lambda ctx: ["case", "bulk-escalate", str(ctx["case"])],
    ),
    "case.view_save": Scenario(
        console=_queue_post("/console/cases/views", {"name": "整改中", "query": "state=整改中"}),
        cli=lambda ctx: ["case", "view", "save", "整改中", "state=整改中"],
    ),
    "case.view_delete": Scenario(
        prepare=_boss_view,
        console=_queue_post("/console/cases/views/delete", {"name": "整改中"}),
        cli=lambda ctx: ["case", "view", "delete", "整改中"],
    ),
}
NEW_PASSWORD = "parity-new-password-2026"
USERS = "/console/users"
TOKENS = "/console/tokens"
SCENARIOS: dict[str, Scenario] = {
    "case.transition": Scenario(
        prepare=_open_case,
        console=_console_move,
        api=_api_move,
        cli=lambda ctx: ["case", "move", str(ctx["case"]), "核实中", "--note", "已电话核实"],
    ),
    **CASE_CLOSING,  # 结案, closing without 复评
    "case.reply": Scenario(
        prepare=_open_case,
        console=_console_reply,
        api=_api_reply,
        cli=lambda ctx: ["case", "reply", str(ctx["case"]), "已整改，请复评"],
    ),
    "case.escalate": Scenario(prepare=_open_case, cli=lambda ctx: ["case", "escalate"]),
    # 承办人, 督办 of chosen cases, saved views.
    **CASE_WORK,
    "user.create": Scenario(
        console=_page_post(USERS, USERS, {"username": "newbie", "role": "staff", "unit": UNIT}),
        cli=lambda ctx: ["user", "add", "newbie", "--role", "staff", "--unit", UNIT],
    ),
    "user.reset": Scenario(
        prepare=WORKER,
        console=_page_post(USERS, f"{USERS}/reset", {"username": "worker"}),
        cli=lambda ctx: ["user", "reset", "worker"],
    ),
    "user.disable": Scenario(
        prepare=WORKER,
        console=_page_post(USERS, f"{USERS}/disable", {"username": "worker"}),
        cli=lambda ctx: ["user", "disable", "worker"],
    ),
    "user.enable": Scenario(
        prepare=_account("worker", StaffRole.staff, [UNIT], active=False),
        console=_page_post(USERS, f"{USERS}/enable", {"username": "worker"}),
        cli=lambda ctx: ["user", "enable", "worker"],
    ),
    "user.link_code": Scenario(
        prepare=WORKER,
        console=_page_post(USERS, f"{USERS}/link-code", {"username": "worker"}),
        cli=lambda ctx: ["user", "link-code", "worker"],
    ),
    "staff.add": Scenario(
        cli=lambda ctx: ["staff", "add", "helper", "--role", "staff", "--unit", UNIT]
    ),
    "staff.link_code": Scenario(
        prepare=_bot_staff, cli=lambda ctx: ["staff", "link-code", "helper"]
    ),
    "token.create": Scenario(
        console=_page_post(TOKENS, TOKENS, {"name": "erp", "role": "staff", "unit": UNIT}),
        cli=lambda ctx: ["token", "create", "erp", "--role", "staff", "--unit", UNIT],
    ),
    "token.revoke": Scenario(
        prepare=_erp_token,
        console=_page_post(TOKENS, f"{TOKENS}/revoke", {"name": "erp"}),
        cli=lambda ctx: ["token", "revoke", "erp"],
    ),
    "units.load": Scenario(
        prepare=_files,
        console=_upload("/console/units", "/console/units", "units.csv"),
        cli=lambda ctx: ["units", "load", "units.csv"],
    ),
    "import.ratings": Scenario(
        prepare=_files,
        console=_upload("/console/imports", "/console/imports", "ratings.csv"),
        cli=lambda ctx: ["import", "ratings", "ratings.csv"],
    ),
    "import.monitoring": Scenario(
        prepare=_files,
        console=_upload(
            "/console/scoring",
            "/console/scoring/import",
            "daily.csv",
            {"period": "2026H1", "component": "日常监测"},
        ),
        cli=lambda ctx: [
            "import",
            "monitoring",
            "daily.csv",
            "--period",
            "2026H1",
            "--component",
            "日常监测",
        ],  # fmt: skip
    ),
    "import.outside": Scenario(
        prepare=_files,
        console=_upload(
            "/console/scoring",
            "/console/scoring/outside",
            "outside.csv",
            {"period": "2026H1", "source": "蒙速办满意度", "note": "平台评价，按办事人计"},
        ),
        cli=lambda ctx: [
            "import",
            "outside",
            "outside.csv",
            "--period",
            "2026H1",
            "--source",
            "蒙速办满意度",
            "--note",
            "平台评价，按办事人计",
        ],  # fmt: skip
    ),
    "calendar.set": Scenario(
        cli=lambda ctx: [
            "calendar",
            "set",
            "2027-02-06",
            "--holiday",
            "--source",
            "国办发明电〔2026〕1号",
        ],  # fmt: skip
    ),
    "survey.load": Scenario(
        prepare=_files,
        api=_api_survey,
        cli=lambda ctx: ["survey", "load", "survey.yaml"],
    ),
    "survey.publish": Scenario(
        prepare=_demo_survey,
        api=_api_post("/api/v1/surveys/{survey}/publish"),
        cli=lambda ctx: ["survey", "publish", ctx["survey"]],
    ),
    "survey.close": Scenario(
        prepare=_demo_survey,
        api=_api_post("/api/v1/surveys/{survey}/close"),
        cli=lambda ctx: ["survey", "close", ctx["survey"]],
    ),
    "export.results": Scenario(
        prepare=_demo_survey, console=_download("/console/results/export?survey={survey}")
    ),
    "export.scores": Scenario(
        console=_download("/console/scoring/export?period=2026H1&fmt=csv"),
        cli=lambda ctx: ["score", "--period", "2026H1", "--out", "out", "--format", "csv"],
    ),
    "export.circular": Scenario(
        console=_download("/console/circular/export?period=2026H1&fmt=xlsx"),
        cli=lambda ctx: ["circular", "--period", "2026H1", "--out", "out", "--format", "xlsx"],
    ),
    "export.feedback": Scenario(
        console=_download(f"/console/feedback/{UNIT}/pdf?period=2026H1"),
        cli=lambda ctx: ["feedback", "--period", "2026H1", "--out", "out", "--unit", UNIT],
    ),
    "export.ledger": Scenario(
        prepare=_open_case,
        console=_download(f"/console/cases/ledger.csv?unit={UNIT}"),
        api=_api_get(f"/api/v1/cases/ledger?format=csv&unit={UNIT}"),
        cli=lambda ctx: ["export", "ledger", "--out", "ledger.csv", "--unit", UNIT],
    ),
    "export.haochaping": Scenario(
        cli=lambda ctx: ["export", "haochaping", "--period", "2026H1", "--out", "h.json"],
    ),
    "export.analysis": Scenario(
        console=_download(f"/console/analysis/export?unit={UNIT}&fmt=csv"),
    ),
    "logout": Scenario(console=_page_post("/console/dashboard", "/console/logout", {})),
    "password.change": Scenario(
        console=_page_post(
            "/console/password",
            "/console/password",
            {"current": PASSWORD, "new": NEW_PASSWORD, "repeat": NEW_PASSWORD},
        )
    ),
    "privacy.purge": Scenario(prepare=_contacts, cli=lambda ctx: ["privacy", "purge"]),
    "broadcast.start": Scenario(
        prepare=_demo_survey, cli=lambda ctx: ["broadcast", "start", "--survey", ctx["survey"]]
    ),
    "broadcast.pause": Scenario(
        prepare=_broadcast, cli=lambda ctx: ["broadcast", "pause", str(ctx["broadcast"])]
    ),
    "broadcast.resume": Scenario(
        prepare=_paused_broadcast, cli=lambda ctx: ["broadcast", "resume", str(ctx["broadcast"])]
    ),
    "ratings.push": Scenario(api=_api_post("/api/v1/ratings", RATING)),
    "hotline.push": Scenario(api=_api_hotline),
    "import.hotline": Scenario(
        prepare=_files,
        console=_upload("/console/hotline", "/console/hotline/import", "hotline.csv"),
        cli=lambda ctx: ["import", "hotline", "hotline.csv"],
    ),
    "service_event.push": Scenario(api=_api_post("/api/v1/service-events", EVENT)),
}


# The machinery --------------------------------------------------------------------------


def _settings(root: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=root / "var",
        secret_key=SECRET,  # type: ignore[arg-type]
    )


async def _world(root: Path, scenario: Scenario) -> World:
    settings = _settings(root)
    engine = create_engine(settings.db_url)
    async with engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.create_all)
    world = World(root, settings, create_sessionmaker(engine))
    parsed = units.parse_units_csv(demo.UNITS_CSV.read_text("utf-8"), source="units.csv")
    async with unit_of_work(world.sessionmaker) as session:
        await units.upsert_units(session=session, units=parsed)
    await add_user(world.sessionmaker, BOSS, StaffRole.admin, [])
    world.token = await bearer(world.sessionmaker, BOSS, StaffRole.admin, None)
    if scenario.prepare is not None:
        await scenario.prepare(world)
    await engine.dispose()
    return world


def _snapshot(db: Path) -> dict[str, Counter[str]]:
    """Every table's rows without the columns that differ for reasons not the action's."""
    found: dict[str, Counter[str]] = {}
    with closing(sqlite3.connect(db)) as connection:
        tables = [
            name
            for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
            if name not in IGNORED_TABLES and not name.startswith("sqlite_")
        ]
        for table in tables:
            cursor = connection.execute(f'SELECT * FROM "{table}"')  # noqa: S608 (own names)
            names = [d[0] for d in cursor.description]
            keep = [
                i
                for i, name in enumerate(names)
                if name not in VOLATILE_COLUMNS and not name.endswith(VOLATILE)
            ]
            found[table] = Counter(
                json.dumps([names[i] for i in keep] + [row[i] for i in keep], default=str)
                for row in cursor
            )
    return found


def _audit(db: Path, action: str) -> list[dict[str, Any]]:
    with closing(sqlite3.connect(db)) as connection:
        connection.row_factory = sqlite3.Row
        rows = connection.execute(
            "SELECT actor, role, action, target, address, detail FROM audit_event"
            " WHERE action = ?",
            (action,),
        ).fetchall()
    return [{**dict(row), "detail": json.loads(row["detail"] or "{}")} for row in rows]


def _diff(before: dict[str, Counter[str]], after: dict[str, Counter[str]]) -> dict[str, Any]:
    changed: dict[str, Any] = {}
    for table in sorted(set(before) | set(after)):
        old, new = before.get(table, Counter()), after.get(table, Counter())
        if old != new:
            gone, added = sorted((old - new).elements()), sorted((new - old).elements())
            changed[table] = {"-": gone, "+": added}
    return changed


async def _through_console(world: World, scenario: Scenario) -> None:
    assert scenario.console is not None
    engine = create_engine(world.settings.db_url)
    app = create_app(world.settings, create_sessionmaker(engine))
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        browser = Browser(client)
        await browser.get("/console/login")
        signed = await browser.post("/console/login", {"username": BOSS, "password": PASSWORD})
        assert signed.status_code == 303, signed.text
        _ok(await scenario.console(browser, world.ctx))
    await engine.dispose()


async def _through_api(world: World, scenario: Scenario) -> None:
    assert scenario.api is not None
    engine = create_engine(world.settings.db_url)
    app = create_app(world.settings, create_sessionmaker(engine))
    transport = ASGITransport(app=app)
    async with AsyncClient(transport=transport, base_url="http://test", headers=world.token) as c:
        _ok(await scenario.api(c, world.ctx))
    await engine.dispose()


def _through_cli(world: World, scenario: Scenario) -> None:
    assert scenario.cli is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MINYI_", "BOT_"))}
    env.update(DATA_DIR=str(world.root / "var"), SECRET_KEY=SECRET, DATABASE_URL="")
    env.pop("DATABASE_URL")
    done = subprocess.run(
        [str(MINYI), "--as", BOSS, *scenario.cli(world.ctx)],
        cwd=world.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr


async def _run(tmp_path: Path, action: str, adapter: Adapter) -> tuple[dict[str, Any], dict]:
    scenario = SCENARIOS[action]
    world = await _world(tmp_path / adapter.value, scenario)
    before = _snapshot(world.db)
    if adapter is Adapter.console:
        await _through_console(world, scenario)
    elif adapter is Adapter.api:
        await _through_api(world, scenario)
    else:
        _through_cli(world, scenario)
    audits = _audit(world.db, action)
    assert len(audits) == 1, f"{action} via {adapter}: {len(audits)} audit rows"
    (row,) = audits
    assert row["actor"] == ACTOR[adapter]
    assert row["address"] == ADDRESS[adapter]
    return _diff(before, _snapshot(world.db)), row


def test_every_flow_has_a_scenario_for_each_of_its_adapters() -> None:
    assert set(SCENARIOS) == set(FLOWS), "flows and parity scenarios differ"
    for action, spec in FLOWS.items():
        assert SCENARIOS[action].adapters() == spec.adapters, action


@pytest.mark.parametrize("action", sorted(SCENARIOS))
async def test_each_adapter_stores_the_same_and_audits_once(tmp_path: Path, action: str) -> None:
    spec = FLOWS[action]
    results = {a: await _run(tmp_path, action, a) for a in sorted(spec.adapters)}
    changes = {a: change for a, (change, _) in results.items()}
    audits = {
        a: {k: v for k, v in row.items() if k not in ("actor", "address")}
        for a, (_, row) in results.items()
    }
    first = sorted(spec.adapters)[0]
    for adapter in spec.adapters:
        assert changes[adapter] == changes[first], f"{action}: {adapter} vs {first}"
        assert audits[adapter] == audits[first], f"{action}: {adapter} vs {first}"
