"""Tables of the 差评 loop: cases, their timeline, notices sent, and working-day overrides."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from surveys.core.models import _ts

SOURCE_MAX = 200  # characters of a calendar override's source (a State Council notice)


class CaseState(StrEnum):
    """The 差评 loop (domain.md §3); names shown in Chinese through the catalogue."""

    pending = "待核实"
    verifying = "核实中"
    rectifying = "整改中"
    replied = "已反馈"
    rerated = "已复评"
    closed = "已关闭"
    unfounded = "不属实"
    appealing = "申诉中"
    appeal_upheld = "申诉成立"
    appeal_rejected = "申诉驳回"


class FollowUpCase(SQLModel, table=True):
    """The follow-up of one 差评 by the responsible unit."""

    __tablename__ = "follow_up_case"
    # The case queue's order (整改 deadline, id), of every case and of one unit's; open and
    # overdue cases per unit are counted from ix_follow_up_case_unit_state alone.
    __table_args__ = (
        sa.Index("ix_follow_up_case_queue", "rectify_due", "id"),
        sa.Index("ix_follow_up_case_unit_queue", "unit_id", "rectify_due", "id"),
        sa.Index("ix_follow_up_case_unit_state", "unit_id", "state"),
        # 我的工单 and the workload per person.
        sa.Index("ix_follow_up_case_assignee_state", "assignee_id", "state"),
    )

    id: int | None = Field(default=None, primary_key=True)
    rating_id: int = Field(foreign_key="rating.id", unique=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    state: CaseState = Field(default=CaseState.pending, sa_type=sa.String(8), index=True)
    contact_due: date
    rectify_due: date
    rerating: str | None = Field(default=None, max_length=20)
    opened_at: datetime = _ts()
    closed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    escalated_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    # 承办人: one of the unit's staff (None: not assigned yet).
    assignee_id: int | None = Field(default=None, foreign_key="staff_user.id")
    # How a 已关闭 case ended (CloseReason); None while open.
    close_reason: str | None = Field(default=None, max_length=16)


class CloseReason(StrEnum):
    """How a case reached 已关闭; names shown in Chinese through the catalogue."""

    rerated = "rerated"  # after the citizen's 复评
    no_rerating = "no_rerating"  # 已关闭（未复评）: the 复评 window passed
    supervisor = "supervisor"  # closed by a supervisor with a note
    unreachable = "unreachable"  # 无法联系: the citizen erased their data
    unfounded = "unfounded"  # after 不属实
    appeal_upheld = "appeal_upheld"  # after 申诉成立


class CaseView(SQLModel, table=True):
    """A staff member's saved queue filter (a named view of the case queue)."""

    __tablename__ = "case_view"
    __table_args__ = (sa.UniqueConstraint("user_id", "name", name="uq_case_view_user_name"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="staff_user.id", index=True)
    name: str = Field(max_length=40)
    # The queue's filter as its query string (state=整改中&q=...), validated when applied.
    query: str = Field(max_length=500)
    created_at: datetime = _ts()


class CaseEvent(SQLModel, table=True):
    """The case timeline: every transition, reply and citizen message, with who and when."""

    __tablename__ = "case_event"
    # The 已反馈 time of a case: one search, no row read.
    __table_args__ = (sa.Index("ix_case_event_case_to_state_at", "case_id", "to_state", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="follow_up_case.id", index=True)
    actor: str = Field(max_length=64)  # staff username, "citizen" or "system"
    kind: str = Field(max_length=16)  # opened/transition/reply/citizen/rerating/escalated
    from_state: str | None = Field(default=None, max_length=8)
    to_state: str | None = Field(default=None, max_length=8)
    note: str | None = Field(default=None, sa_type=sa.Text)
    delivered_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    at: datetime = _ts()


class Notified(SQLModel, table=True):
    """Which notice about which case went out, so each is sent once."""

    __tablename__ = "case_notice"

    case_id: int = Field(foreign_key="follow_up_case.id", primary_key=True)
    kind: str = Field(max_length=16, primary_key=True)  # new / due / overdue
    sent_at: datetime = _ts()


class CalendarOverride(SQLModel, table=True):
    """One day an administrator set from a State Council notice (or a local decision)."""

    __tablename__ = "calendar_override"

    day: date = Field(primary_key=True)
    workday: bool
    # e.g. 国务院办公厅关于2027年部分节假日安排的通知
    source: str = Field(max_length=SOURCE_MAX)
    created_at: datetime = _ts()


class CitizenContact(SQLModel, table=True):
    """A case whose 差评 was given in the web chat, and the key to its citizen's page.

    A web citizen has no chat to relay to: the unit's replies wait on a private page at an
    unguessable link (保密联络 on the web). Only the SHA-256 of the link's token is kept;
    ``token_hash`` is None when the citizen declined contact (不需要联系), and the row then
    only records that the case came from the web.
    """

    __tablename__ = "citizen_contact"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="follow_up_case.id", unique=True)
    token_hash: str | None = Field(default=None, max_length=64, unique=True)
    created_at: datetime = _ts()
