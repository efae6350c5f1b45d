"""How every case ends (domain.md §3): without the citizen's 复评 too.

After 已反馈 the citizen has ``CASE_RERATING_DAYS`` working days to 复评, counted from the
working day after the 已反馈 event's local date (as every deadline, 民法典 §201); past them the
case closes as 已关闭（未复评）. A supervisor closes any open case at any time with a note
(结案). A citizen who erased their contact (/forget) can no longer be reached: their cases
awaiting the 复评 close as 无法联系; those still with the unit stay open, marked so on the
timeline (the unit finishes its work, nothing can be relayed), and close as 无法联系 once
they reach 已反馈. The web chat's 删除我的联系方式 does the same for a web citizen, whose
page links go (:func:`forget_web_citizen`). Every close is a timeline event with who, when
and a note, and the case keeps its reason (:class:`CloseReason`), shown as e.g.
已关闭（未复评）.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.access import Actor, Perm
from surveys.cases import contact
from surveys.cases import service as cases
from surveys.cases.models import CaseEvent, CaseState, CloseReason, FollowUpCase
from surveys.cases.workdays import WorkCalendar
from surveys.core.clock import as_utc
from surveys.core.i18n import N_, Translator
from surveys.core.models import pk
from surveys.haochaping.models import Rating
from surveys.questionnaire import respondents
from surveys.questionnaire.models import Respondent

S = CaseState
UNREACHABLE = "unreachable"  # the timeline event of an open case whose citizen erased contact
REASONS = {
    CloseReason.rerated: N_("caseclose.reason.rerated"),
    CloseReason.no_rerating: N_("caseclose.reason.no_rerating"),
    CloseReason.supervisor: N_("caseclose.reason.supervisor"),
    CloseReason.unreachable: N_("caseclose.reason.unreachable"),
    CloseReason.unfounded: N_("caseclose.reason.unfounded"),
    CloseReason.appeal_upheld: N_("caseclose.reason.appeal_upheld"),
}


def state_label(case: FollowUpCase, t: Translator | None = None) -> str:
    """The state as staff read it: 已关闭 with how it ended, e.g. 已关闭（未复评）."""
    return label_of(CaseState(case.state), case.close_reason, t)


def label_of(state: CaseState, close_reason: str | None, t: Translator | None = None) -> str:
    """:func:`state_label` of a state and a stored close reason."""
    if state is not S.closed or close_reason not in set(CloseReason):
        return state.value
    t = t or Translator()
    reason = t(REASONS[CloseReason(close_reason)])
    return t(N_("caseclose.state"), state=state.value, reason=reason)


# 已关闭（未复评）------------------------------------------------------------------------


def window_start(calendar: WorkCalendar, today: date, days: int) -> date:
    """The first local day whose 反馈 is still within its 复评 window on ``today``.

    A 反馈 given on day d may be re-rated until ``add_working_days(d, days)``; on ``today``
    that is over exactly when ``days`` working days lie in (d, today), i.e. when d is before
    the ``days``-th working day counted back from the day before ``today``.
    """
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    day, remaining = today, days
    while remaining:
        day -= timedelta(days=1)
        if calendar.is_workday(day):
            remaining -= 1
    return day


def _feedback_at() -> sa.ScalarSelect[datetime]:
    """When the case moved to 已反馈 (the latest such event), correlated to the case."""
    return (
        select(func.max(CaseEvent.at))
        .where(
            col(CaseEvent.case_id) == col(FollowUpCase.id),
            col(CaseEvent.to_state) == S.replied.value,
        )
        .scalar_subquery()
    )


def _unreachable() -> sa.Exists:
    return (
        select(CaseEvent.id)
        .where(col(CaseEvent.case_id) == col(FollowUpCase.id), CaseEvent.kind == UNREACHABLE)
        .exists()
    )


async def close_unrerated(
    *, session: AsyncSession, calendar: WorkCalendar, today: date, now: datetime, days: int
) -> list[FollowUpCase]:
    """Close the 已反馈 cases whose 复评 window is over on ``today`` (已关闭（未复评）) or
    whose citizen erased their contact (无法联系); the cases closed, by id.

    Only those cases are read (the database picks them); a second run closes nothing.
    """
    start = datetime.combine(window_start(calendar, today, days), time(), calendar.tz)
    feedback_at = _feedback_at().label("feedback_at")
    statement = (
        select(FollowUpCase, feedback_at, _unreachable().label("gone"))
        .where(
            col(FollowUpCase.state) == S.replied.value,
            sa.or_(feedback_at < start.astimezone(UTC), _unreachable()),
        )
        .order_by(col(FollowUpCase.id))
    )
    t = Translator()
    closed = []
    for case, given_at, gone in (await session.exec(statement)).all():
        if gone:
            reason, note = CloseReason.unreachable, t(N_("caseclose.note.unreachable"))
        else:
            due = calendar.add_working_days(calendar.local_date(as_utc(given_at)), days)
            reason = CloseReason.no_rerating
            note = t(N_("caseclose.note.no_rerating"), days=days, due=due.isoformat())
        await cases.close(
            session=session,
            case=case,
            reason=reason,
            actor=cases.SYSTEM,
            actor_role=cases.SYSTEM,
            note=note,
            at=now,
        )
        closed.append(case)
    return closed


# 结案 by a supervisor -------------------------------------------------------------------


async def close_by_supervisor(
    *, session: AsyncSession, actor: Actor, case: FollowUpCase, note: str | None
) -> CaseEvent:
    """A supervisor's 结案 of an open case, whatever its state, with a required note."""
    actor.require(Perm.decide_appeal)
    actor.require_unit(case.unit_id, case=case.id)
    return await cases.close(
        session=session,
        case=case,
        reason=CloseReason.supervisor,
        actor=actor.name[:64],
        actor_role="supervisor",
        note=note,
    )


