"""Rating a service window in chat (好差评 by QR code), driven by the survey engine.

The five levels come first and neutrally (GB/T 39734 §4.1); only a 差评 is asked for
reasons, an optional comment and consent to be contacted. Every step is stored when given;
the finished dialogue becomes one :class:`Rating` and, for a 差评, a follow-up case.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts import units
from surveys.accounts.models import Unit
from surveys.cases import contact, workdays
from surveys.cases import service as cases
from surveys.cases.models import FollowUpCase
from surveys.core.clock import as_utc
from surveys.core.exceptions import BadDeepLink, DomainError
from surveys.core.i18n import DEFAULT_LOCALE, N_, Label, Msg, Translator, load_translations
from surveys.core.models import pk
from surveys.core.settings import DEFAULT_RATING_REASONS
from surveys.haochaping import service_events
from surveys.haochaping.models import Rating, RatingChat, RatingSource, ServiceEvent
from surveys.haochaping.ratings import current_round, is_bad, period_of, supersede
from surveys.questionnaire import conversation, engine, links, respondents
from surveys.questionnaire.conversation import Answered, Reply
from surveys.questionnaire.definitions import Level, Question, QuestionType, SurveyDefinition
from surveys.questionnaire.models import Conversation, Identity, Respondent

QR_CHANNEL = 3  # GB/T 39046 channel list: 3 二维码
MOBILE_CHANNEL = 2  # 2 移动服务端: a 办件's own link, opened in chat
EVENT_PREFIX = links.EVENT_PREFIX
DEFAULT_REASONS = DEFAULT_RATING_REASONS
BAD = [Level.dissatisfied.value, Level.very_dissatisfied.value]
CONTACT_YES = "yes"
VOICE_COMMENT = "（语音留言）"
TEXT_KEYS = {
    "level": N_("rating.q.level"),
    "reasons": N_("rating.q.reasons"),
    "comment": N_("rating.q.comment"),
    "contact": N_("rating.q.contact"),
    "contact_yes": N_("rating.contact.yes"),
    "contact_no": N_("rating.contact.no"),
}


# The default reasons in every catalogue language (RATING_REASONS set by the city are shown
# as written).
DEFAULT_REASON_KEYS = (
    N_("rating.reason.attitude"),
    N_("rating.reason.efficiency"),
    N_("rating.reason.documents"),
    N_("rating.reason.procedure"),
    N_("rating.reason.system"),
    N_("rating.reason.policy"),
    N_("rating.reason.other"),
)


def _reason_label(reason: str) -> str | dict[str, str]:
    """A reason as the rating's option label: a default one in every language."""
    if reason not in DEFAULT_REASONS:
        return reason
    key = DEFAULT_REASON_KEYS[DEFAULT_REASONS.index(reason)]
    texts = {loc: Translator(loc)(key) for loc in load_translations() if loc != DEFAULT_LOCALE}
    return {DEFAULT_LOCALE: reason, **texts}


def rating_definition(reasons: tuple[str, ...] = DEFAULT_REASONS) -> SurveyDefinition:
    """The rating as a tiny survey; question texts are catalogue keys."""
    bad = [{"question": "level", "in": BAD}]
    return SurveyDefinition.model_validate(
        {
            "code": "rating",
            "title": "好差评",
            "period": "2000H1",
            "opens_on": "2000-01-01",
            "closes_on": "2999-12-31",
            "questions": [
                {"key": "level", "type": "satisfaction", "text": TEXT_KEYS["level"]},
                {
                    "key": "reasons",
                    "type": "multi",
                    "text": TEXT_KEYS["reasons"],
                    "options": [
                        {"code": f"r{i}", "label": _reason_label(r)} for i, r in enumerate(reasons)
                    ],
                    "show_if": bad,
                },
                {
                    "key": "comment",
                    "type": "text",
                    "text": TEXT_KEYS["comment"],
                    "required": False,
                    "max_length": 500,
                    "show_if": bad,
                },
                {
                    "key": "contact",
                    "type": "single",
                    "text": TEXT_KEYS["contact"],
                    "options": [
                        {"code": CONTACT_YES, "label": TEXT_KEYS["contact_yes"]},
                        {"code": "no", "label": TEXT_KEYS["contact_no"]},
                    ],
                    "show_if": bad,
                },
            ],
        }
    )


_DEFINITIONS: dict[tuple[str, ...], SurveyDefinition] = {}


def _definition(chat: RatingChat) -> SurveyDefinition:
    reasons = tuple(chat.reasons) or DEFAULT_REASONS
    if reasons not in _DEFINITIONS:
        _DEFINITIONS[reasons] = rating_definition(reasons)
    return _DEFINITIONS[reasons]


