"""Reading what the bot stored, through the citizen's pseudonym, as an auditor would."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from surveys.core.db import SessionMaker
from surveys.core.settings import Settings
from surveys.questionnaire.respondents import pseudonym

CHANNEL = "telegram"


@dataclass
class Records:
    sessionmaker: SessionMaker
    settings: Settings

    async def query(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        async with self.sessionmaker() as session:
            result = await session.connection()
            rows = (await result.execute(text(sql), params)).all()
            return [tuple(row) for row in rows]

    async def respondent_id(self, user_id: int) -> int | None:
        name = pseudonym(self.settings.secret_key_bytes(), CHANNEL, user_id)
        rows = await self.query("SELECT id FROM respondent WHERE pseudonym = :name", name=name)
        return int(rows[0][0]) if rows else None

    async def answers(self, user_id: int) -> list[tuple[Any, ...]]:
        """(question key, choice, choices, number, text, skipped) per stored answer."""
        rows = await self.query(
            "SELECT a.question_key, a.choice, a.choices, a.number, a.text, a.skipped "
            "FROM answer a JOIN response r ON r.id = a.response_id "
            "WHERE r.respondent_id = :rid ORDER BY a.id",
            rid=await self.respondent_id(user_id),
        )
        return [(key, choice, _json(choices), *rest) for key, choice, choices, *rest in rows]

    async def responses(self, user_id: int) -> list[tuple[Any, ...]]:
        """(unit code, status) per response."""
        return await self.query(
            "SELECT u.code, r.status FROM response r LEFT JOIN unit u ON u.id = r.unit_id "
            "WHERE r.respondent_id = :rid ORDER BY r.id",
            rid=await self.respondent_id(user_id),
        )

    async def identities(self, user_id: int) -> list[tuple[Any, ...]]:
        """(channel, chat id, language code) kept to write back to this citizen."""
        return await self.query(
            "SELECT channel, chat_id, language_code FROM identity WHERE respondent_id = :rid",
            rid=await self.respondent_id(user_id),
        )

    async def ratings(self, user_id: int) -> list[tuple[Any, ...]]:
        """(level, reasons, comment, contact_ok, window, item, channel, source, unit code)."""
        rows = await self.query(
            "SELECT r.level, r.reasons, r.comment, r.contact_ok, r.window_code, r.item_code, "
            "r.channel, r.source, u.code FROM rating r JOIN unit u ON u.id = r.unit_id "
            "WHERE r.respondent_id = :rid ORDER BY r.id",
            rid=await self.respondent_id(user_id),
        )
        return [(level, _json(reasons), *rest) for level, reasons, *rest in rows]


def _json(value: Any) -> Any:
    """A JSON column: text on SQLite, already decoded by PostgreSQL's driver."""
    return json.loads(value) if isinstance(value, str | bytes) else value
