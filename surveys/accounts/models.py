"""Tables of units, staff accounts, API tokens, sign-in attempts and the audit log.

Entries name staff accounts and tokens, never citizens.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from surveys.accounts.access import StaffRole
from surveys.core.models import _ts


class UnitKind(StrEnum):
    district = "旗县区"
    hightech = "高新区"
    department = "市直部门"


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


class StaffUser(SQLModel, table=True):
    __tablename__ = "staff_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True, index=True)
    role: StaffRole = Field(sa_type=sa.String(16))
    active: bool = True
    telegram_chat_id: int | None = Field(default=None, sa_type=sa.BigInteger)
    link_code_hash: str | None = Field(default=None, max_length=64)
    link_code_expires_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    # Console sign-in (surveys.accounts): argon2 hash, never the password itself.
    password_hash: str | None = Field(default=None, max_length=200)
    must_change_password: bool = True
    failed_logins: int = 0
    locked_until: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    # Bumped on sign-out and password change: every older session cookie stops working.
    session_version: int = 1
    last_login_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    created_at: datetime = _ts()


class StaffUnit(SQLModel, table=True):
    """The units a staff member serves (a supervisor may lead several)."""

    __tablename__ = "staff_unit"

    user_id: int = Field(foreign_key="staff_user.id", primary_key=True)
    unit_id: int = Field(foreign_key="unit.id", primary_key=True)


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


class LoginAttempt(SQLModel, table=True):
    """Every sign-in attempt, for lockout and the per-address limit."""

    __tablename__ = "login_attempt"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, index=True)
    address: str = Field(max_length=64, index=True)
    ok: bool
    at: datetime = _ts()


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _ts()
    actor: str = Field(max_length=80, index=True)  # username, or "token:<name>"
    role: str = Field(max_length=16)
    action: str = Field(max_length=40, index=True)  # e.g. login, case.reply, export.results
    target: str | None = Field(default=None, max_length=120)
    address: str | None = Field(default=None, max_length=64)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
