"""Run the real ``minyi`` process against the fake Telegram Bot API server."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sqlite3
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
from psycopg.types.string import TextLoader
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts import accounts, tokens, units
from surveys.accounts.access import StaffRole
from surveys.core.db import create_engine, create_sessionmaker, unit_of_work
from surveys.questionnaire.respondents import pseudonym
from tests import servers
from tests.fakes.telegram import FakeMessage, FakeTelegram, FakeUser

T = TypeVar("T")
MINYI = str(Path(sys.executable).with_name("minyi"))
TOKEN = "123456:TEST"
SECRET = "e2e-secret"
CSRF_FIELD = re.compile(r'name="csrftoken" value="([^"]+)"')
PASSWORD = "correct-horse-battery"  # of the console accounts made by MinyiProcess.account


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class MinyiProcess:
    """``minyi serve`` in its own process, configured only through the environment."""

    def __init__(self, data_dir: Path, telegram_url: str) -> None:
        self.data_dir = data_dir
        self.log_path = data_dir / "minyi.log"
        self.env = {
            **os.environ,
            "DATA_DIR": str(data_dir),
            "SECRET_KEY": SECRET,
            "BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": telegram_url,
            "API_PORT": str(free_port()),
            "LOG_LEVEL": "INFO",
            "RELAY_INTERVAL_SECONDS": "0.3",
            "RATING_REMINDER_DAYS": "0.00004",  # about 3.5 s
            # A conversation is answered at once; Telegram's per-chat pace (1/s) is held
            # by the delivery tests (test_delivery.py), against a server that enforces it.
            "CHAT_PER_SECOND": "1000",
            "CHAT_BURST": "100",
        }
        self.env.pop("DATABASE_URL", None)
        self.env.pop("REDIS_URL", None)
        # The postgres test backend (tests/servers.py): an empty database of its own, which
        # `minyi db upgrade` migrates, and a Redis database of its own. Otherwise SQLite in
        # data_dir and aiogram's memory storage.
        self.database_url: str | None = None
        running = servers.current()
        if running is not None:
            _, self.database_url = running.new_database(migrated=False)
            self.env["DATABASE_URL"] = self.database_url
            self.env["REDIS_URL"] = running.process_redis_url()
        self.process: asyncio.subprocess.Process | None = None

    async def cli(self, *args: str) -> str:
        """Run one ``minyi`` command to completion; fail with its output if it fails."""
        process = await asyncio.create_subprocess_exec(
            MINYI,
            *args,
            env=self.env,
            cwd=self.data_dir,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await process.communicate()
        text = output.decode()
        assert process.returncode == 0, f"minyi {' '.join(args)} failed:\n{text}"
        return text

    async def start(self, tg: FakeTelegram) -> None:
        calls_before = len(tg.calls)
        log = self.log_path.open("ab")
        self.process = await asyncio.create_subprocess_exec(
            MINYI, "serve", env=self.env, cwd=self.data_dir, stdout=log, stderr=log
        )
        log.close()
        await tg.wait_until(
            lambda: any(c.method.lower() == "getupdates" for c in tg.calls[calls_before:]),
            timeout=30,
            message=f"minyi did not start polling; log:\n{self.log()}",
        )

    async def stop(self, *, crash: bool = False) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGKILL if crash else signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), 20)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()

    async def in_transaction(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run ``work`` in one committed transaction on the same database (test set-up)."""
        engine = create_engine(self.db_url)
        try:
            async with unit_of_work(create_sessionmaker(engine)) as session:
                return await work(session)
        finally:
            await engine.dispose()

    async def token(self, name: str, unit_code: str | None) -> dict[str, str]:
        """Bearer headers of a new API token (a unit's staff, or admin without a unit)."""

        async def create(session: AsyncSession) -> str:
            unit = (
                await units.get_unit_or_raise(session=session, code=unit_code)
                if unit_code
                else None
            )
            _, raw = await tokens.create_token(session=session, name=name, unit=unit)
            return raw

        return {"Authorization": f"Bearer {await self.in_transaction(create)}"}

    async def account(self, username: str, role: StaffRole, unit_codes: list[str]) -> None:
        """A console account whose password is already changed to :data:`PASSWORD`."""

        async def create(session: AsyncSession) -> None:
            user, once = await accounts.create_user(
                session=session, username=username, role=role, unit_codes=unit_codes
            )
            await accounts.change_password(session=session, user=user, current=once, new=PASSWORD)

        await self.in_transaction(create)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def db_url(self) -> str:
        """The SQLAlchemy URL of the process's database."""
        if self.database_url is not None:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'minyi.db').as_posix()}"

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Read the bot's database directly, as an auditor would (``?`` placeholders)."""
        if self.database_url is not None:
            return postgres_rows(self.database_url, sql, params, read_only=False)
        with sqlite3.connect(self.data_dir / "minyi.db") as connection:
            return list(connection.execute(sql, params).fetchall())

    def respondent_id(self, user_id: int) -> int | None:
        name = pseudonym(SECRET.encode(), "telegram", user_id)
        rows = self.query("SELECT id FROM respondent WHERE pseudonym = ?", name)
        return int(rows[0][0]) if rows else None

    def answers(self, user_id: int) -> dict[str, Any]:
        """The stored answers of one citizen, found through their pseudonym."""
        rows = self.query(
            "SELECT a.question_key, a.choice, a.choices, a.number, a.text, a.skipped "
            "FROM answer a JOIN response r ON r.id = a.response_id "
            "WHERE r.respondent_id = ? ORDER BY a.id",
            self.respondent_id(user_id),
        )
        return {key: rest for key, *rest in rows}

    def responses(self, user_id: int) -> list[tuple[Any, ...]]:
        return self.query(
            "SELECT u.code, r.status FROM response r LEFT JOIN unit u ON u.id = r.unit_id "
            "WHERE r.respondent_id = ?",
            self.respondent_id(user_id),
        )


