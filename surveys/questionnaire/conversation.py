"""The survey conversation as use cases: start, answer, go back, resume, cancel.

Each function loads the respondent's state, asks :mod:`surveys.engine`, writes what was
accepted and flushes. The caller commits, so an answer and the event that carried it are
stored in one transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date
from typing import Protocol, cast

import sqlalchemy as sa
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.models import Unit
from surveys.core.exceptions import AlreadyResponded, BadDeepLink, NoTargetUnits, UnknownUnit
from surveys.core.i18n import N_, Label, Msg
from surveys.core.models import pk, utcnow
from surveys.questionnaire import catalog, engine, respondents
from surveys.questionnaire.definitions import (
    Level,
    Question,
    QuestionType,
    SurveyDefinition,
    label,
)
from surveys.questionnaire.engine import AnswerValue, Prompt
from surveys.questionnaire.models import (
    Answer,
    AnswerHistory,
    Conversation,
    Respondent,
    Response,
    ResponseStatus,
    SurveyVersion,
)

SURVEY_LINK = re.compile(r"^s_([A-Za-z0-9-]{1,32})(?:_([A-Za-z0-9-]{1,32}))?$")
UNIT_POSITION = 0
MAX_PAYLOAD = 64


@dataclass(frozen=True)
class Answered:
    """What the respondent chose for one question, to show in place of the buttons."""

    question_text: Label
    labels: tuple[Label, ...]


@dataclass(frozen=True)
class Reply:
    notice: Msg | None = None
    intro: tuple[Label, Label] | None = None  # (title, intro) when a survey starts
    about: Msg | None = None  # when a survey starts for one unit: 本问卷评价：九原区
    answered: Answered | None = None
    toggled: bool = False  # the prompt is the same question with new ticks
    prompt: Prompt | None = None
    version_id: int | None = None  # the survey version, or the rating dialogue's id
    finished: Msg | None = None
    dialogue: str = "survey"  # or "rating": which buttons the adapter draws


def deep_link_payload(survey_code: str, unit_code: str | None = None) -> str:
    """The /start payload for a poster or QR code (≤ 64 chars of [A-Za-z0-9_-])."""
    return f"s_{survey_code}" + (f"_{unit_code}" if unit_code else "")


def parse_deep_link(payload: str) -> tuple[str, str | None]:
    # Telegram carries at most 64 characters in a start parameter.
    match = SURVEY_LINK.match(payload) if len(payload) <= MAX_PAYLOAD else None
    if match is None:
        raise BadDeepLink(payload=payload[:64])
    return match.group(1), match.group(2)


async def begin_survey(
    *,
    session: AsyncSession,
    respondent: Respondent,
    survey_code: str,
    unit_code: str | None,
    today: date,
    channel: str = "telegram",
) -> Reply:
    """Start (or resume) the respondent's answer to a survey's current version.

    A resumed answer says how many questions were answered; a survey for one unit names it.
    ``channel`` is recorded on a new response (``telegram`` or ``web``).
    """
    version = await catalog.get_latest_version_or_raise(session=session, code=survey_code)
    catalog.ensure_open(version, today)
    definition = catalog.definition_of(version)
    units = await catalog.target_units(session=session, definition=definition)
    if not units:
        raise NoTargetUnits(title=version.title)
    fixed = _fixed_unit(units, unit_code)
    response = await _existing_response(session, respondent, version)
    if response is None:
        response = Response(
            respondent_id=pk(respondent),
            survey_id=version.survey_id,
            survey_version_id=pk(version),
            period=version.period,
            unit_id=fixed.id if fixed else None,
            channel=channel,
        )
        session.add(response)
        await session.flush()
    elif response.status == ResponseStatus.completed:
        raise AlreadyResponded(title=version.title, period=version.period)
    else:
        version = await session.get_one(SurveyVersion, response.survey_version_id)
    await _set_conversation(session, respondent, response)
    return await _opening(session, response, version)


async def _opening(session: AsyncSession, response: Response, version: SurveyVersion) -> Reply:
    """The first reply of a started or resumed survey: intro, unit, progress, question."""
    definition = catalog.definition_of(version)
    reply = await _reply_for(session, response, version)
    answered = len(engine.path(definition, await _answers(session, response)))
    unit = await session.get(Unit, response.unit_id) if response.unit_id is not None else None
    return replace(
        reply,
        intro=(label(definition.title), label(definition.intro)),
        about=Msg(N_("survey.about_unit"), {"unit": unit.name}) if unit else None,
        notice=Msg(N_("survey.resumed"), {"count": answered}) if answered else None,
    )


def _fixed_unit(units: list[Unit], unit_code: str | None) -> Unit | None:
    if unit_code is None:
        return units[0] if len(units) == 1 else None
    for unit in units:
        if unit.code == unit_code:
            return unit
    raise UnknownUnit(code=unit_code)


async def _existing_response(
    session: AsyncSession, respondent: Respondent, version: SurveyVersion
) -> Response | None:
    statement = select(Response).where(
        Response.respondent_id == respondent.id,
        Response.survey_id == version.survey_id,
        Response.period == version.period,
    )
    return (await session.exec(statement)).first()


async def _set_conversation(
    session: AsyncSession, respondent: Respondent, response: Response
) -> None:
    conversation = await session.get(Conversation, respondent.id)
    if conversation is None:
        conversation = Conversation(respondent_id=pk(respondent), response_id=pk(response))
    conversation.response_id = pk(response)
    conversation.updated_at = utcnow()
    session.add(conversation)


async def current_reply(*, session: AsyncSession, respondent: Respondent) -> Reply | None:
    """The question the respondent is on, or None when no survey is in progress."""
    loaded = await _load(session, respondent)
    if loaded is None:
        return None
    response, version = loaded
    return await _reply_for(session, response, version)


async def cancel_survey(*, session: AsyncSession, respondent: Respondent) -> bool:
    """Leave the survey; answers given stay and the survey resumes where it stopped."""
    conversation = await session.get(Conversation, respondent.id)
    if conversation is None:
        return False
    await session.delete(conversation)
    await session.flush()
    return True


async def submit(
    *,
    session: AsyncSession,
    respondent: Respondent,
    given: engine.Input,
    version_id: int | None,
    today: date,
) -> Reply:
    """Apply one input (button or text) to the survey in progress."""
    loaded = await _load(session, respondent)
    if loaded is None:
        return Reply(notice=Msg(N_("conversation.none") if version_id is None else "engine.stale"))
    response, version = loaded
    if version_id is not None and version_id != version.id:
        return replace(await _reply_for(session, response, version), notice=engine.STALE)
    catalog.ensure_open(version, today)
    if response.unit_id is None:
        return await _submit_unit(session, response, version, given)
    definition = catalog.definition_of(version)
    state = engine.State(answers=await _answers(session, response), draft=tuple(response.draft))
    result = engine.step(definition, state, given)
    if isinstance(result, engine.Rejected):
        return _showing(definition, version, state, notice=result.reason)
    if list(result.state.draft) != response.draft:
        response.draft = list(result.state.draft)
        session.add(response)
    if isinstance(result, engine.Toggled):
        return _showing(definition, version, result.state, toggled=True)
    if isinstance(result, engine.Reverted):
        await _retire(session, response, (result.question.key,))
        return _showing(definition, version, result.state)
    if result.retired:
        await _retire(session, response, result.retired)
    await _store_answer(session, _answer_row(response, result.question, result.value))
    answered = Answered(label(result.question.text), _labels(result.question, result.value))
    if engine.prompt(definition, result.state) is None:
        return await _finish(session, respondent, response, answered)
    return _showing(definition, version, result.state, answered=answered)


def _showing(
    definition: SurveyDefinition,
    version: SurveyVersion,
    state: engine.State,
    *,
    notice: Msg | None = None,
    toggled: bool = False,
    answered: Answered | None = None,
) -> Reply:
    """A reply showing the question that comes after ``state``."""
    return Reply(
        notice=notice,
        toggled=toggled,
        answered=answered,
        prompt=engine.prompt(definition, state),
        version_id=version.id,
    )


async def _submit_unit(
    session: AsyncSession, response: Response, version: SurveyVersion, given: engine.Input
) -> Reply:
    definition = catalog.definition_of(version)
    units = await catalog.target_units(session=session, definition=definition)
    picked = given.index if isinstance(given, engine.Pick) else None
    if isinstance(given, engine.Text):
        return replace(await _reply_for(session, response, version), notice=engine.USE_BUTTONS)
    if isinstance(given, engine.Back):
        notice = engine.NO_PREVIOUS if given.position == UNIT_POSITION else engine.STALE
        return replace(await _reply_for(session, response, version), notice=notice)
    if given.position != UNIT_POSITION or picked is None or not 0 <= picked < len(units):
        return replace(await _reply_for(session, response, version), notice=engine.STALE)
    response.unit_id = units[picked].id
    session.add(response)
    answered = Answered(_unit_question(definition), (units[picked].name,))
    return replace(await _reply_for(session, response, version), answered=answered)


async def _finish(
    session: AsyncSession, respondent: Respondent, response: Response, answered: Answered
) -> Reply:
    response.status = ResponseStatus.completed
    response.completed_at = utcnow()
    session.add(response)
    await session.exec(
        delete(Conversation).where(col(Conversation.respondent_id) == respondent.id)
    )
    await session.flush()
    return Reply(answered=answered, finished=Msg(N_("survey.thanks")))


async def _load(
    session: AsyncSession, respondent: Respondent
) -> tuple[Response, SurveyVersion] | None:
    # One round trip: this runs on every answer.
    row = (await session.exec(_LOAD, params={"respondent_id": respondent.id})).first()
    return None if row is None else (row[0], row[1])


# Built once (a statement made per call pays for its cache key every time).
_LOAD = (
    select(Response, SurveyVersion)
    .join(Conversation, col(Conversation.response_id) == col(Response.id))
    .join(SurveyVersion, col(SurveyVersion.id) == col(Response.survey_version_id))
    .where(col(Conversation.respondent_id) == sa.bindparam("respondent_id"))
)


async def _reply_for(session: AsyncSession, response: Response, version: SurveyVersion) -> Reply:
    """A reply showing the current question."""
    definition = catalog.definition_of(version)
    if response.unit_id is None:
        units = await catalog.target_units(session=session, definition=definition)
        return Reply(prompt=_unit_prompt(definition, units), version_id=version.id)
    state = engine.State(answers=await _answers(session, response), draft=tuple(response.draft))
    return Reply(prompt=engine.prompt(definition, state), version_id=version.id)


def _unit_question(definition: SurveyDefinition) -> Label:
    if definition.unit_question:
        return label(definition.unit_question)
    return Msg(N_("survey.pick_unit"))


def _unit_prompt(definition: SurveyDefinition, units: list[Unit]) -> Prompt:
    return Prompt(
        question_key="_unit",
        position=UNIT_POSITION,
        type=QuestionType.single,
        text=_unit_question(definition),
        options=tuple(engine.Choice(index=i, label=u.name) for i, u in enumerate(units)),
        hint=None,
        skippable=False,
        done_button=False,
    )


_ANSWER = Answer.__table__  # type: ignore[attr-defined]
# Runs on every answer: Core statements, built once (no ORM objects to make or flush).
_ANSWERS = (
    sa.select(
        _ANSWER.c.question_key,
        _ANSWER.c.choice,
        _ANSWER.c.choices,
        _ANSWER.c.number,
        _ANSWER.c.text,
        _ANSWER.c.skipped,
    )
    .where(_ANSWER.c.response_id == sa.bindparam("response_id"))
    .order_by(_ANSWER.c.id)
)
_STORE_ANSWER = sa.insert(_ANSWER)


async def _answers(session: AsyncSession, response: Response) -> dict[str, AnswerValue]:
    connection = await session.connection()
    rows = await connection.execute(_ANSWERS, {"response_id": response.id})
    return {row.question_key: _value_of(cast(_Stored, row)) for row in rows}


async def _store_answer(session: AsyncSession, row: Answer) -> None:
    """INSERT the answer now (as one Core statement, not an ORM object flushed later)."""
    connection = await session.connection()
    await connection.execute(
        _STORE_ANSWER,
        {
            "response_id": row.response_id,
            "question_key": row.question_key,
            "choice": row.choice,
            "choices": row.choices,
            "number": row.number,
            "text": row.text,
            "skipped": row.skipped,
            "answered_at": row.answered_at,
        },
    )


async def _retire(session: AsyncSession, response: Response, keys: tuple[str, ...]) -> None:
    """Move answers from ``answer`` (what results count) to ``answer_history`` (kept)."""
    rows = (
        await session.exec(
            select(Answer).where(
                Answer.response_id == response.id, col(Answer.question_key).in_(keys)
            )
        )
    ).all()
    retired_at = utcnow()
    for row in rows:
        session.add(
            AnswerHistory(
                response_id=row.response_id,
                question_key=row.question_key,
                choice=row.choice,
                choices=row.choices,
                number=row.number,
                text=row.text,
                skipped=row.skipped,
                answered_at=row.answered_at,
                retired_at=retired_at,
            )
        )
        await session.delete(row)
    # Deleted now, so the question can be answered again in the same transaction.
    await session.flush()


class _Stored(Protocol):
    """A stored answer's value columns: an ``answer`` row, or an :class:`Answer`."""

    @property
    def skipped(self) -> bool: ...
    @property
    def choices(self) -> list[str] | None: ...
    @property
    def text(self) -> str | None: ...
    @property
    def choice(self) -> str | None: ...
    @property
    def number(self) -> int | None: ...


