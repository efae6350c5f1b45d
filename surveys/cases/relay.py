"""保密联络: staff replies reach the citizen through the bot; the citizen answers and re-rates.

Staff never see how the citizen is reached: the chat id is looked up here, at delivery
time, from the identity table, and never leaves this module except to the sender. A citizen
of the web chat has no identity row: their replies wait on their page
(:mod:`surveys.cases.contact`), never in the outbox. A citizen who declined contact
(不需要联系) is sent nothing and cannot answer or re-rate through a stale button.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.models import Unit
from surveys.cases import service as cases
from surveys.cases.models import CaseEvent, CaseState, FollowUpCase
from surveys.core.exceptions import DomainError, NotFound
from surveys.core.i18n import N_, Msg
from surveys.core.models import pk
from surveys.haochaping.models import Rating
from surveys.questionnaire.models import Identity, Respondent

RERATING_CHOICES = tuple(cases.RERATING_LEVELS)  # 满意 / 基本满意 / 不满意


class ContactDeclined(DomainError):
    """The citizen chose 不需要联系 for this 差评: no relay in either direction."""

    key = N_("contact.declined")
    status_code = 409


@dataclass(frozen=True)
class Outgoing:
    event_id: int
    case_id: int
    chat_id: int
    unit_name: str
    text: str
    ask_rerating: bool
    unfounded: bool = False  # the text is the reason the 差评 was found 不属实


async def outgoing_replies(*, session: AsyncSession, channel: str) -> list[Outgoing]:
    """Undelivered staff replies whose citizen can still be reached on ``channel`` and
    agreed to be contacted, oldest first; others are never even read here."""
    statement = (
        select(CaseEvent, FollowUpCase, Identity.chat_id, Unit.name)
        .join(FollowUpCase, col(CaseEvent.case_id) == col(FollowUpCase.id))
        .join(Rating, col(Rating.id) == col(FollowUpCase.rating_id))
        .join(Identity, col(Identity.respondent_id) == col(Rating.respondent_id))
        .join(Unit, col(Unit.id) == col(FollowUpCase.unit_id))
        .where(
            *cases.undelivered_to_citizen(),
            Identity.channel == channel,
            col(Rating.contact_ok).is_(True),
        )
        .order_by(col(CaseEvent.id))
    )
    found = (await session.exec(statement)).all()
    # The 复评 buttons come with the 反馈 (the move to 已反馈); a reply still waiting beside
    # it does not ask too, so the citizen is asked once.
    with_feedback = {pk(case) for event, case, _, _ in found if _is_feedback(event)}
    return [
        Outgoing(
            pk(event),
            pk(case),
            chat_id,
            unit_name,
            event.note or "",
            case.state == CaseState.replied
            and (_is_feedback(event) or pk(case) not in with_feedback),
            unfounded=event.to_state == CaseState.unfounded.value,
        )
        for event, case, chat_id, unit_name in found
    ]


def _is_feedback(event: CaseEvent) -> bool:
    """The move to 已反馈, whose note is the 反馈 sent to the citizen."""
    return event.kind == "transition" and event.to_state == CaseState.replied.value


async def mark_sent(*, session: AsyncSession, event_id: int) -> None:
    event = await session.get(CaseEvent, event_id)
    if event is not None:
        await cases.mark_delivered(session=session, event=event)


async def _own_case(session: AsyncSession, respondent: Respondent, case_id: int) -> FollowUpCase:
    """The case, if it follows a rating this respondent gave; NotFound otherwise, and
    ContactDeclined if they chose 不需要联系."""
    case = await session.get(FollowUpCase, case_id)
    rating = await session.get(Rating, case.rating_id) if case else None
    if case is None or rating is None or rating.respondent_id != respondent.id:
        raise NotFound(case=case_id)
    if not rating.contact_ok:
        raise ContactDeclined()
    return case


async def rerate(
    *, session: AsyncSession, respondent: Respondent, case_id: int, choice: int, tz: ZoneInfo
) -> Msg:
    """The citizen's 复评 of how the unit handled their 差评 (its round's period in ``tz``)."""
    case = await _own_case(session, respondent, case_id)
    if not 0 <= choice < len(RERATING_CHOICES):
        return Msg(N_("engine.stale"))
    await cases.record_rerating(session=session, case=case, level=RERATING_CHOICES[choice], tz=tz)
    return Msg(N_("relay.rerated"), {"choice": RERATING_CHOICES[choice]})


async def answer_unit(
    *, session: AsyncSession, respondent: Respondent, case_id: int, text: str
) -> Msg:
    """The citizen writes back to the unit; it joins the case timeline."""
    case = await _own_case(session, respondent, case_id)
    await cases.add_citizen_message(session=session, case=case, text=text)
    return Msg(N_("relay.sent"))
