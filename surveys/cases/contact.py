"""保密联络 on the web: a web citizen's private page for the follow-up of their 差评.

A citizen of the web chat has no chat the unit's replies could be relayed to. When their
差评 agrees to be contacted, they get an unguessable link, shown once and kept in their
browser; the page shows the case as the citizen may see it, the unit's replies (the same
messages the bot relays), lets them write back and re-rate, through the same services as the
bot (:mod:`surveys.cases.relay`). Only a hash of the link is stored, so neither a database
copy nor staff can open the page; staff see the case as for any other citizen.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.models import Unit
from surveys.cases import relay
from surveys.cases import service as cases
from surveys.cases.models import CaseEvent, CaseState, CitizenContact, FollowUpCase
from surveys.core.clock import local_minutes
from surveys.core.exceptions import NotFound
from surveys.core.i18n import N_, Msg
from surveys.core.models import pk
from surveys.haochaping.models import Rating
from surveys.questionnaire.models import Identity, Respondent

TOKEN_BYTES = 24  # 32 URL-safe characters: unguessable, short enough to copy by hand
WEB = "web"
TELEGRAM = "telegram"
UNREACHABLE = "unreachable"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


class UnknownContact(NotFound):
    """A contact link that is malformed, forged or no longer leads to a case."""

    key = N_("contact.not_found")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def record_web_case(
    *, session: AsyncSession, case: FollowUpCase, contact_ok: bool
) -> str | None:
    """Note that ``case`` came from the web chat; with consent, its new page link's token.

    The token is returned once, for the citizen to keep; only its hash is stored.
    """
    token = secrets.token_urlsafe(TOKEN_BYTES) if contact_ok else None
    session.add(CitizenContact(case_id=pk(case), token_hash=_digest(token) if token else None))
    await session.flush()
    return token


async def respondents_of_links(*, session: AsyncSession, tokens: Sequence[str]) -> set[int]:
    """The respondents whose cases the page links ``tokens`` open (wrong ones open none)."""
    digests = [_digest(token) for token in tokens if _TOKEN.match(token)]
    if not digests:
        return set()
    statement = (
        select(Rating.respondent_id)
        .join(FollowUpCase, col(FollowUpCase.rating_id) == col(Rating.id))
        .join(CitizenContact, col(CitizenContact.case_id) == col(FollowUpCase.id))
        .where(col(CitizenContact.token_hash).in_(digests))
    )
    return {found for found in (await session.exec(statement)).all() if found is not None}


async def forget_links(*, session: AsyncSession, respondent_ids: Collection[int]) -> int:
    """Delete the web chat's rows of these respondents' cases, page links and all: no link
    opens their page any more, and :func:`channel_of` reports them unreachable. The number
    of page links deleted."""
    if not respondent_ids:
        return 0
    theirs = (
        select(FollowUpCase.id)
        .join(Rating, col(Rating.id) == col(FollowUpCase.rating_id))
        .where(col(Rating.respondent_id).in_(respondent_ids))
    )
    links = await session.exec(
        select(CitizenContact.id).where(
            col(CitizenContact.case_id).in_(theirs), col(CitizenContact.token_hash).is_not(None)
        )
    )
    count = len(links.all())
    await session.exec(delete(CitizenContact).where(col(CitizenContact.case_id).in_(theirs)))
    return count


async def channel_of(*, session: AsyncSession, case: FollowUpCase) -> str | None:
    """How the case's citizen is reached: "web" (their page), "telegram", "unreachable" (a
    citizen whose contact was erased: /forget, the retention purge or the web chat's
    删除我的联系方式), or None (imported)."""
    found = await session.exec(select(CitizenContact.id).where(CitizenContact.case_id == pk(case)))
    if found.first() is not None:
        return WEB
    rating = await session.get(Rating, case.rating_id)
    if rating is None or rating.respondent_id is None:
        return None
    chat = await session.exec(
        select(Identity.respondent_id).where(Identity.respondent_id == rating.respondent_id)
    )
    return TELEGRAM if chat.first() is not None else UNREACHABLE


async def _open(session: AsyncSession, token: str) -> tuple[FollowUpCase, Rating, Respondent]:
    """The case behind a page link; :class:`UnknownContact` for anything else."""
    if not _TOKEN.match(token):
        raise UnknownContact()
    statement = (
        select(FollowUpCase, Rating)
        .join(CitizenContact, col(CitizenContact.case_id) == col(FollowUpCase.id))
        .join(Rating, col(Rating.id) == col(FollowUpCase.rating_id))
        .where(CitizenContact.token_hash == _digest(token))
    )
    found = (await session.exec(statement)).first()
    respondent = None
    if found is not None and found[1].respondent_id is not None:
        respondent = await session.get(Respondent, found[1].respondent_id)
    if found is None or respondent is None:
        raise UnknownContact()
    return found[0], found[1], respondent


@dataclass(frozen=True)
class ContactMessage:
    at: str  # local time, minutes
    by: str  # "unit" or "citizen"
    kind: str  # reply / unfounded (the reason given) / citizen / rerating
    text: str


@dataclass(frozen=True)
class ContactPage:
    """The case as its citizen may see it: never a staff member's name."""

    unit_name: str
    subject: str  # the 事项 rated, or the window; "" if neither is known
    level: str  # the rating's Level code
    rated_at: str
    state: CaseState
    contact_due: date | None  # while the unit owes the first contact
    rectify_due: date | None  # while it owes the 整改 and 反馈
    messages: list[ContactMessage]
    can_write: bool
    can_rerate: bool
    rerating: str | None  # the citizen's 复评, a Level code
    rerate_choices: tuple[str, ...] = relay.RERATING_CHOICES
    # The same choices as Level codes, so a page names them in the citizen's language.
    rerate_levels: tuple[str, ...] = tuple(
        cases.RERATING_LEVELS[choice].value for choice in relay.RERATING_CHOICES
    )


