"""Tables of 好差评: finished 办件 pushed by service systems, ratings, ratings in chat."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from surveys.core.models import _ts


class RatingSource(StrEnum):
    bot = "bot"  # our chat bot
    api = "api"  # POST /api/v1/ratings
    file = "file"  # minyi import ratings
    # The 差评 a 不满意 12345 回访 opened (重办); counted in the 12345 source, not as a rating.
    hotline = "hotline"


class ServiceEvent(SQLModel, table=True):
    """A finished 办件 pushed by a service system; the citizen may rate it."""

    __tablename__ = "service_event"
    # 办件编号 are unique within a unit: another unit's number is never a clash.
    __table_args__ = (sa.UniqueConstraint("unit_id", "case_no"),)

    id: int | None = Field(default=None, primary_key=True)
    case_no: str = Field(max_length=64)  # 办件编号
    item_code: str = Field(max_length=64)  # 事项编码
    item_name: str = Field(max_length=200)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    window_code: str | None = Field(default=None, max_length=32)
    channel: int = Field(ge=1, le=7)  # GB/T 39046 pf code
    finished_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    # Printed on the receipt or sent by SMS as a deep link; links the citizen's chat.
    # Unique across units: it is the citizen's key.
    link_token: str = Field(max_length=64, unique=True, index=True)
    respondent_id: int | None = Field(default=None, foreign_key="respondent.id", index=True)
    invited_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    reminded_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    token_id: int | None = Field(default=None, foreign_key="api_token.id")
    received_at: datetime = _ts()


class Rating(SQLModel, table=True):
    """One 好差评 rating. A later round or a late change adds a row; history is kept."""

    # Idempotency keys are the unit's own: another unit's source id never hides a rating.
    # The lists read newest first, for everyone and per unit, a page after a cursor.
    # The indicators group counted ratings per unit, period, level, 事项 or window and the
    # dashboard counts them per unit, level and month: both read an index alone, in order
    # (``source`` last, so leaving out the 12345 回访's ratings needs no row either).
    __table_args__ = (
        sa.UniqueConstraint("unit_id", "source", "source_id"),
        sa.Index("ix_rating_rated_at_id", "rated_at", "id"),
        sa.Index("ix_rating_unit_rated_at_id", "unit_id", "rated_at", "id"),
        sa.Index(
            "ix_rating_counted",
            "unit_id",
            "period",
            "level",
            "item_code",
            "window_code",
            "active",
            "is_default",
            "excluded",
            "source",  # the 12345 回访's 差评 are counted in the 回访 source
        ),
        sa.Index(
            "ix_rating_unit_level_time",
            "unit_id",
            "level",
            "active",
            "is_default",
            "excluded",
            "rated_at",
            "source",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: RatingSource = Field(sa_type=sa.String(8))
    source_id: str = Field(max_length=64)  # idempotency key within the source and unit
    # Indexed: a new round of a 办件 finds the rating it replaces.
    service_event_id: int | None = Field(default=None, foreign_key="service_event.id", index=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    item_code: str | None = Field(default=None, max_length=64)
    item_name: str | None = Field(default=None, max_length=200)
    window_code: str | None = Field(default=None, max_length=32)
    channel: int = Field(ge=1, le=7)
    respondent_id: int | None = Field(default=None, foreign_key="respondent.id", index=True)
    level: str = Field(max_length=20)  # surveys.definitions.Level code
    reasons: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    comment: str | None = Field(default=None, sa_type=sa.Text)
    # A voice comment stays on the channel's servers; this is its file reference there.
    voice_file_id: str | None = Field(default=None, max_length=200)
    contact_ok: bool = False  # 实名: the citizen agreed to be contacted
    round: int = 1  # 评价次数: 2 after 整改
    is_default: bool = False  # 系统默认评价: stored apart, never counted
    active: bool = True  # False once replaced by a later change or round
    excluded: bool = False  # 申诉成立: kept, audited, left out of scores
    period: str = Field(max_length=8, index=True)
    rated_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    received_at: datetime = _ts()


class RatingChat(SQLModel, table=True):
    """A rating in progress in chat; ``rating_id`` is set when it is finished."""

    __tablename__ = "rating_chat"

    id: int | None = Field(default=None, primary_key=True)
    respondent_id: int = Field(foreign_key="respondent.id", index=True)
    unit_id: int = Field(foreign_key="unit.id")
    window_code: str | None = Field(default=None, max_length=32)
    item_code: str | None = Field(default=None, max_length=64)
    service_event_id: int | None = Field(default=None, foreign_key="service_event.id")
    # The reason list in force when the rating began (RATING_REASONS), so a change of
    # settings never reinterprets the buttons of a rating in progress.
    reasons: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    voice_file_id: str | None = Field(default=None, max_length=200)
    answers: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    draft: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    rating_id: int | None = Field(default=None, foreign_key="rating.id")
    started_at: datetime = _ts()
