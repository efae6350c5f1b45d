"""Nothing personal reaches staff: every staff-facing output, scanned for the masking corpus.

Every variant of :mod:`tests.surveys.core.masking_corpus` (phones, ID numbers and e-mail
addresses as people write them) is put into every text a citizen or an integrator gives:
ratings through the API and through a file import (comment, reasons, item name and code,
window code, source id), staff replies and notes, citizen messages, survey free text. Then
every output staff read is fetched: console pages (case queue and details, dashboard,
results, 考评结果, 反馈单, audit log), REST API responses, the command line's ``case list`` and
``case show``, CSV/XLSX exports and the log. None may hold a number or address in full, as
written or as bare digits.

The 反馈单 PDF is fetched but not scanned: its text is stored as font glyph ids, and this
machine has no PDF text extractor; it is drawn from the same sheet as the HTML page, which
is scanned.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from httpx import ASGITransport, AsyncClient
from openpyxl import load_workbook  # type: ignore[import-untyped]
from sqlmodel import SQLModel, select
from typer.testing import CliRunner

from api.cli import app as cli_app
from api.main import create_app
from scoring.demo import survey as demo
from surveys.accounts import units
from surveys.accounts.access import Actor, StaffRole
from surveys.cases import service as cases
from surveys.cases.models import FollowUpCase
from surveys.core.db import SessionMaker, create_engine, create_sessionmaker, unit_of_work
from surveys.core.models import pk
from surveys.core.settings import Settings, get_settings
from surveys.flows import imports as import_flows
from surveys.haochaping.models import Rating
from surveys.haochaping.ratings import period_of
from surveys.questionnaire import catalog
from tests.api.console.conftest import PASSWORD, Browser, add_user, bearer
from tests.surveys.core.masking_corpus import VARIANTS, Variant
from tests.surveys.questionnaire.test_results import CODE, add_response, definition

SHANGHAI = ZoneInfo("Asia/Shanghai")
UNIT = "spj"  # 市审批服务局, a demo unit
BOSS = "boss"
SECRET = "privacy-scan-secret"
ADMIN = Actor(name=BOSS, role=StaffRole.admin, units=None)


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).upper()


NEEDLES = [
    (variant, needle)
    for variant in VARIANTS
    for secret, written in zip(variant.secrets, variant.written, strict=True)
    for needle in {_fold(secret), _fold(written)}
]


@dataclass
class World:
    root: Path
    settings: Settings
    period: str
    case_ids: list[int] = field(default_factory=list)


@dataclass
class Scan:
    """Outputs scanned so far and every unmasked hit in them."""

    outputs: dict[str, int] = field(default_factory=dict)  # output type -> texts scanned
    hits: list[str] = field(default_factory=list)

    def check(self, kind: str, text: str) -> None:
        self.outputs[kind] = self.outputs.get(kind, 0) + 1
        folded = _fold(text)
        for variant, needle in NEEDLES:
            if needle in folded:
                self.hits.append(f"{kind}: {needle!r} (from {variant.text!r})")


def _rating_row(index: int, variant: Variant, rated_at: str) -> dict[str, Any]:
    text = variant.text
    return {
        "source_id": text if len(text) <= 64 else f"long-{index}",
        "unit": UNIT,
        "level": "dissatisfied",
        "channel": 4,
        "rated_at": rated_at,
        "item_code": text if len(text) <= 64 else None,
        "item_name": text,
        "window": text if len(text) <= 32 else None,
        "reasons": [text, "等候时间长"],
        "comment": text,
        "contact_ok": True,
    }


def _client(app: Any, **kwargs: Any) -> AsyncClient:
    return AsyncClient(transport=ASGITransport(app=app), base_url="http://test", **kwargs)


async def _build(world: World) -> None:
    engine = create_engine(world.settings.db_url)
    async with engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.create_all)
    try:
        await _fill(world, create_sessionmaker(engine))
    finally:
        await engine.dispose()


async def _fill(world: World, sessionmaker: SessionMaker) -> None:
    parsed = units.parse_units_csv(demo.UNITS_CSV.read_text("utf-8"), source="units.csv")
    async with unit_of_work(sessionmaker) as session:
        await units.upsert_units(session=session, units=parsed)
    await add_user(sessionmaker, BOSS, StaffRole.admin, [])
    app = create_app(world.settings, sessionmaker)
    headers = await bearer(sessionmaker, BOSS, StaffRole.admin, None)
    rated = (datetime.now(SHANGHAI) - timedelta(days=1)).replace(microsecond=0)
    rows = [_rating_row(i, v, rated.isoformat()) for i, v in enumerate(VARIANTS)]
    async with _client(app, headers=headers) as api:
        pushed = await api.post("/api/v1/ratings", json=rows)
        assert pushed.status_code == 200, pushed.text
        assert pushed.json()["errors"] == [], pushed.text
    await _import_file(world, sessionmaker, rows)
    await _answer_survey(world, sessionmaker)
    async with unit_of_work(sessionmaker) as session:
        found = (await session.exec(select(FollowUpCase).order_by(FollowUpCase.id))).all()
        world.case_ids = [pk(case) for case in found]
    assert len(world.case_ids) == 2 * len(VARIANTS)
    await _work_cases(world, sessionmaker, app, headers)


async def _import_file(
    world: World, sessionmaker: SessionMaker, rows: list[dict[str, Any]]
) -> None:
    path = world.root / "ratings.csv"
    columns = list(rows[0])
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(columns)
        for row in rows:
            cells = {**row, "reasons": "；".join(row["reasons"])}
            writer.writerow(["" if cells[c] is None else cells[c] for c in columns])
    async with unit_of_work(sessionmaker) as session:
        received = await import_flows.import_ratings(
            session=session, actor=ADMIN, path=path, source="ratings.csv",
            settings=world.settings, now=datetime.now(SHANGHAI),
        )  # fmt: skip
    assert len(received.result.created) == len(rows)


async def _answer_survey(world: World, sessionmaker: SessionMaker) -> None:
    async with unit_of_work(sessionmaker) as session:
        version = (
            await catalog.load_survey(session=session, definition=definition(), source="t")
        ).version
        unit = await units.get_unit_or_raise(session=session, code=UNIT)
        for variant in VARIANTS:
            await add_response(
                session, version, pk(unit), {"sat": "dissatisfied", "note": variant.text},
                period=world.period,
            )  # fmt: skip


async def _work_cases(
    world: World, sessionmaker: SessionMaker, app: Any, headers: dict[str, str]
) -> None:
    """Staff reply and move quoting the corpus; citizens write back quoting it too."""
    async with _client(app, headers=headers) as api:
        for case_id, variant in zip(world.case_ids, VARIANTS * 2, strict=True):
            reply = await api.post(f"/api/v1/cases/{case_id}/reply", json={"text": variant.text})
            assert reply.status_code == 200, reply.text
            moved = await api.post(
                f"/api/v1/cases/{case_id}/transition",
                json={"to": "核实中", "note": f"已联系 {variant.text}"},
            )
            assert moved.status_code == 200, moved.text
    async with unit_of_work(sessionmaker) as session:
        for case_id, variant in zip(world.case_ids, VARIANTS * 2, strict=True):
            case = await session.get(FollowUpCase, case_id)
            assert case is not None
            await cases.add_citizen_message(
                session=session, case=case, text=f"我的联系方式 {variant.text}"
            )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("privacy")
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=root / "var",
        secret_key=SECRET,  # type: ignore[arg-type]
    )
    built = World(root, settings, period_of(datetime.now(SHANGHAI), SHANGHAI))
    asyncio.run(_build(built))
    return built


@pytest.fixture(scope="module")
def scan() -> Iterator[Scan]:
    found = Scan()
    yield found
    total = sum(found.outputs.values())
    print(  # noqa: T201 (the figures of the scan, shown with -s)
        f"\nprivacy scan: {len(VARIANTS)} variants, {len(NEEDLES)} needles, "
        f"{len(found.outputs)} output types, {total} texts, {len(found.hits)} hits "
        f"in {len({hit.split(':')[0] for hit in found.hits})} output types"
    )


@pytest.fixture
async def app(world: World) -> Any:
    engine = create_engine(world.settings.db_url)
    yield create_app(world.settings, create_sessionmaker(engine))
    await engine.dispose()


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO)  # LOG_LEVEL's default
    return caplog


def _xlsx_text(body: bytes) -> str:
    book = load_workbook(io.BytesIO(body), read_only=True)
    return "\n".join(
        str(cell)
        for sheet in book.worksheets
        for row in sheet.iter_rows(values_only=True)
        for cell in row
        if cell is not None
    )


def test_the_world_holds_the_corpus_unmasked(world: World) -> None:
    """The scan means something only if the data really hold every variant in full."""

    async def stored() -> list[str]:
        engine = create_engine(world.settings.db_url)
        async with create_sessionmaker(engine)() as session:
            comments = (await session.exec(select(Rating.comment))).all()
        await engine.dispose()
        return [c or "" for c in comments]

    stored_text = _fold("\n".join(asyncio.run(stored())))
    written = {_fold(w) for variant in VARIANTS for w in variant.written}
    assert [w for w in written if w not in stored_text] == []
    found = Scan()
    found.check("stored comments", stored_text)
    assert len(found.hits) >= len(written)


async def test_console_pages(
    world: World, app: Any, scan: Scan, logged: pytest.LogCaptureFixture
) -> None:
    async with _client(app) as client:
        browser = Browser(client)
        await browser.get("/console/login")
        signed_in = await browser.post("/console/login", {"username": BOSS, "password": PASSWORD})
        assert signed_in.status_code == 303, signed_in.text
        pages = {
            "console case queue": "/console/cases?limit=200",
            "console dashboard": "/console/dashboard",
            "console results": f"/console/results?survey={CODE}",
            "console scoring": f"/console/scoring?period={world.period}",
            "console 反馈单": f"/console/feedback/{UNIT}?period={world.period}",
            "console audit log": "/console/audit",
        }
        for kind, url in pages.items():
            page = await browser.get(url)
            assert page.status_code == 200, (url, page.text[:500])
            scan.check(kind, page.text)
        for offset in range(0, len(VARIANTS), 50):
            page = await browser.get(f"/console/results?survey={CODE}&offset={offset}")
            scan.check("console results", page.text)
        for case_id in world.case_ids:
            page = await browser.get(f"/console/cases/{case_id}")
            assert page.status_code == 200, page.text[:500]
            scan.check("console case detail", page.text)
        for fmt in ("csv", "xlsx"):
            export = await browser.get(f"/console/results/export?survey={CODE}&fmt={fmt}")
            assert export.status_code == 200, export.text[:500]
            text = (
                export.content.decode("utf-8-sig") if fmt == "csv" else _xlsx_text(export.content)
            )
            scan.check(f"results export {fmt}", text)
            scoring = await browser.get(f"/console/scoring/export?period={world.period}&fmt={fmt}")
            if scoring.status_code == 200:
                body = scoring.content
                scan.check(
                    f"scoring export {fmt}",
                    body.decode("utf-8-sig", "replace") if fmt == "csv" else _xlsx_text(body),
                )
        pdf = await browser.get(f"/console/feedback/{UNIT}/pdf?period={world.period}")
        assert pdf.status_code == 200
        assert pdf.content.startswith(b"%PDF")
    scan.check("log (console)", logged.text)
    assert scan.hits == []


async def _pages(api: AsyncClient, url: str, **params: Any) -> list[str]:
    texts, offset = [], 0
    while True:
        response = await api.get(url, params={**params, "offset": offset, "limit": 200})
        assert response.status_code == 200, (url, response.text[:500])
        texts.append(response.text)
        body = response.json()
        offset += len(body["data"])
        if not body["data"] or offset >= body["count"]:
            return texts


async def test_api_responses(
    world: World, app: Any, scan: Scan, logged: pytest.LogCaptureFixture
) -> None:
    async def headers() -> dict[str, str]:
        engine = create_engine(world.settings.db_url)
        found = await bearer(create_sessionmaker(engine), "scan", StaffRole.admin, None)
        await engine.dispose()
        return found

    async with _client(app, headers=await headers()) as api:
        listed: dict[str, tuple[str, dict[str, Any]]] = {
            "api ratings": ("/api/v1/ratings", {}),
            "api cases": ("/api/v1/cases", {}),
            "api indicators by unit": ("/api/v1/indicators", {"group_by": "unit"}),
            "api indicators by item": ("/api/v1/indicators", {"group_by": "item"}),
            "api indicators by window": ("/api/v1/indicators", {"group_by": "window"}),
            "api free text": (f"/api/v1/surveys/{CODE}/free-text", {}),
            "api responses": ("/api/v1/responses", {}),
        }
        for kind, (url, params) in listed.items():
            for text in await _pages(api, url, **params):
                scan.check(kind, text)
        results = await api.get(f"/api/v1/surveys/{CODE}/results")
        assert results.status_code == 200
        scan.check("api survey results", results.text)
        for case_id in world.case_ids:
            case = await api.get(f"/api/v1/cases/{case_id}")
            assert case.status_code == 200
            scan.check("api case", case.text)
    scan.check("log (api)", logged.text)
    assert scan.hits == []


def test_command_line(world: World, scan: Scan, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_DIR", str(world.settings.data_dir))
    monkeypatch.setenv("SECRET_KEY", SECRET)
    monkeypatch.delenv("MINYI_USER", raising=False)
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        listed = runner.invoke(cli_app, ["case", "list"])
        assert listed.exit_code == 0, listed.output
        assert listed.output.count("\n") >= len(world.case_ids)
        scan.check("cli case list", listed.output)
        for case_id in world.case_ids:
            shown = runner.invoke(cli_app, ["case", "show", str(case_id)])
            assert shown.exit_code == 0, shown.output
            assert "comment: " in shown.output
            scan.check("cli case show", shown.output)
    finally:
        get_settings.cache_clear()
    assert scan.hits == []


def test_every_output_type_was_scanned(scan: Scan) -> None:
    """Runs last: the figures, and proof that no output type was skipped silently."""
    assert len(scan.outputs) >= 20, scan.outputs
    assert scan.hits == []