async def begin_window_rating(
    *,
    session: AsyncSession,
    respondent: Respondent,
    payload: str,
    channel: str,
    chat_id: int | None,
    language_code: str | None,
    reasons: Sequence[str] = DEFAULT_REASONS,
) -> Reply:
    """Open the rating of the window on a QR poster; a survey in progress waits.

    A bot chat's id is kept so the unit's answer to a 差评 can be relayed (保密联络); the web
    chat has none and stores nothing to reach the citizen (their page does instead).
    """
    unit_code, window, item = links.parse_window_payload(payload)
    unit = await units.get_unit_or_raise(session=session, code=unit_code)
    await _remember(session, respondent, channel, chat_id, language_code)
    chat = await _new_chat(session, respondent, pk(unit), window, item, reasons)
    return replace(_showing(chat, engine.State({})), intro=(unit.name, window))


class AlreadyRated(DomainError):
    key = N_("error.already_rated")
    status_code = 409


async def begin_event_rating(
    *,
    session: AsyncSession,
    respondent: Respondent,
    payload: str,
    channel: str,
    chat_id: int | None,
    language_code: str | None,
    now: datetime,
    change_days: int,
    reasons: Sequence[str] = DEFAULT_REASONS,
) -> Reply:
    """The citizen opens their 办件's link: the chat is linked and invited to rate it.

    One rating per 办件 and citizen; within ``change_days`` of rating it may be changed.
    """
    event = await service_events.get_event_by_link_token(
        session=session, link_token=payload.removeprefix(EVENT_PREFIX)
    )
    if not payload.startswith(EVENT_PREFIX) or event is None:
        raise BadDeepLink(payload=payload[:64])
    rated = await _ratings_of(session, event, respondent)
    if rated and as_utc(rated[-1].rated_at) < now - timedelta(days=change_days):
        raise AlreadyRated(item=event.item_name)
    await _remember(session, respondent, channel, chat_id, language_code)
    if event.respondent_id is None:
        event.respondent_id = pk(respondent)
        event.invited_at = now
        session.add(event)
    chat = await _new_chat(
        session, respondent, event.unit_id, event.window_code, event.item_code, reasons
    )
    chat.service_event_id = event.id
    session.add(chat)
    unit = await session.get_one(Unit, event.unit_id)
    return replace(_showing(chat, engine.State({})), intro=(unit.name, event.item_name))


async def _remember(
    session: AsyncSession,
    respondent: Respondent,
    channel: str,
    chat_id: int | None,
    language_code: str | None,
) -> None:
    if chat_id is not None:
        await respondents.remember_contact(
            session=session,
            respondent=respondent,
            channel=channel,
            chat_id=chat_id,
            language_code=language_code,
        )


async def _ratings_of(
    session: AsyncSession, event: ServiceEvent, respondent: Respondent
) -> list[Rating]:
    statement = select(Rating).where(
        Rating.service_event_id == event.id,
        Rating.respondent_id == respondent.id,
        col(Rating.active).is_(True),
    )
    return list((await session.exec(statement.order_by(col(Rating.id)))).all())


async def _new_chat(
    session: AsyncSession,
    respondent: Respondent,
    unit_id: int,
    window: str | None,
    item: str | None,
    reasons: Sequence[str],
) -> RatingChat:
    await _abandon(session, respondent)
    # Rating interrupts a survey; /surveys resumes it where it stopped.
    await session.exec(
        sa.delete(Conversation).where(col(Conversation.respondent_id) == respondent.id)
    )
    chat = RatingChat(
        respondent_id=pk(respondent),
        unit_id=unit_id,
        window_code=window,
        item_code=item,
        reasons=list(reasons),
    )
    session.add(chat)
    await session.flush()
    return chat


async def remind(
    *,
    session: AsyncSession,
    now: datetime,
    after_days: float,
    reasons: Sequence[str] = DEFAULT_REASONS,
) -> list[tuple[int, Reply]]:
    """One reminder per invited, unrated 办件 after ``after_days``; (chat id, reply)."""
    statement = select(ServiceEvent).where(
        col(ServiceEvent.invited_at).is_not(None),
        col(ServiceEvent.reminded_at).is_(None),
        col(ServiceEvent.respondent_id).is_not(None),
    )
    due = []
    for event in (await session.exec(statement)).all():
        if event.invited_at is None or event.respondent_id is None:
            continue
        if as_utc(event.invited_at) > now - timedelta(days=after_days):
            continue
        respondent = await session.get_one(Respondent, event.respondent_id)
        event.reminded_at = now
        session.add(event)
        if await _ratings_of(session, event, respondent):
            continue  # rated already: never remind
        identity = (
            await session.exec(select(Identity).where(Identity.respondent_id == respondent.id))
        ).first()
        if identity is None:
            # Forgotten, or a web citizen: nobody to remind, and their dialogue is left alone.
            continue
        chat = await _new_chat(
            session, respondent, event.unit_id, event.window_code, event.item_code, reasons
        )
        chat.service_event_id = event.id
        session.add(chat)
        reminder = _showing(
            chat, engine.State({}), notice=Msg(N_("rating.reminder"), {"item": event.item_name})
        )
        due.append((identity.chat_id, reminder))
    await session.flush()
    return due