def _value_of(row: _Stored) -> AnswerValue:
    if row.skipped:
        return None
    if row.choices is not None:
        return list(row.choices)
    if row.text is not None:
        return row.text
    if row.choice is not None:
        return row.choice
    return row.number


def _answer_row(response: Response, question: Question, value: AnswerValue) -> Answer:
    row = Answer(response_id=pk(response), question_key=question.key, skipped=value is None)
    if isinstance(value, list):
        row.choices = value
    elif isinstance(value, int):
        row.number = value
    elif isinstance(value, str) and question.type is QuestionType.text:
        row.text = value
    elif isinstance(value, str):
        row.choice = value
        if question.type is QuestionType.satisfaction:
            row.number = Level(value).score
    return row


def _labels(question: Question, value: AnswerValue) -> tuple[Label, ...]:
    if value is None:
        return (Msg(N_("survey.skipped")),)
    if isinstance(value, list):
        return tuple(engine.label_of(question, code) for code in value)
    if isinstance(value, int) or question.type is QuestionType.text:
        return (str(value),)
    return (engine.label_of(question, value),)


async def transcript(*, session: AsyncSession, respondent: Respondent) -> list[Answered]:
    """The survey in progress so far: each answered question on the path, in order (the
    unit first when the citizen picked it from several); empty when none is in progress."""
    loaded = await _load(session, respondent)
    if loaded is None:
        return []
    response, version = loaded
    definition = catalog.definition_of(version)
    shown: list[Answered] = []
    if response.unit_id is not None:
        units = await catalog.target_units(session=session, definition=definition)
        unit = next((u for u in units if u.id == response.unit_id), None)
        if unit is not None and len(units) > 1:
            shown.append(Answered(_unit_question(definition), (unit.name,)))
    answers = await _answers(session, response)
    shown += [
        Answered(label(question.text), _labels(question, answers[question.key]))
        for question in engine.path(definition, answers)
    ]
    return shown


@dataclass(frozen=True)
class Welcome:
    """What a citizen sees after /start: a survey begun by a deep link, or the open ones."""

    reply: Reply | None
    open_surveys: list[SurveyVersion]


async def welcome(
    *,
    session: AsyncSession,
    respondent: Respondent,
    channel: str,
    chat_id: int,
    language_code: str | None,
    payload: str | None,
    today: date,
) -> Welcome:
    """First contact or a deep link: keep the chat id, then start the linked survey."""
    await respondents.remember_contact(
        session=session,
        respondent=respondent,
        channel=channel,
        chat_id=chat_id,
        language_code=language_code,
    )
    if payload:
        survey_code, unit_code = parse_deep_link(payload)
        reply = await begin_survey(
            session=session,
            respondent=respondent,
            survey_code=survey_code,
            unit_code=unit_code,
            today=today,
        )
        return Welcome(reply=reply, open_surveys=[])
    versions = await catalog.open_surveys(session=session, today=today)
    return Welcome(reply=None, open_surveys=versions)
