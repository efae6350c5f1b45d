"""Staff of the evaluated units: who they are, which units they serve, their bot link.

Staff link their own Telegram chat with a one-time code to receive notifications about
their units' cases. The console's accounts (passwords, sessions) build on this table.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

import surveys.models  # noqa: F401  (naming convention first)
from surveys import cases, units, workdays
from surveys.access import StaffRole
from surveys.clock import as_utc
from surveys.engine import N_, Msg
from surveys.exceptions import DomainError, NotFound
from surveys.models import CaseState, FollowUpCase, Unit, _ts, pk

LINK_CODE_MINUTES = 15


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


class Notified(SQLModel, table=True):
    """Which notice about which case went out, so each is sent once."""

    __tablename__ = "case_notice"

    case_id: int = Field(foreign_key="follow_up_case.id", primary_key=True)
    kind: str = Field(max_length=16, primary_key=True)  # new / due / overdue
    sent_at: datetime = _ts()


class InvalidLinkCode(DomainError):
    key = N_("error.invalid_link_code")
    status_code = 400


class UsernameTaken(DomainError):
    key = N_("error.username_taken")
    status_code = 409


def _digest(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


async def add_staff(
    *, session: AsyncSession, username: str, role: StaffRole, unit_codes: list[str]
) -> StaffUser:
    """A staff member serving the given units (none: all units, for admins)."""
    if (await session.exec(select(StaffUser).where(StaffUser.username == username))).first():
        raise UsernameTaken(username=username)
    found = [await units.get_unit_or_raise(session=session, code=c) for c in unit_codes]
    user = StaffUser(username=username, role=role)
    session.add(user)
    await session.flush()
    for unit in found:
        session.add(StaffUnit(user_id=pk(user), unit_id=pk(unit)))
    await session.flush()
    return user


async def issue_link_code(*, session: AsyncSession, username: str, now: datetime) -> str:
    """A one-time code (valid 15 minutes) to send to the bot as ``/link CODE``."""
    user = (await session.exec(select(StaffUser).where(StaffUser.username == username))).first()
    if user is None:
        raise NotFound(username=username)
    code = secrets.token_hex(4).upper()
    user.link_code_hash = _digest(code)
    user.link_code_expires_at = now + timedelta(minutes=LINK_CODE_MINUTES)
    session.add(user)
    await session.flush()
    return code


async def link_chat(*, session: AsyncSession, code: str, chat_id: int, now: datetime) -> StaffUser:
    """Bind the staff member's own chat; the code works once."""
    statement = select(StaffUser).where(StaffUser.link_code_hash == _digest(code))
    user = (await session.exec(statement)).first()
    expires = user.link_code_expires_at if user else None
    if user is None or expires is None or as_utc(expires) < now:
        raise InvalidLinkCode()
    user.telegram_chat_id = chat_id
    user.link_code_hash = None
    user.link_code_expires_at = None
    session.add(user)
    await session.flush()
    return user


@dataclass(frozen=True)
class Notice:
    chat_id: int
    text: Msg


async def _recipients(session: AsyncSession, unit_id: int, roles: set[StaffRole]) -> list[int]:
    statement = (
        select(StaffUser.telegram_chat_id)
        .join(StaffUnit, col(StaffUnit.user_id) == col(StaffUser.id))
        .where(
            StaffUnit.unit_id == unit_id,
            col(StaffUser.active).is_(True),
            col(StaffUser.telegram_chat_id).is_not(None),
            col(StaffUser.role).in_([r.value for r in roles]),
        )
    )
    return [int(c) for c in (await session.exec(statement)).all() if c is not None]


async def due_notices(
    *, session: AsyncSession, today: date, now: datetime, calendar: workdays.WorkCalendar
) -> list[Notice]:
    """Notices not sent yet: each new 差评, deadlines within a working day, overdue cases.

    Each is recorded as sent in the same transaction; staff see only masked references.
    """
    await cases.escalate_overdue(session=session, today=today, now=now)  # 督办
    sent = {(n.case_id, n.kind) for n in (await session.exec(select(Notified))).all()}
    notices: list[Notice] = []
    unit_names = {u.id: u.name for u in (await session.exec(select(Unit))).all()}
    open_cases = (await session.exec(select(FollowUpCase))).all()
    soon = {c.id for c in await cases.due_soon(session=session, calendar=calendar, today=today)}
    for case in open_cases:
        kinds = []
        if case.state == CaseState.pending:
            kinds.append(("new", {StaffRole.staff, StaffRole.supervisor}))
        # The new-case notice already names the contact deadline; this one is for 整改.
        if case.id in soon and case.state != CaseState.pending:
            kinds.append(("due", {StaffRole.staff}))
        if cases.is_overdue(case, today):
            kinds.append(("overdue", {StaffRole.staff, StaffRole.supervisor}))
        for kind, roles in kinds:
            if (case.id, kind) in sent:
                continue
            session.add(Notified(case_id=pk(case), kind=kind, sent_at=now))
            text = Msg(
                f"staff.notice.{kind}",
                {
                    "unit": unit_names.get(case.unit_id, ""),
                    "case": case.id,
                    "ref": cases.masked_reference(case),
                    "contact_due": str(case.contact_due),
                    "rectify_due": str(case.rectify_due),
                },
            )
            notices += [
                Notice(chat_id, text)
                for chat_id in await _recipients(session, case.unit_id, roles)
            ]
    await session.flush()
    return notices


NOTICE_KEYS = [N_("staff.notice.new"), N_("staff.notice.due"), N_("staff.notice.overdue")]
