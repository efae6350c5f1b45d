"""The outbox (every message to a chat, written with the change it reports) and the chats
that blocked the bot."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from surveys.core.models import _ts


class OutboxStatus(StrEnum):
    pending = "pending"  # waiting for its turn (and for not_before)
    sending = "sending"  # claimed by a sender until lease_until
    sent = "sent"  # the chat service took it (or it no longer applied: see outcome)
    failed = "failed"  # given up after retries or refused; kept for admins
    unreachable = "unreachable"  # the chat blocked the bot or no longer exists


class OutboxMessage(SQLModel, table=True):
    """One Bot API call to one chat, in order per chat (by id).

    ``chat_id`` is how the message is delivered; rows go when delivered and a week old, and
    with the citizen's contact on /forget. ``ref_id`` points at an earlier row of the same
    chat whose message an edit changes, for messages not sent yet when the edit was queued.
    """

    __tablename__ = "outbox_message"
    __table_args__ = (sa.Index("ix_outbox_message_status_chat", "status", "chat_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(sa_type=sa.BigInteger, index=True)
    method: str = Field(max_length=32)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    ref_id: int | None = Field(default=None)
    purpose: str = Field(default="reply", max_length=16)
    case_id: int | None = Field(default=None, index=True)
    status: OutboxStatus = Field(default=OutboxStatus.pending, sa_type=sa.String(16))
    attempts: int = 0
    not_before: datetime = _ts()
    lease_until: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    message_id: int | None = Field(default=None, sa_type=sa.BigInteger)
    # What happened, as a short code (no message text, no chat id): "429", "5xx", "403" ...
    outcome: str | None = Field(default=None, max_length=40)
    created_at: datetime = _ts(index=True)
    sent_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class UnreachableChat(SQLModel, table=True):
    """A chat that blocked the bot (403): nothing more is sent until it writes again."""

    __tablename__ = "unreachable_chat"

    chat_id: int = Field(sa_type=sa.BigInteger, primary_key=True)
    since: datetime = _ts()