# 无法联系 -------------------------------------------------------------------------------


async def forget_citizen(*, session: AsyncSession, respondent: Respondent, now: datetime) -> int:
    """Erase how to reach the citizen (/forget) and close the loop of their open cases.

    Cases awaiting their 复评 (已反馈) close as 无法联系; those still with the unit are marked
    on the timeline and close so once they reach 已反馈. Returns the identity rows erased, as
    :func:`~surveys.questionnaire.respondents.forget_respondent` does.
    """
    erased = await respondents.forget_respondent(session=session, respondent=respondent)
    await _close_the_loop(session, [pk(respondent)], now)
    return erased


@dataclass(frozen=True)
class WebErasure:
    """What the web chat's 删除我的联系方式 erased."""

    links: int = 0  # 保密联络 page links that no longer open
    cases: int = 0  # open cases marked 无法联系: the unit can no longer reach the citizen
    closed: int = 0  # of those, the ones awaiting the 复评 (已反馈), closed at once

    @property
    def anything(self) -> bool:
        return bool(self.links or self.cases)


async def forget_web_citizen(
    *,
    session: AsyncSession,
    secret: bytes,
    citizen_id: str | None,
    tokens: Sequence[str],
    now: datetime,
) -> WebErasure:
    """The web chat's twin of :func:`forget_citizen`: erase how to reach a web citizen.

    The citizen is the pseudonym of their browser's random id (``citizen_id``, never
    created here) and the citizen behind each page link the browser kept (``tokens``: the
    link is the key to the page). Their cases' web chat rows go, page links and all (no link
    opens a page any more, so a reply cannot reach them), their dialogues in progress go, and
    their open cases close the loop as with /forget: marked 无法联系, closed at once when
    awaiting the 复评. Answers and ratings stay under the pseudonym. A second call finds
    nothing more to erase.
    """
    ids = await contact.respondents_of_links(session=session, tokens=tokens)
    if citizen_id:
        name = respondents.pseudonym(secret, contact.WEB, citizen_id)
        found = await session.exec(select(Respondent).where(Respondent.pseudonym == name))
        respondent = found.first()
        if respondent is not None:
            ids.add(pk(respondent))
    if not ids:
        return WebErasure()
    links = await contact.forget_links(session=session, respondent_ids=ids)
    for respondent_id in sorted(ids):
        who = await session.get_one(Respondent, respondent_id)
        await respondents.forget_respondent(session=session, respondent=who)
    marked = await _close_the_loop(session, sorted(ids), now)
    return WebErasure(links=links, cases=len(marked), closed=sum(closed for _, closed in marked))


async def _close_the_loop(
    session: AsyncSession, respondent_ids: Sequence[int], now: datetime
) -> list[tuple[FollowUpCase, bool]]:
    """Mark the open cases of these respondents 无法联系 (not marked yet); close those
    awaiting the 复评. Each case marked, with whether it closed."""
    statement = (
        select(FollowUpCase)
        .join(Rating, col(Rating.id) == col(FollowUpCase.rating_id))
        .where(
            col(Rating.respondent_id).in_(respondent_ids),
            col(FollowUpCase.state) != S.closed.value,
            ~_unreachable(),
        )
        .order_by(col(FollowUpCase.id))
    )
    t = Translator()
    marked = []
    for case in (await session.exec(statement)).all():
        note = t(N_("caseclose.note.erased"))
        session.add(
            CaseEvent(case_id=pk(case), actor=cases.SYSTEM, kind=UNREACHABLE, note=note, at=now)
        )
        closing = case.state == S.replied
        if closing:
            await cases.close(
                session=session,
                case=case,
                reason=CloseReason.unreachable,
                actor=cases.SYSTEM,
                actor_role=cases.SYSTEM,
                note=t(N_("caseclose.note.unreachable")),
                at=now,
            )
        marked.append((case, closing))
    await session.flush()
    return marked
