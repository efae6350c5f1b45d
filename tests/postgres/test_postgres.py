"""minyi on a real PostgreSQL server: the same code, only DATABASE_URL changes.

The server is started by ``scripts/postgres.sh`` (see conftest.py); each test that migrates
gets a database of its own.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel, col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

import surveys.schema  # noqa: F401  (registers every table)
from scoring.demo.survey import UNITS_CSV, demo_survey
from surveys.accounts import tokens
from surveys.accounts.models import Unit, UnitKind
from surveys.accounts.units import parse_units_csv, upsert_units
from surveys.core import migrate
from surveys.core.db import SessionMaker, create_engine, create_sessionmaker, unit_of_work
from surveys.core.exceptions import AlreadyResponded
from surveys.core.i18n import Msg
from surveys.haochaping import service_events
from surveys.haochaping.models import ServiceEvent
from surveys.questionnaire import catalog, conversation, respondents
from surveys.questionnaire.engine import Done, Input, Pick, Skip, Text
from surveys.questionnaire.models import (
    Answer,
    Conversation,
    Identity,
    InboundEvent,
    Respondent,
    Response,
    ResponseStatus,
    SurveyVersion,
)

TODAY = date(2026, 9, 1)
SURVEY = "szzf-2026h2"  # demo_survey(TODAY)
SECRET = b"postgres-test-secret"
CHANNEL = "telegram"
BIG_CHAT_ID = 9_000_000_000  # beyond 32 bits: Identity.chat_id must be a BIGINT
UNIT_COUNT = 35  # rows of scoring/demo/data/units.csv

# Positions in demo_survey.yaml: 1 channels, 2 overall, 3 dissatisfied_reasons,
# 4 online_experience, 5 hotline, 6 trips, 7 recommend, 8 city_governance,
# 9 data_protection, 10 age_band, 11 elderly_services, 12 suggestion.
UP_TO_SUGGESTION: list[Input] = [
    Pick(1, 1),  # channels: app (ticked)
    Pick(1, 4),  # channels: hotline (ticked)
    Done(1),
    Pick(2, 0),  # overall: very_satisfied
    Pick(4, 1),  # online_experience: satisfied (shown for app)
    Pick(5, 2),  # hotline: neutral (shown for hotline)
    Pick(6, 1),  # trips: one
    Text("8"),  # recommend, typed
    Pick(8, 3),  # city_governance: dissatisfied
    Pick(9, 4),  # data_protection: very_dissatisfied
    Pick(10, 0),  # age_band: under_30, so elderly_services stays hidden
]
SUGGESTION = "希望多设自助终端"
# (choice, choices, number, text, skipped) of each stored answer, suggestion aside.
STORED_UP_TO_SUGGESTION = {
    "channels": (None, ["app", "hotline"], None, None, False),
    "overall": ("very_satisfied", None, 5, None, False),
    "online_experience": ("satisfied", None, 4, None, False),
    "hotline": ("neutral", None, 3, None, False),
    "trips": ("one", None, None, None, False),
    "recommend": (None, None, 8, None, False),
    "city_governance": ("dissatisfied", None, 2, None, False),
    "data_protection": ("very_dissatisfied", None, 1, None, False),
    "age_band": ("under_30", None, None, None, False),
}


# Schema helpers (a sync psycopg engine) -------------------------------------------------


def with_sync_connection(url: str, work: Any) -> Any:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return work(connection)
    finally:
        engine.dispose()


def schema_diff(url: str) -> list[Any]:
    """What autogenerate would still write: empty when the models match the migrations."""

    def compare(connection: sa.Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, SQLModel.metadata))

    return with_sync_connection(url, compare)  # type: ignore[no-any-return]


def table_names(url: str) -> set[str]:
    return set(with_sync_connection(url, lambda c: sa.inspect(c).get_table_names()))


def revision_of(url: str) -> str | None:
    return with_sync_connection(  # type: ignore[no-any-return]
        url, lambda c: MigrationContext.configure(c).get_current_revision()
    )


def head_revision() -> str | None:
    return ScriptDirectory.from_config(migrate.alembic_config("unused")).get_current_head()


class TestMigrations:
    def test_upgrade_from_empty_matches_the_models(self, fresh_db_url: str) -> None:
        assert table_names(fresh_db_url) == set()

        migrate.upgrade(fresh_db_url)

        assert schema_diff(fresh_db_url) == []
        assert table_names(fresh_db_url) == {"alembic_version", *SQLModel.metadata.tables}
        assert revision_of(fresh_db_url) == head_revision()

    def test_downgrade_to_base_then_upgrade_again(self, fresh_db_url: str) -> None:
        migrate.upgrade(fresh_db_url)

        migrate.downgrade(fresh_db_url, "base")
        assert table_names(fresh_db_url) == {"alembic_version"}
        assert revision_of(fresh_db_url) is None
        migrate.upgrade(fresh_db_url)

        assert schema_diff(fresh_db_url) == []
        assert revision_of(fresh_db_url) == head_revision()

    def test_chat_id_column_is_a_bigint(self, fresh_db_url: str) -> None:
        migrate.upgrade(fresh_db_url)

        columns = with_sync_connection(
            fresh_db_url,
            lambda c: {x["name"]: x["type"] for x in sa.inspect(c).get_columns("identity")},
        )

        assert isinstance(columns["chat_id"], sa.BigInteger)

    def test_the_cli_needs_only_database_url(self, postgres_url: str, tmp_path: Path) -> None:
        """`minyi db upgrade`, then `minyi demo load` twice, configured by the environment."""
        env = {
            **os.environ,
            "DATABASE_URL": postgres_url,
            "DATA_DIR": str(tmp_path / "var"),
            "SECRET_KEY": "postgres-cli-test",
        }
        # The `minyi` entry point's app, three commands in one process (start-up is slow).
        script = "; ".join(
            [
                "from api.cli import app",
                "app(['db', 'upgrade'], standalone_mode=False)",
                "app(['demo', 'load'], standalone_mode=False)",
                "print('--- again')",
                "app(['demo', 'load'], standalone_mode=False)",
            ]
        )
        done = subprocess.run(
            [sys.executable, "-c", script],
            cwd=tmp_path,  # no .env from the working tree
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

        assert done.returncode == 0, done.stdout + done.stderr
        first, again = done.stdout.split("--- again")
        assert "database at head" in first
        assert f"{UNIT_COUNT} unit(s) created, 0 updated" in first
        assert "new version 1" in first
        assert "0 unit(s) created, 0 updated" in again
        assert "unchanged, still version 1" in again
        assert revision_of(postgres_url) == head_revision()
        assert not (tmp_path / "var" / "minyi.db").exists()
        units = with_sync_connection(
            postgres_url, lambda c: c.execute(sa.text("SELECT count(*) FROM unit")).scalar_one()
        )
        assert units == UNIT_COUNT


# Services end to end ----------------------------------------------------------------------


@pytest.fixture
async def pg(fresh_db_url: str) -> AsyncIterator[SessionMaker]:
    """Sessions on a freshly migrated PostgreSQL database, through surveys.db as the app does."""
    await asyncio.to_thread(migrate.upgrade, fresh_db_url)
    engine = create_engine(fresh_db_url)
    assert engine.dialect.name == "postgresql"
    yield create_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
async def demo(pg: SessionMaker) -> SurveyVersion:
    """The demo units and the demo survey, committed."""
    units = parse_units_csv(UNITS_CSV.read_text("utf-8"), source=str(UNITS_CSV))
    async with unit_of_work(pg) as session:
        assert await upsert_units(session=session, units=units) == (UNIT_COUNT, 0)
        loaded = await catalog.load_survey(
            session=session, definition=demo_survey(TODAY), source="demo"
        )
    assert loaded.created
    return loaded.version


async def person(session: AsyncSession, external_id: int) -> Respondent:
    return await respondents.get_or_create_respondent(
        session=session, secret=SECRET, channel=CHANNEL, external_id=external_id
    )


async def start(
    pg: SessionMaker, external_id: int, payload: str | None, chat_id: int = BIG_CHAT_ID
) -> conversation.Welcome:
    """/start as the bot handles it: its own transaction, the update claimed first."""
    async with unit_of_work(pg) as session:
        assert await respondents.claim_event(session=session, key=f"start:{external_id}")
        return await conversation.welcome(
            session=session,
            respondent=await person(session, external_id),
            channel=CHANNEL,
            chat_id=chat_id,
            language_code="zh-hans",
            payload=payload,
            today=TODAY,
        )


async def send_each(
    pg: SessionMaker, external_id: int, first: conversation.Reply, inputs: Sequence[Input]
) -> conversation.Reply:
    """Each input in its own committed transaction; buttons carry the shown version id."""
    reply = first
    for number, given in enumerate(inputs):
        version_id = None if isinstance(given, Text) else reply.version_id
        async with unit_of_work(pg) as session:
            key = f"update:{external_id}:{number}"
            assert await respondents.claim_event(session=session, key=key)
            reply = await conversation.submit(
                session=session,
                respondent=await person(session, external_id),
                given=given,
                version_id=version_id,
                today=TODAY,
            )
        assert reply.notice is None, (given, reply.notice)
    return reply


async def count(session: AsyncSession, model: type[SQLModel]) -> int:
    return (await session.exec(select(func.count()).select_from(model))).one()


async def response_of(session: AsyncSession, respondent_id: int | None) -> Response:
    statement = select(Response).where(Response.respondent_id == respondent_id)
    return (await session.exec(statement)).one()


async def stored_answers(
    session: AsyncSession, response: Response
) -> dict[str, tuple[object, ...]]:
    statement = select(Answer).where(Answer.response_id == response.id).order_by(col(Answer.id))
    return {
        row.question_key: (row.choice, row.choices, row.number, row.text, row.skipped)
        for row in (await session.exec(statement)).all()
    }


async def unit_id(session: AsyncSession, code: str) -> int | None:
    return (await session.exec(select(Unit.id).where(Unit.code == code))).one()


class TestDemoData:
    async def test_loading_again_changes_nothing(
        self, pg: SessionMaker, demo: SurveyVersion
    ) -> None:
        units = parse_units_csv(UNITS_CSV.read_text("utf-8"), source=str(UNITS_CSV))
        async with unit_of_work(pg) as session:
            upserted = await upsert_units(session=session, units=units)
            loaded = await catalog.load_survey(
                session=session, definition=demo_survey(TODAY), source="demo"
            )

        assert upserted == (0, 0)
        assert (loaded.created, loaded.version.id) == (False, demo.id)
        async with pg() as session:
            assert await count(session, Unit) == UNIT_COUNT
            stored = await session.get_one(SurveyVersion, demo.id)
        assert stored.definition == demo.definition
        assert (stored.opens_on, stored.closes_on) == (date(2026, 7, 1), date(2026, 12, 31))
        assert stored.created_at.tzinfo is not None


class TestRespondents:
    async def test_get_or_create_returns_the_same_row(self, pg: SessionMaker) -> None:
        async with unit_of_work(pg) as session:
            first = await person(session, 7)
            same_transaction = await person(session, 7)
        async with unit_of_work(pg) as session:
            later = await person(session, 7)
            other = await person(session, 8)
            total = await count(session, Respondent)

        assert first.id is not None
        assert first.id == same_transaction.id == later.id
        assert first.pseudonym == later.pseudonym
        assert other.id != first.id
        assert total == 2

    async def test_claim_event_is_true_once_per_key(self, pg: SessionMaker) -> None:
        async with unit_of_work(pg) as session:
            first = await respondents.claim_event(session=session, key="tg:1:100")
            same_transaction = await respondents.claim_event(session=session, key="tg:1:100")
        async with unit_of_work(pg) as session:
            replay = await respondents.claim_event(session=session, key="tg:1:100")
            other = await respondents.claim_event(session=session, key="tg:1:101")
        async with pg() as session:
            total = await count(session, InboundEvent)

        assert (first, same_transaction, replay, other) == (True, False, False, True)
        assert total == 2

    async def test_a_concurrent_claim_waits_and_loses(self, pg: SessionMaker) -> None:
        """ON CONFLICT DO NOTHING: a second delivery blocks until the first commits."""
        claimed = asyncio.Event()

        async def deliver(delay: asyncio.Event | None) -> bool:
            async with unit_of_work(pg) as session:
                if delay is not None:
                    await delay.wait()
                won = await respondents.claim_event(session=session, key="tg:1:200")
                if delay is None:
                    claimed.set()
                    await asyncio.sleep(0.2)  # still uncommitted while the other tries
                return won

        first, second = await asyncio.wait_for(
            asyncio.gather(deliver(None), deliver(claimed)), timeout=10
        )

        assert (first, second) == (True, False)

    async def test_a_chat_id_beyond_32_bits_round_trips(
        self, pg: SessionMaker, demo: SurveyVersion
    ) -> None:
        await start(pg, 1, None, chat_id=BIG_CHAT_ID)

        async with pg() as session:
            identity = (await session.exec(select(Identity))).one()

        assert identity.chat_id == BIG_CHAT_ID
        assert (identity.channel, identity.language_code) == (CHANNEL, "zh-hans")


class TestConversation:
    async def test_the_whole_demo_survey_with_a_deep_link(
        self, pg: SessionMaker, demo: SurveyVersion
    ) -> None:
        welcome = await start(pg, 1, f"s_{SURVEY}_kundulun")
        assert welcome.reply is not None
        assert welcome.reply.intro is not None
        assert welcome.reply.prompt is not None
        assert welcome.reply.prompt.question_key == "channels"
        assert welcome.reply.version_id == demo.id

        last = await send_each(
            pg, 1, welcome.reply, [*UP_TO_SUGGESTION, Text(f"  {SUGGESTION}  ")]
        )

        assert last.finished == Msg("survey.thanks")
        assert last.prompt is None
        async with pg() as session:
            who = await person(session, 1)
            response = await response_of(session, who.id)
            answers = await stored_answers(session, response)
            assert await session.get(Conversation, who.id) is None
            kundulun = await unit_id(session, "kundulun")
        assert answers == {
            **STORED_UP_TO_SUGGESTION,
            "suggestion": (None, None, None, SUGGESTION, False),
        }
        assert response.unit_id == kundulun
        assert response.status == ResponseStatus.completed
        assert response.draft == []
        assert response.completed_at is not None
        assert response.completed_at >= response.started_at
        assert (response.survey_version_id, response.period) == (demo.id, "2026H2")

    async def test_picking_the_unit_and_skipping_the_suggestion(
        self, pg: SessionMaker, demo: SurveyVersion
    ) -> None:
        welcome = await start(pg, 2, f"s_{SURVEY}")
        assert welcome.reply is not None
        assert welcome.reply.prompt is not None
        assert welcome.reply.prompt.question_key == "_unit"
        assert welcome.reply.prompt.options[1].label == "青山区"

        last = await send_each(pg, 2, welcome.reply, [Pick(0, 1), *UP_TO_SUGGESTION, Skip(12)])

        assert last.finished == Msg("survey.thanks")
        async with pg() as session:
            response = await response_of(session, (await person(session, 2)).id)
            answers = await stored_answers(session, response)
            qingshan = await unit_id(session, "qingshan")
        assert response.unit_id == qingshan
        assert answers == {
            **STORED_UP_TO_SUGGESTION,
            "suggestion": (None, None, None, None, True),
        }

    async def test_a_ticked_draft_is_kept_between_transactions(
        self, pg: SessionMaker, demo: SurveyVersion
    ) -> None:
        welcome = await start(pg, 3, f"s_{SURVEY}_kundulun")
        assert welcome.reply is not None

        toggled = await send_each(pg, 3, welcome.reply, [Pick(1, 0), Pick(1, 2), Pick(1, 2)])

        assert toggled.toggled
        assert toggled.prompt is not None
        assert [c.selected for c in toggled.prompt.options] == [True] + [False] * 5
        async with pg() as session:
            who = await person(session, 3)
            response = await response_of(session, who.id)
            current = await conversation.current_reply(session=session, respondent=who)
        assert response.draft == ["hall"]
        assert response.status == ResponseStatus.in_progress
        assert current is not None
        assert current.prompt is not None
        assert current.prompt.question_key == "channels"

    async def test_beginning_again_after_completing_is_refused(
        self, pg: SessionMaker, demo: SurveyVersion
    ) -> None:
        welcome = await start(pg, 1, f"s_{SURVEY}_kundulun")
        assert welcome.reply is not None
        await send_each(pg, 1, welcome.reply, [*UP_TO_SUGGESTION, Skip(12)])

        with pytest.raises(AlreadyResponded):
            async with unit_of_work(pg) as session:
                await conversation.welcome(
                    session=session,
                    respondent=await person(session, 1),
                    channel=CHANNEL,
                    chat_id=BIG_CHAT_ID,
                    language_code="zh-hans",
                    payload=f"s_{SURVEY}_kundulun",
                    today=TODAY,
                )

        async with pg() as session:
            assert await count(session, Response) == 1
            assert await count(session, Answer) == len(STORED_UP_TO_SUGGESTION) + 1
            assert await count(session, Identity) == 1

    async def test_list_surveys_counts_started_and_completed(
        self, pg: SessionMaker, demo: SurveyVersion
    ) -> None:
        for external_id in (1, 2):
            welcome = await start(pg, external_id, f"s_{SURVEY}_kundulun")
            assert welcome.reply is not None
            await send_each(pg, external_id, welcome.reply, [*UP_TO_SUGGESTION, Skip(12)])
        await start(pg, 3, f"s_{SURVEY}_kundulun")

        async with unit_of_work(pg) as session:
            summaries = await catalog.list_surveys(session=session)
            open_now = await catalog.open_surveys(session=session, today=TODAY)

        assert [(s.code, s.version, s.period) for s in summaries] == [(SURVEY, 1, "2026H2")]
        assert (summaries[0].responses, summaries[0].completed) == (3, 2)
        assert [v.id for v in open_now] == [demo.id]

    async def test_forget_respondent_deletes_the_identity_and_keeps_answers(
        self, pg: SessionMaker, demo: SurveyVersion
    ) -> None:
        welcome = await start(pg, 1, f"s_{SURVEY}_kundulun")
        assert welcome.reply is not None
        await send_each(pg, 1, welcome.reply, [*UP_TO_SUGGESTION, Skip(12)])
        await start(pg, 2, f"s_{SURVEY}_kundulun", chat_id=BIG_CHAT_ID + 1)

        async with unit_of_work(pg) as session:
            erased = await respondents.forget_respondent(
                session=session, respondent=await person(session, 1)
            )
        async with unit_of_work(pg) as session:
            again = await respondents.forget_respondent(
                session=session, respondent=await person(session, 1)
            )
            left = (await session.exec(select(Identity))).all()
            respondents_left = await count(session, Respondent)
            answers_left = await count(session, Answer)

        assert (erased, again) == (1, 0)
        assert [i.chat_id for i in left] == [BIG_CHAT_ID + 1]
        assert respondents_left == 2
        assert answers_left == len(STORED_UP_TO_SUGGESTION) + 1


class TestServiceEvents:
    async def test_two_pushes_of_a_new_case_at_once_store_one(self, pg: SessionMaker) -> None:
        """The second push waits for the first to commit, then answers as a repeat push."""
        async with unit_of_work(pg) as session:
            session.add(Unit(code="kundulun", name="昆都仑区", kind=UnitKind.district))
            token, _ = await tokens.create_token(session=session, name="系统", unit=None)
        actor = tokens.actor_for_token(token, None)
        item = service_events.ServiceEventIn(
            case_no="BJ-2026-0001", item_code="11150200MB", item_name="不动产登记",
            unit="kundulun", channel=4, finished_at=datetime(2026, 9, 1, 2, tzinfo=UTC),
            link_token="rcpt-7f3a9c21",
        )  # fmt: skip
        checked = asyncio.Event()

        async def push(first: bool) -> tuple[int | None, bool]:
            async with unit_of_work(pg) as session:
                if not first:
                    await checked.wait()  # the first push is stored, not yet committed
                event, created = await service_events.receive_event(
                    session=session, item=item, actor=actor
                )
                if first:
                    checked.set()
                    await asyncio.sleep(0.2)  # still uncommitted while the other pushes
                return event.id, created

        first, second = await asyncio.wait_for(
            asyncio.gather(push(first=True), push(first=False)), timeout=10
        )

        assert first[1] is True
        assert second == (first[0], False)
        async with pg() as session:
            assert await count(session, ServiceEvent) == 1

    async def test_a_push_whose_twin_commits_between_its_lookups_is_a_repeat(
        self, pg: SessionMaker, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The twin commits after this push looked for the 办件 and before it looked for the
        link token: the token then belongs to the same 办件, which is no clash (409)."""
        async with unit_of_work(pg) as session:
            session.add(Unit(code="kundulun", name="昆都仑区", kind=UnitKind.district))
            token, _ = await tokens.create_token(session=session, name="系统", unit=None)
        actor = tokens.actor_for_token(token, None)
        item = service_events.ServiceEventIn(
            case_no="BJ-2026-0002", item_code="11150200MB", item_name="不动产登记",
            unit="kundulun", channel=4, finished_at=datetime(2026, 9, 1, 2, tzinfo=UTC),
            link_token="rcpt-0b5e77d2",
        )  # fmt: skip
        real_get_event = service_events.get_event
        twin_committed = asyncio.Event()
        looked: list[bool] = []

        async def get_event_then_wait(**kwargs: Any) -> ServiceEvent | None:
            found = await real_get_event(**kwargs)
            if not looked:
                looked.append(True)
                await twin_committed.wait()
            return found

        monkeypatch.setattr(service_events, "get_event", get_event_then_wait)

        async def late() -> tuple[int | None, bool]:
            async with unit_of_work(pg) as session:
                event, created = await service_events.receive_event(
                    session=session, item=item, actor=actor
                )
                return event.id, created

        async def twin() -> tuple[int | None, bool]:
            while not looked:
                await asyncio.sleep(0.01)
            async with unit_of_work(pg) as session:
                event, created = await service_events.receive_event(
                    session=session, item=item, actor=actor
                )
            twin_committed.set()
            return event.id, created

        raced, stored = await asyncio.wait_for(asyncio.gather(late(), twin()), timeout=10)

        assert stored[1] is True
        assert raced == (stored[0], False)


class TestConflicts:
    async def test_a_deadlock_loser_is_busy_not_unavailable(self, pg: SessionMaker) -> None:
        """PostgreSQL ends one of two transactions that wait for each other: that one is
        DatabaseBusy (try again), the other commits, and the server is not 'unavailable'."""
        async with unit_of_work(pg) as session:
            session.add(Unit(code="a", name="甲", kind=UnitKind.district))
            session.add(Unit(code="b", name="乙", kind=UnitKind.district))
        both_hold_one = asyncio.Barrier(2)

        async def rename(first: str, second: str) -> str:
            async with unit_of_work(pg) as session:
                for code in (first, second):
                    await session.exec(
                        sa.update(Unit).where(col(Unit.code) == code).values(name=f"{first}改")
                    )
                    if code == first:
                        await both_hold_one.wait()
            return first

        outcomes = await asyncio.wait_for(
            asyncio.gather(rename("a", "b"), rename("b", "a"), return_exceptions=True), timeout=20
        )

        assert sorted(type(o).__name__ for o in outcomes) == ["DatabaseBusy", "str"]
        winner = next(o for o in outcomes if isinstance(o, str))
        async with pg() as session:
            names = set((await session.exec(select(Unit.name))).all())
        assert names == {f"{winner}改"}
