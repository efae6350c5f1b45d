"""Tables of surveys, respondents and their answers.

Personal data lives in :class:`Identity` only; everything else points to a pseudonymous
:class:`Respondent` so answers survive when the identity is erased.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from surveys.core.models import _ts


class ResponseStatus(StrEnum):
    in_progress = "in_progress"
    completed = "completed"


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
    # The citizen's own choices (/lang, /care or the web chat's switches): a locale such as
    # "en" or None for the channel's default, and 关怀模式 (care mode) on or off.
    language: str | None = Field(default=None, max_length=16)
    care_mode: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})


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
    # When the citizen agreed to be invited to surveys (broadcasts); None: never, or withdrawn.
    invite_consent_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class Response(SQLModel, table=True):
    __table_args__ = (
        sa.UniqueConstraint("respondent_id", "survey_id", "period"),
        # The filters of the results page: a survey's completed responses, by period, unit
        # and channel, counted from this index alone.
        sa.Index("ix_response_results", "survey_id", "status", "period", "unit_id", "channel"),
    )

    id: int | None = Field(default=None, primary_key=True)
    respondent_id: int = Field(foreign_key="respondent.id", index=True)
    survey_id: int = Field(foreign_key="survey.id", index=True)
    survey_version_id: int = Field(foreign_key="survey_version.id", index=True)
    period: str = Field(max_length=8)
    unit_id: int | None = Field(default=None, foreign_key="unit.id", index=True)
    # Where it was answered: "telegram" (the bot) or "web" (the mobile web chat).
    channel: str = Field(
        default="telegram", max_length=16, sa_column_kwargs={"server_default": "telegram"}
    )
    status: ResponseStatus = Field(default=ResponseStatus.in_progress, sa_type=sa.String(16))
    # Options ticked so far on the current multiple-choice question, before 完成.
    draft: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    started_at: datetime = _ts()
    completed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class Answer(SQLModel, table=True):
    __table_args__ = (
        sa.UniqueConstraint("response_id", "question_key"),
        # The results page counts answers per (question, choice), and the scores count
        # satisfaction answers per level and half-year, from this index alone.
        sa.Index(
            "ix_answer_tally",
            "response_id",
            "question_key",
            "skipped",
            "choice",
            "number",
            "answered_at",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    response_id: int = Field(foreign_key="response.id", index=True)
    question_key: str = Field(max_length=32)
    choice: str | None = Field(default=None, max_length=64)
    choices: list[str] | None = Field(default=None, sa_type=sa.JSON)
    number: int | None = None
    text: str | None = Field(default=None, sa_type=sa.Text)
    skipped: bool = False
    answered_at: datetime = _ts()


class AnswerHistory(SQLModel, table=True):
    """An answer the citizen changed by going back (返回上一题), or one that no longer
    applied once the skip logic was re-evaluated: kept, never counted."""

    __tablename__ = "answer_history"

    id: int | None = Field(default=None, primary_key=True)
    response_id: int = Field(foreign_key="response.id", index=True)
    question_key: str = Field(max_length=32)
    choice: str | None = Field(default=None, max_length=64)
    choices: list[str] | None = Field(default=None, sa_type=sa.JSON)
    number: int | None = None
    text: str | None = Field(default=None, sa_type=sa.Text)
    skipped: bool = False
    answered_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    retired_at: datetime = _ts()


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
