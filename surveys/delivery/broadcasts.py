"""Broadcasts: invite every linked citizen who agreed to invitations and has not yet answered
a survey, a few at a time, through the outbox.

Staff start, pause and resume a broadcast (:mod:`surveys.flows.broadcasts`); the sender calls
:func:`step` now and then, which queues the next invitations of the running broadcasts. A
citizen is eligible while all of these hold:

* a contact on Telegram (an :class:`Identity`; /forget and the retention purge erase it),
  with their consent to invitations recorded (``invite_consent_at``,
  :func:`surveys.questionnaire.respondents.set_invite_consent`), and not blocked by the
  chat (``unreachable_chat``: nothing could be delivered);
* no completed response to the survey for the broadcast's period;
* when the broadcast names units: a rating, a 办件 (service event) or a survey response at
  one of those units;
* not invited by this broadcast yet (:class:`BroadcastRecipient`, unique per citizen).

What is queued is whatever the bot's renderer makes of an :class:`Invitation`, which holds no
chat id; the chat id goes from the identity straight into the outbox and is never returned.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import col, func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from surveys.accounts import units
from surveys.accounts.models import Unit
from surveys.core.exceptions import DomainError, NotFound
from surveys.core.i18n import N_
from surveys.core.models import pk
from surveys.core.sql import insert_ignore
from surveys.delivery import outbox
from surveys.delivery.broadcast_models import Broadcast, BroadcastRecipient, BroadcastStatus
from surveys.delivery.models import UnreachableChat
from surveys.haochaping.models import Rating, ServiceEvent
from surveys.questionnaire import catalog
from surveys.questionnaire.models import (
    Identity,
    Response,
    ResponseStatus,
    Survey,
    SurveyVersion,
)

PURPOSE = "invite"
CHANNEL = "telegram"
# The evaluation's zone unless the caller passes its settings' (Settings.tz).
DEFAULT_TZ = ZoneInfo("Asia/Shanghai")
# Why the system stopped a broadcast (Broadcast.reason).
SURVEY_CLOSED = "survey_closed"
NEW_PERIOD = "new_period"
EXHAUSTED = "no_one_left"


class UnknownBroadcastSurvey(NotFound):
    key = N_("error.broadcast_unknown_survey")


class UnknownBroadcast(NotFound):
    key = N_("error.unknown_broadcast")


class BroadcastSurveyNotOpen(DomainError):
    key = N_("error.broadcast_survey_not_open")
    status_code = 409


class BroadcastStale(DomainError):
    key = N_("error.broadcast_stale")
    status_code = 409


class BroadcastExists(DomainError):
    key = N_("error.broadcast_exists")
    status_code = 409


class BroadcastDone(DomainError):
    key = N_("error.broadcast_done")
    status_code = 409


@dataclass(frozen=True, slots=True)
class Invitation:
    """What the renderer needs to word one invitation (no chat id, no personal data)."""

    broadcast_id: int
    respondent_id: int
    survey_code: str
    survey_title: str
    period: str


# The bot's renderer: an invitation → (Bot API method, its parameters).
Render = Callable[[Invitation], tuple[str, dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Progress:
    """A broadcast at a glance: counts only, never who."""

    id: int
    survey_code: str
    period: str
    unit_codes: tuple[str, ...]
    status: BroadcastStatus
    reason: str | None
    created_by: str
    created_at: datetime
    finished_at: datetime | None
    eligible: int  # queued + remaining
    queued: int
    remaining: int


# Eligibility -------------------------------------------------------------------------------


def _eligible(broadcast: Broadcast) -> Any:
    """The conditions (see the module text) on :class:`Identity` rows, as one clause."""
    answered = select(Response.respondent_id).where(
        col(Response.survey_id) == broadcast.survey_id,
        col(Response.period) == broadcast.period,
        col(Response.status) == ResponseStatus.completed,
    )
    conditions = [
        col(Identity.channel) == CHANNEL,
        col(Identity.invite_consent_at).is_not(None),
        col(Identity.chat_id).not_in(select(UnreachableChat.chat_id)),
        col(Identity.respondent_id).not_in(answered),
    ]
    if broadcast.unit_ids:
        ids = list(broadcast.unit_ids)
        conditions.append(
            sa.or_(
                col(Identity.respondent_id).in_(
                    select(Rating.respondent_id).where(
                        col(Rating.unit_id).in_(ids), col(Rating.respondent_id).is_not(None)
                    )
                ),
                col(Identity.respondent_id).in_(
                    select(ServiceEvent.respondent_id).where(
                        col(ServiceEvent.unit_id).in_(ids),
                        col(ServiceEvent.respondent_id).is_not(None),
                    )
                ),
                col(Identity.respondent_id).in_(
                    select(Response.respondent_id).where(col(Response.unit_id).in_(ids))
                ),
            )
        )
    return sa.and_(*conditions)


def _not_queued(broadcast: Broadcast) -> Any:
    return col(Identity.respondent_id).not_in(
        select(BroadcastRecipient.respondent_id).where(
            col(BroadcastRecipient.broadcast_id) == broadcast.id
        )
    )


async def _remaining(session: AsyncSession, broadcast: Broadcast) -> int:
    found = await session.exec(
        select(func.count())
        .select_from(Identity)
        .where(_eligible(broadcast), _not_queued(broadcast))
    )
    return int(found.one())


def _candidates(broadcast: Broadcast, limit: int) -> SelectOfScalar[Any]:
    return (
        select(Identity.respondent_id, Identity.chat_id)  # type: ignore[return-value]
        .where(_eligible(broadcast), _not_queued(broadcast))
        .order_by(col(Identity.respondent_id))
        .limit(limit)
    )


# Look-ups ----------------------------------------------------------------------------------


async def _latest_version(session: AsyncSession, survey_id: int) -> SurveyVersion | None:
    found = await session.exec(
        select(SurveyVersion)
        .where(col(SurveyVersion.survey_id) == survey_id)
        .order_by(col(SurveyVersion.version).desc())
    )
    return found.first()


async def get_broadcast(*, session: AsyncSession, broadcast_id: int) -> Broadcast:
    broadcast = await session.get(Broadcast, broadcast_id)
    if broadcast is None:
        raise UnknownBroadcast(id=broadcast_id)
    return broadcast


def _check_current(broadcast: Broadcast, version: SurveyVersion | None, day: date) -> None:
    """Refuse to go on with a broadcast whose survey moved on or is not open on ``day``."""
    if version is None:
        raise UnknownBroadcastSurvey(code=broadcast.survey_code)
    if version.period != broadcast.period:
        raise BroadcastStale(id=broadcast.id, period=broadcast.period, current=version.period)
    if not catalog.is_open(version, day):
        raise BroadcastSurveyNotOpen(
            title=version.title, opens_on=str(version.opens_on), closes_on=str(version.closes_on)
        )


# Staff actions (through the flows) -----------------------------------------------------------


async def start(
    *,
    session: AsyncSession,
    survey_code: str,
    unit_codes: Sequence[str] = (),
    created_by: str,
    today: date,
    now: datetime,
) -> Broadcast:
    """A running broadcast for the survey's current period, to be worked off by :func:`step`.

    Refused: an unknown survey or unit, a survey not open ``today``, and a second broadcast
    of the same survey and period while one is running or paused.
    """
    code = survey_code.strip()
    survey = (await session.exec(select(Survey).where(col(Survey.code) == code))).first()
    version = await _latest_version(session, pk(survey)) if survey is not None else None
    if survey is None or version is None:
        raise UnknownBroadcastSurvey(code=code)
    if not catalog.is_open(version, today):
        raise BroadcastSurveyNotOpen(
            title=version.title, opens_on=str(version.opens_on), closes_on=str(version.closes_on)
        )
    unit_ids: list[int] = []
    for unit_code in dict.fromkeys(c.strip() for c in unit_codes if c.strip()):
        unit_ids.append(pk(await units.get_unit_or_raise(session=session, code=unit_code)))
    open_one = (
        await session.exec(
            select(Broadcast.id).where(
                col(Broadcast.survey_id) == pk(survey),
                col(Broadcast.period) == version.period,
                col(Broadcast.status).in_((BroadcastStatus.running, BroadcastStatus.paused)),
            )
        )
    ).first()
    if open_one is not None:
        raise BroadcastExists(id=open_one, code=code)
    broadcast = Broadcast(
        survey_id=pk(survey),
        survey_code=code,
        period=version.period,
        unit_ids=unit_ids,
        status=BroadcastStatus.running,
        created_by=created_by[:80],
        created_at=now,
    )
    session.add(broadcast)
    await session.flush()
    return broadcast


async def pause(*, session: AsyncSession, broadcast_id: int) -> Broadcast:
    """Stop queueing invitations until resumed (those already queued still go out)."""
    broadcast = await get_broadcast(session=session, broadcast_id=broadcast_id)
    if broadcast.status == BroadcastStatus.done:
        raise BroadcastDone(id=broadcast_id)
    broadcast.status = BroadcastStatus.paused
    broadcast.reason = None
    session.add(broadcast)
    await session.flush()
    return broadcast


async def resume(*, session: AsyncSession, broadcast_id: int, today: date) -> Broadcast:
    """Go on where the broadcast stopped: nobody it already invited is invited again.

    Refused while the survey is not open ``today``, and for a broadcast whose survey has
    moved on to another period (start a new one).
    """
    broadcast = await get_broadcast(session=session, broadcast_id=broadcast_id)
    if broadcast.status == BroadcastStatus.done:
        raise BroadcastDone(id=broadcast_id)
    _check_current(broadcast, await _latest_version(session, broadcast.survey_id), today)
    broadcast.status = BroadcastStatus.running
    broadcast.reason = None
    session.add(broadcast)
    await session.flush()
    return broadcast


# The sender's part -----------------------------------------------------------------------------


def _finish(broadcast: Broadcast, status: BroadcastStatus, reason: str, now: datetime) -> None:
    broadcast.status = status
    broadcast.reason = reason
    if status == BroadcastStatus.done:
        broadcast.finished_at = now


async def step(
    *,
    session: AsyncSession,
    now: datetime,
    limit: int,
    render: Render,
    tz: ZoneInfo = DEFAULT_TZ,
) -> int:
    """Queue up to ``limit`` invitations of the running broadcasts (oldest first); how many.

    Each citizen is recorded as invited with their invitation, in the caller's transaction,
    so a repeated or concurrent step queues nobody twice. A broadcast is done once nobody
    eligible is left; one whose survey closed is paused (resumable once it is open again),
    one whose survey moved on to another period is done. ``tz``: the zone of the survey's
    opening dates (``Settings.tz``).
    """
    if limit <= 0:
        return 0
    day = now.astimezone(tz).date()
    running = (
        await session.exec(
            select(Broadcast)
            .where(col(Broadcast.status) == BroadcastStatus.running)
            .order_by(col(Broadcast.id))
        )
    ).all()
    queued = 0
    for broadcast in running:
        budget = limit - queued
        if budget <= 0:
            break
        version = await _latest_version(session, broadcast.survey_id)
        if version is None or version.period != broadcast.period:
            _finish(broadcast, BroadcastStatus.done, NEW_PERIOD, now)
            session.add(broadcast)
            continue
        if not catalog.is_open(version, day):
            _finish(broadcast, BroadcastStatus.paused, SURVEY_CLOSED, now)
            session.add(broadcast)
            continue
        rows = (await session.exec(_candidates(broadcast, budget))).all()
        added = 0
        for respondent_id, chat_id in rows:
            fresh = await insert_ignore(
                session,
                BroadcastRecipient,
                broadcast_id=pk(broadcast),
                respondent_id=respondent_id,
                queued_at=now,
            )
            if not fresh:  # another step took this one a moment ago
                continue
            method, payload = render(
                Invitation(
                    broadcast_id=pk(broadcast),
                    respondent_id=int(respondent_id),
                    survey_code=broadcast.survey_code,
                    survey_title=version.title,
                    period=broadcast.period,
                )
            )
            await outbox.enqueue(
                session, chat_id=chat_id, method=method, payload=payload, purpose=PURPOSE, now=now
            )
            added += 1
        if added:
            await session.exec(
                update(Broadcast)
                .where(col(Broadcast.id) == broadcast.id)
                .values(queued=Broadcast.queued + added)
            )
            await session.refresh(broadcast)
        queued += added
        if len(rows) < budget:  # the query found fewer than asked for: nobody is left
            _finish(broadcast, BroadcastStatus.done, EXHAUSTED, now)
            session.add(broadcast)
    await session.flush()
    return queued


# Reading -----------------------------------------------------------------------------------------


async def _progress_of(session: AsyncSession, broadcast: Broadcast) -> Progress:
    queued = int(
        (
            await session.exec(
                select(func.count())
                .select_from(BroadcastRecipient)
                .where(col(BroadcastRecipient.broadcast_id) == broadcast.id)
            )
        ).one()
    )
    remaining = (
        0 if broadcast.status == BroadcastStatus.done else await _remaining(session, broadcast)
    )
    codes: tuple[str, ...] = ()
    if broadcast.unit_ids:
        by_id = dict(
            (
                await session.exec(
                    select(Unit.id, Unit.code).where(col(Unit.id).in_(list(broadcast.unit_ids)))
                )
            ).all()
        )
        codes = tuple(by_id.get(unit_id, f"#{unit_id}") for unit_id in broadcast.unit_ids)
    return Progress(
        id=pk(broadcast),
        survey_code=broadcast.survey_code,
        period=broadcast.period,
        unit_codes=codes,
        status=BroadcastStatus(broadcast.status),
        reason=broadcast.reason,
        created_by=broadcast.created_by,
        created_at=broadcast.created_at,
        finished_at=broadcast.finished_at,
        eligible=queued + remaining,
        queued=queued,
        remaining=remaining,
    )


async def progress(*, session: AsyncSession, broadcast_id: int) -> Progress:
    """One broadcast's counts: eligible (queued + remaining), queued, remaining, status.

    ``remaining`` is counted now (citizens consent, answer or leave meanwhile); 0 once done.
    """
    broadcast = await get_broadcast(session=session, broadcast_id=broadcast_id)
    return await _progress_of(session, broadcast)


async def list_progress(*, session: AsyncSession, limit: int = 50) -> list[Progress]:
    """The latest ``limit`` broadcasts' progress, newest first."""
    found = await session.exec(select(Broadcast).order_by(col(Broadcast.id).desc()).limit(limit))
    return [await _progress_of(session, broadcast) for broadcast in found.all()]
