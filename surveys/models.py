"""SQLModel tables of the survey domain.

Personal data lives in :class:`Identity` only; everything else points to a pseudonymous
:class:`Respondent` so answers survive when the identity is erased.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def pk(row: SQLModel) -> int:
    """The primary key of a flushed row (ids are None only before the first flush)."""
    value = getattr(row, "id", None)
    if value is None:
        raise ValueError(f"{type(row).__name__} has no id yet: flush first")
    return int(value)


def _ts(**kw: Any) -> Any:
    return Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True), **kw)


class UnitKind(StrEnum):
    district = "旗县区"
    hightech = "高新区"
    department = "市直部门"


class ResponseStatus(StrEnum):
    in_progress = "in_progress"
    completed = "completed"


class UnitBase(SQLModel):
    code: str = Field(max_length=32, unique=True, index=True)
    name: str = Field(max_length=64)
    kind: UnitKind = Field(sa_type=sa.String(16))
    active: bool = True


class Unit(UnitBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = _ts()


class UnitPublic(UnitBase):
    id: int


class Survey(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True, index=True)
    created_at: datetime = _ts()


class SurveyVersion(SQLModel, table=True):
    __tablename__ = "survey_version"
    __table_args__ = (sa.UniqueConstraint("survey_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    survey_id: int = Field(foreign_key="survey.id", index=True)
    version: int
    title: str = Field(max_length=200)
    period: str = Field(max_length=8)
    opens_on: date
    closes_on: date
    anonymous: bool = True
    definition: dict[str, Any] = Field(sa_type=sa.JSON)
    digest: str = Field(max_length=64)
    created_at: datetime = _ts()
    closed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class Respondent(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    # HMAC of channel + external user id: one response per person without storing who.
    pseudonym: str = Field(max_length=64, unique=True, index=True)
    created_at: datetime = _ts()


class Identity(SQLModel, table=True):
    """The only place that holds how to reach a citizen; erased by /forget."""

    id: int | None = Field(default=None, primary_key=True)
    respondent_id: int = Field(
        sa_column=sa.Column(
            sa.ForeignKey("respondent.id", ondelete="CASCADE"), unique=True, nullable=False
        )
    )
    channel: str = Field(max_length=16)
    chat_id: int = Field(sa_type=sa.BigInteger)
    language_code: str | None = Field(default=None, max_length=16)
    created_at: datetime = _ts()
    # Retention counts from the last contact (PIPL §19; domain.md §7).
    last_seen_at: datetime = _ts(index=True)


class Response(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("respondent_id", "survey_id", "period"),)

    id: int | None = Field(default=None, primary_key=True)
    respondent_id: int = Field(foreign_key="respondent.id", index=True)
    survey_id: int = Field(foreign_key="survey.id", index=True)
    survey_version_id: int = Field(foreign_key="survey_version.id", index=True)
    period: str = Field(max_length=8)
    unit_id: int | None = Field(default=None, foreign_key="unit.id", index=True)
    status: ResponseStatus = Field(default=ResponseStatus.in_progress, sa_type=sa.String(16))
    # Options ticked so far on the current multiple-choice question, before 完成.
    draft: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    started_at: datetime = _ts()
    completed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class Answer(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("response_id", "question_key"),)

    id: int | None = Field(default=None, primary_key=True)
    response_id: int = Field(foreign_key="response.id", index=True)
    question_key: str = Field(max_length=32)
    choice: str | None = Field(default=None, max_length=64)
    choices: list[str] | None = Field(default=None, sa_type=sa.JSON)
    number: int | None = None
    text: str | None = Field(default=None, sa_type=sa.Text)
    skipped: bool = False
    answered_at: datetime = _ts()


class Conversation(SQLModel, table=True):
    """The survey a respondent is answering now, so any restart resumes there."""

    respondent_id: int = Field(foreign_key="respondent.id", primary_key=True)
    response_id: int = Field(foreign_key="response.id")
    updated_at: datetime = _ts()


class InboundEvent(SQLModel, table=True):
    """Keys of inputs already handled: a redelivered update is stored once."""

    __tablename__ = "inbound_event"

    key: str = Field(primary_key=True, max_length=64)
    received_at: datetime = _ts()


# 好差评 ----------------------------------------------------------------------------------


class RatingSource(StrEnum):
    bot = "bot"  # our chat bot
    api = "api"  # POST /api/v1/ratings
    file = "file"  # minyi import ratings


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


class ApiToken(SQLModel, table=True):
    """A bearer token for an integration; only its SHA-256 is stored."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    unit_id: int | None = Field(default=None, foreign_key="unit.id")
    # surveys.StaffRole value: what the integration may do (surveys.access).
    role: str = Field(default="staff", max_length=16)
    created_at: datetime = _ts()
    revoked_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class ServiceEvent(SQLModel, table=True):
    """A finished 办件 pushed by a service system; the citizen may rate it."""

    __tablename__ = "service_event"

    id: int | None = Field(default=None, primary_key=True)
    case_no: str = Field(max_length=64, unique=True, index=True)  # 办件编号
    item_code: str = Field(max_length=64)  # 事项编码
    item_name: str = Field(max_length=200)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    window_code: str | None = Field(default=None, max_length=32)
    channel: int = Field(ge=1, le=7)  # GB/T 39046 pf code
    finished_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    # Printed on the receipt or sent by SMS as a deep link; links the citizen's chat.
    link_token: str = Field(max_length=64, unique=True, index=True)
    respondent_id: int | None = Field(default=None, foreign_key="respondent.id", index=True)
    invited_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    reminded_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    token_id: int | None = Field(default=None, foreign_key="api_token.id")
    received_at: datetime = _ts()


class Rating(SQLModel, table=True):
    """One 好差评 rating. A later round or a late change adds a row; history is kept."""

    __table_args__ = (sa.UniqueConstraint("source", "source_id"),)

    id: int | None = Field(default=None, primary_key=True)
    source: RatingSource = Field(sa_type=sa.String(8))
    source_id: str = Field(max_length=64)  # idempotency key within the source
    service_event_id: int | None = Field(default=None, foreign_key="service_event.id")
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


class FollowUpCase(SQLModel, table=True):
    """The follow-up of one 差评 by the responsible unit."""

    __tablename__ = "follow_up_case"

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


class CaseEvent(SQLModel, table=True):
    """The case timeline: every transition, reply and citizen message, with who and when."""

    __tablename__ = "case_event"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="follow_up_case.id", index=True)
    actor: str = Field(max_length=64)  # staff username, "citizen" or "system"
    kind: str = Field(max_length=16)  # opened/transition/reply/citizen/rerating/escalated
    from_state: str | None = Field(default=None, max_length=8)
    to_state: str | None = Field(default=None, max_length=8)
    note: str | None = Field(default=None, sa_type=sa.Text)
    delivered_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    at: datetime = _ts()
