"""Tables of 12345 回访 (domain.md §6): one row per 工单 and round, as the 12345 system sent it.

A later round of the same 工单 (重办 after a 不满意) adds a row and retires the earlier one
(``active``), so history is kept and the latest round counts.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from surveys.core.models import _ts


class VisitSource(StrEnum):
    api = "api"  # POST /api/v1/hotline-visits
    file = "file"  # minyi import hotline (CSV/XLSX)


class VisitOutcome(StrEnum):
    """How the 回访 ended: the citizen answered, or 无法联系 after the attempts."""

    answered = "answered"
    unreachable = "unreachable"


class VisitSatisfaction(StrEnum):
    """是否满意: the three answers of a 12345 回访 (满意 / 基本满意 / 不满意)."""

    satisfied = "满意"
    basic = "基本满意"
    dissatisfied = "不满意"


class HotlineVisit(SQLModel, table=True):
    """One 12345 回访 of one 工单 (round 2 after 重办)."""

    __tablename__ = "hotline_visit"
    # Idempotent by 工单号 + round within the unit; the indicators count a unit's active
    # visits of a period.
    __table_args__ = (
        sa.UniqueConstraint("unit_id", "ticket_no", "round"),
        sa.Index("ix_hotline_visit_counted", "unit_id", "period", "active"),
    )

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    ticket_no: str = Field(max_length=64)  # 工单号
    round: int = 1  # 回访轮次: 2 after 重办
    item_name: str = Field(max_length=200)  # 事项 (诉求类别)
    item_code: str | None = Field(default=None, max_length=64)
    finished_at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # 办结时间
    # Each call: {"at": ISO time, "outcome": "answered" | "no_answer" | "busy" | "refused" ...}
    attempts: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON)
    outcome: VisitOutcome = Field(sa_type=sa.String(12))
    contacted: bool | None = None  # 是否联系: did the unit contact the citizen
    resolved: bool | None = None  # 是否解决
    satisfaction: VisitSatisfaction | None = Field(default=None, sa_type=sa.String(8))
    # 无法联系 claimed after fewer than 3 attempts or within 2 working days: flagged, kept.
    short_attempts: bool = False
    period: str = Field(max_length=8, index=True)  # by 办结 time
    source: VisitSource = Field(sa_type=sa.String(8))
    token_id: int | None = Field(default=None, foreign_key="api_token.id")
    active: bool = True  # False once a later round of the same 工单 came in
    # The 差评 a 不满意 opened (重办): its case hangs on this rating.
    rating_id: int | None = Field(default=None, foreign_key="rating.id")
    received_at: datetime = _ts()