def _message(event: CaseEvent, tz: ZoneInfo) -> ContactMessage | None:
    at, text = local_minutes(event.at, tz), event.note or ""
    if event.kind == "reply":
        return ContactMessage(at, "unit", "reply", text)
    if event.kind == "transition" and event.to_state == CaseState.unfounded.value:
        return ContactMessage(at, "unit", "unfounded", text)
    if event.kind == "transition" and event.to_state == CaseState.replied.value and text:
        return ContactMessage(at, "unit", "reply", text)  # the 反馈, with the 复评 below it
    if event.kind in ("citizen", "rerating"):
        return ContactMessage(at, "citizen", event.kind, text)
    return None


async def contact_page(*, session: AsyncSession, token: str, tz: ZoneInfo) -> ContactPage:
    """The page behind a contact link; :class:`UnknownContact` (404) for a wrong one."""
    case, rating, _ = await _open(session, token)
    unit = await session.get_one(Unit, case.unit_id)
    events = await cases.timeline(session=session, case=case)
    state = CaseState(case.state)
    shown = [m for m in (_message(e, tz) for e in events) if m is not None]
    return ContactPage(
        unit_name=unit.name,
        subject=rating.item_name or rating.window_code or "",
        level=rating.level,
        rated_at=local_minutes(rating.rated_at, tz),
        state=state,
        contact_due=case.contact_due if state in cases.AWAITING_CONTACT else None,
        rectify_due=case.rectify_due if state in cases.AWAITING_RECTIFY else None,
        messages=shown,
        can_write=state is not CaseState.closed,
        can_rerate=state is CaseState.replied,
        rerating=case.rerating,
    )


async def write_back(*, session: AsyncSession, token: str, text: str) -> Msg:
    """The citizen writes to the unit from their page, as the bot's "answer the unit" does."""
    case, _, respondent = await _open(session, token)
    return await relay.answer_unit(
        session=session, respondent=respondent, case_id=pk(case), text=text
    )


async def rerate(*, session: AsyncSession, token: str, choice: int, tz: ZoneInfo) -> Msg:
    """The citizen's 复评 from their page once the case is 已反馈, as the bot's buttons do."""
    case, _, respondent = await _open(session, token)
    return await relay.rerate(
        session=session, respondent=respondent, case_id=pk(case), choice=choice, tz=tz
    )