async def active_chat(*, session: AsyncSession, respondent: Respondent) -> RatingChat | None:
    statement = select(RatingChat).where(
        RatingChat.respondent_id == respondent.id, col(RatingChat.rating_id).is_(None)
    )
    return (await session.exec(statement.order_by(col(RatingChat.id).desc()))).first()


async def current_reply(*, session: AsyncSession, respondent: Respondent) -> Reply | None:
    """The rating in progress as it stands (the web chat's page); None if there is none."""
    chat = await active_chat(session=session, respondent=respondent)
    if chat is None:
        return None
    return _showing(chat, engine.State(answers=dict(chat.answers), draft=tuple(chat.draft)))


async def _abandon(session: AsyncSession, respondent: Respondent) -> None:
    # An unfinished rating stored nothing countable; a new scan starts afresh.
    await session.exec(
        sa.delete(RatingChat).where(
            col(RatingChat.respondent_id) == respondent.id, col(RatingChat.rating_id).is_(None)
        )
    )


async def submit(
    *,
    session: AsyncSession,
    respondent: Respondent,
    given: engine.Input,
    chat_id: int | None,
    tz: ZoneInfo,
    now: datetime,
    policy: workdays.DeadlinePolicy,
) -> Reply:
    """Apply one input to the rating in progress."""
    reply, _ = await _submit(session, respondent, given, chat_id, _Finish(tz, now, policy))
    return reply


@dataclass(frozen=True)
class WebReply:
    """One step of a rating in the web chat. ``contact_token``: once a 差评 that agreed to
    be contacted is finished, the key of the citizen's contact page, given this once."""

    reply: Reply
    contact_token: str | None = None


async def submit_web(
    *,
    session: AsyncSession,
    respondent: Respondent,
    given: engine.Input,
    chat_id: int | None,
    tz: ZoneInfo,
    now: datetime,
    policy: workdays.DeadlinePolicy,
) -> WebReply:
    """Apply one input from the web chat: the same dialogue, rating and case as the bot's;
    the case is noted as the web's, with a contact page if the citizen agreed."""
    finish = _Finish(tz, now, policy, web=True)
    reply, token = await _submit(session, respondent, given, chat_id, finish)
    return WebReply(reply, token)


@dataclass(frozen=True)
class _Finish:
    tz: ZoneInfo
    now: datetime
    policy: workdays.DeadlinePolicy
    web: bool = False


async def _submit(
    session: AsyncSession,
    respondent: Respondent,
    given: engine.Input,
    chat_id: int | None,
    finish: _Finish,
) -> tuple[Reply, str | None]:
    chat = await active_chat(session=session, respondent=respondent)
    if chat is None or (chat_id is not None and chat_id != chat.id):
        return Reply(notice=engine.STALE), None
    state = engine.State(answers=dict(chat.answers), draft=tuple(chat.draft))
    result = engine.step(_definition(chat), state, given)
    if isinstance(result, engine.Rejected):
        return _showing(chat, state, notice=result.reason), None
    chat.answers = dict(result.state.answers)
    chat.draft = list(result.state.draft)
    session.add(chat)
    if isinstance(result, engine.Toggled):
        return _showing(chat, result.state, toggled=True), None
    if not isinstance(result, engine.Accepted):  # went back: the earlier question again
        return _showing(chat, result.state), None
    answered = Answered(_text(result.question), _labels(result.question, result.value))
    if engine.prompt(_definition(chat), result.state) is not None:
        return _showing(chat, result.state, answered=answered), None
    rating, case = await _finish(session, chat, respondent, finish)
    token = None
    if finish.web and case is not None:
        token = await contact.record_web_case(
            session=session, case=case, contact_ok=rating.contact_ok
        )
    return Reply(answered=answered, finished=Msg(_thanks(rating, finish.web))), token


def _thanks(rating: Rating, web: bool) -> str:
    if not is_bad(rating.level):
        return N_("rating.thanks")
    if not rating.contact_ok:
        return N_("contact.thanks_declined")
    return N_("webrate.thanks_contact") if web else N_("rating.thanks_bad")