def postgres_rows(
    url: str, sql: str, params: tuple[Any, ...], *, read_only: bool
) -> list[tuple[Any, ...]]:
    """Rows of one query on PostgreSQL, written for SQLite's ``?`` placeholders; JSON columns
    come back as their text, as SQLite returns them."""
    with psycopg.connect(servers.psycopg_url(url)) as connection:
        connection.read_only = read_only
        for name in ("json", "jsonb"):
            connection.adapters.register_loader(name, TextLoader)
        return list(connection.execute(sql.replace("?", "%s"), params or None).fetchall())


PROGRESS_LINE = re.compile(r"^第 \d+ 题，共约 \d+ 题\n")


def question_text(message: FakeMessage | str | None) -> str:
    """A survey question's text without its progress line (第 3 题，共约 12 题)."""
    text = message if isinstance(message, str) or message is None else message.text
    return PROGRESS_LINE.sub("", text or "", count=1)


def prompt_message(tg: FakeTelegram, user: FakeUser) -> FakeMessage:
    """The bot's latest message that still has buttons."""
    for message in reversed(tg.messages(user)):
        if message.buttons:
            return message
    raise AssertionError("no message with buttons")


def offering(tg: FakeTelegram, user: FakeUser, label: str) -> FakeMessage | None:
    """The bot's latest message with buttons, if it has a button labelled ``label``."""
    for message in reversed(tg.messages(user)):
        if message.buttons:
            return message if any(text == label for text, _ in message.buttons) else None
    return None


async def question_offering(
    tg: FakeTelegram, user: FakeUser, label: str, timeout: float = 10.0
) -> FakeMessage:
    """Wait until the newest question has a button ``label``, as a citizen waits to see it.

    The bot answers a press (or a typed answer) at once and sends the next question through
    its outbox: on a busy machine the question comes a moment later, and until then the
    newest message with buttons is the one just answered.
    """
    await tg.wait_until(
        lambda: offering(tg, user, label) is not None,
        timeout=timeout,
        message=f"a question with the button {label!r}",
    )
    message = offering(tg, user, label)
    assert message is not None
    return message


async def press(tg: FakeTelegram, user: FakeUser, label: str) -> FakeMessage:
    """Press the button labelled ``label`` on the current question and wait for the bot."""
    message = await question_offering(tg, user, label)
    update = tg.press(user, message, label)
    await tg.wait_for_callback_answer(update)
    await tg.settle()
    return message


