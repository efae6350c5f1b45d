"""Tables of broadcasts: survey invitations to linked citizens, and who was invited."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from surveys.core.models import _ts


class BroadcastStatus(StrEnum):
    running = "running"  # the sender's step queues invitations
    paused = "paused"  # by staff, or because the survey closed; resumable
    done = "done"  # nobody left to invite, or the survey moved on to a new period


class Broadcast(SQLModel, table=True):
    """A campaign inviting every consenting linked citizen who has not answered a survey.

    ``unit_ids`` empty: everyone; else only citizens with a rating, a 办件 or a response at
    one of those units. ``queued`` counts the invitations queued so far (one per
    :class:`BroadcastRecipient`).
    """

    id: int | None = Field(default=None, primary_key=True)
    survey_id: int = Field(foreign_key="survey.id", index=True)
    survey_code: str = Field(max_length=40)
    period: str = Field(max_length=8)
    unit_ids: list[int] = Field(default_factory=list, sa_type=sa.JSON)
    status: BroadcastStatus = Field(default=BroadcastStatus.running, sa_type=sa.String(16))
    # Why the system stopped it (a code, e.g. "survey_closed"); None when staff did or running.
    reason: str | None = Field(default=None, max_length=32)
    created_by: str = Field(max_length=80)
    queued: int = 0
    created_at: datetime = _ts()
    finished_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class BroadcastRecipient(SQLModel, table=True):
    """One citizen invited by one broadcast: nobody is invited twice by the same one."""

    __tablename__ = "broadcast_recipient"
    __table_args__ = (sa.UniqueConstraint("broadcast_id", "respondent_id"),)

    id: int | None = Field(default=None, primary_key=True)
    broadcast_id: int = Field(foreign_key="broadcast.id", index=True)
    respondent_id: int = Field(foreign_key="respondent.id", index=True)
    queued_at: datetime = _ts()