async def _finish(
    session: AsyncSession,
    chat: RatingChat,
    respondent: Respondent,
    finish: _Finish,
) -> tuple[Rating, FollowUpCase | None]:
    tz, now, policy = finish.tz, finish.now, finish.policy
    answers = chat.answers
    labels = {o.code: o.label for o in _definition(chat).question("reasons").options}
    event = (
        await session.get(ServiceEvent, chat.service_event_id) if chat.service_event_id else None
    )
    # A late change is of the round it changes (after a 复评, the 2nd): it replaces the
    # earlier rating of this 办件 (ratings.settle_rounds), which stays as history.
    round_ = 1
    if event is not None:
        round_ = await current_round(
            session,
            unit_id=event.unit_id,
            service_event_id=pk(event),
            respondent_id=pk(respondent),
        )
    rating = Rating(
        source=RatingSource.bot,
        source_id=f"chat-{pk(chat)}",
        service_event_id=chat.service_event_id,
        unit_id=chat.unit_id,
        item_code=chat.item_code,
        item_name=event.item_name if event else None,
        window_code=chat.window_code,
        channel=MOBILE_CHANNEL if event else QR_CHANNEL,
        respondent_id=pk(respondent),
        level=answers["level"],
        reasons=[labels[code] for code in answers.get("reasons") or []],
        comment=answers.get("comment"),
        voice_file_id=chat.voice_file_id,
        contact_ok=answers.get("contact") == CONTACT_YES,
        round=round_,
        period=period_of(now, tz),
        rated_at=now,
    )
    await supersede(session, rating)
    session.add(rating)
    await session.flush()
    chat.rating_id = pk(rating)
    session.add(chat)
    calendar = await workdays.load_calendar(session=session, tz=tz)
    case = await cases.open_case(session=session, rating=rating, calendar=calendar, policy=policy)
    return rating, case


def _showing(
    chat: RatingChat,
    state: engine.State,
    *,
    notice: Msg | None = None,
    toggled: bool = False,
    answered: Answered | None = None,
) -> Reply:
    prompt = engine.prompt(_definition(chat), state)
    if prompt is not None:
        options = tuple(replace(c, label=_keyed(c.label)) for c in prompt.options)
        prompt = replace(prompt, text=Msg(str(prompt.text)), options=options)
    return Reply(
        notice=notice,
        toggled=toggled,
        answered=answered,
        prompt=prompt,
        version_id=chat.id,
        dialogue="rating",
    )


def _text(question: Question) -> Msg:
    return Msg(question.text)


def _labels(question: Question, value: engine.AnswerValue) -> tuple[Label, ...]:
    if value is None:
        return (Msg(N_("survey.skipped")),)
    if question.type is QuestionType.text:
        return (str(value),)
    codes = value if isinstance(value, list) else [str(value)]
    labels = [engine.label_of(question, code) for code in codes]
    return tuple(_keyed(label) for label in labels)


def _keyed(label: Label) -> Label:
    """Option labels that are catalogue keys become messages; reasons stay as written."""
    return Msg(label) if isinstance(label, str) and label in TEXT_KEYS.values() else label


async def submit_text(
    *,
    session: AsyncSession,
    respondent: Respondent,
    text: str,
    today: date,
    tz: ZoneInfo,
    now: datetime,
    policy: workdays.DeadlinePolicy,
) -> Reply:
    """Typed text goes to the rating in progress if there is one, else to the survey."""
    if await active_chat(session=session, respondent=respondent) is not None:
        return await submit(
            session=session,
            respondent=respondent,
            given=engine.Text(text),
            chat_id=None,
            tz=tz,
            now=now,
            policy=policy,
        )
    return await conversation.submit(
        session=session,
        respondent=respondent,
        given=engine.Text(text),
        version_id=None,
        today=today,
    )


async def submit_voice(
    *,
    session: AsyncSession,
    respondent: Respondent,
    file_id: str,
    tz: ZoneInfo,
    now: datetime,
    policy: workdays.DeadlinePolicy,
) -> Reply:
    """A voice message answers the comment question of a 差评; anywhere else it is refused."""
    chat = await active_chat(session=session, respondent=respondent)
    current = None
    if chat is not None:
        state = engine.State(answers=dict(chat.answers), draft=tuple(chat.draft))
        current = engine.current(_definition(chat), state)
    if chat is None or current is None or current.key != "comment":
        return Reply(notice=Msg(N_("rating.voice_not_here")))
    chat.voice_file_id = file_id[:200]
    session.add(chat)
    return await submit(
        session=session,
        respondent=respondent,
        given=engine.Text(VOICE_COMMENT),
        chat_id=chat.id,
        tz=tz,
        now=now,
        policy=policy,
    )
