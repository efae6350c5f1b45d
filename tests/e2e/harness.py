"""Run the real ``minyi`` process against the fake Telegram Bot API server."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from surveys.questionnaire.respondents import pseudonym
from tests.fakes.telegram import FakeMessage, FakeTelegram, FakeUser

T = TypeVar("T")
MINYI = str(Path(sys.executable).with_name("minyi"))
TOKEN = "123456:TEST"
SECRET = "e2e-secret"


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
        }
        self.env.pop("DATABASE_URL", None)
        self.env.pop("REDIS_URL", None)
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

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Read the bot's SQLite file directly, as an auditor would."""
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


def prompt_message(tg: FakeTelegram, user: FakeUser) -> FakeMessage:
    """The bot's latest message that still has buttons."""
    for message in reversed(tg.messages(user)):
        if message.buttons:
            return message
    raise AssertionError("no message with buttons")


async def press(tg: FakeTelegram, user: FakeUser, label: str) -> FakeMessage:
    """Press the button labelled ``label`` on the current question and wait for the bot."""
    message = prompt_message(tg, user)
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