async def say(tg: FakeTelegram, user: FakeUser, text: str) -> None:
    """Send text and wait until the bot has answered it (a new or edited message)."""
    tg.send_text(user, text)
    await tg.wait_for_message(user, include_edits=True)
    await tg.settle()


async def eventually(tg: FakeTelegram, read: Callable[[], T], expected: T) -> None:
    """Wait until ``read()`` equals ``expected``: the bot commits after it replies."""
    await tg.wait_until(lambda: read() == expected, timeout=10, message=f"expected {expected!r}")
    assert read() == expected


# The API alone ----------------------------------------------------------------------------
# ``minyi serve`` without BOT_TOKEN (no Telegram), for tests of the HTTP API and the console:
# killing it mid-flight, restarting it on the same SQLite file, reading that file directly.


class MinyiApi(MinyiProcess):
    """``minyi serve`` answering HTTP on 127.0.0.1 only, no bot."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir, telegram_url="http://127.0.0.1:9")
        for name in ("BOT_TOKEN", "TELEGRAM_API_URL", "WEBHOOK_URL", "BOT_MODE", "API_HOST"):
            self.env.pop(name, None)
        self.env["API_HOST"] = "127.0.0.1"
        self.env["LOG_LEVEL"] = "WARNING"
        self.base_url = f"http://127.0.0.1:{self.env['API_PORT']}"
        self.db_path = data_dir / "minyi.db"

    async def prepare(self) -> None:
        """A migrated database with the demo units and data."""
        await self.cli("db", "upgrade")
        await self.cli("demo", "load")

    async def start_api(self, timeout: float = 30) -> None:
        """Start ``minyi serve``; ready once /healthz answers 200."""
        log = self.log_path.open("ab")
        self.process = await asyncio.create_subprocess_exec(
            MINYI, "serve", env=self.env, cwd=self.data_dir, stdout=log, stderr=log
        )
        log.close()
        process = self.process
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with httpx.AsyncClient(base_url=self.base_url, timeout=2) as client:
            while True:
                assert process.returncode is None, f"minyi serve exited; log:\n{self.log()}"
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if loop.time() > deadline:
                    await self.stop(crash=True)
                    raise AssertionError(f"no answer from /healthz in {timeout}s:\n{self.log()}")
                await asyncio.sleep(0.1)

    def kill_now(self) -> None:
        """SIGKILL at once, without awaiting anything first (see :meth:`stop` to reap it)."""
        assert self.process is not None
        assert self.process.returncode is None, self.log()
        self.process.send_signal(signal.SIGKILL)

    def read_only(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Read the database through a read-only connection, as an auditor would."""
        if self.database_url is not None:
            return postgres_rows(self.database_url, sql, params, read_only=True)
        uri = f"{self.db_path.as_uri()}?mode=ro"
        connection = sqlite3.connect(uri, uri=True, timeout=10)
        try:
            return list(connection.execute(sql, params).fetchall())
        finally:
            connection.close()


class ConsoleClient:
    """A console user over real HTTP: signs in through the form, posts with the CSRF token."""

    def __init__(self, base_url: str) -> None:
        self.client = httpx.AsyncClient(base_url=base_url, timeout=30)
        self.csrf = ""

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        response = await self.client.get(url, **kwargs)
        found = CSRF_FIELD.search(response.text)
        if found:
            self.csrf = found.group(1)
        return response

    async def sign_in(self, username: str, password: str = PASSWORD) -> None:
        await self.get("/console/login")
        response = await self.client.post(
            "/console/login",
            data={"csrftoken": self.csrf, "username": username, "password": password},
        )
        assert response.status_code == 303, response.text

    def form(self, data: dict[str, Any] | None = None) -> dict[str, Any]:
        """Form fields with the CSRF token first (it must precede any uploaded file)."""
        assert self.csrf, "load a page with a form first"
        return {"csrftoken": self.csrf, **(data or {})}

    async def aclose(self) -> None:
        await self.client.aclose()
