"""The survey dialogue on the web: the open surveys, a survey's start, one answer at a time.

The twins of the bot's deep links ``s_<code>[_<unit>]`` are ``/c/s/<code>[/<unit>]``. Every
answer is one form post (``v`` version, ``p`` question position, ``act``, ``i`` option,
``text``) handled by :func:`surveys.questionnaire.conversation.submit` and committed
before the answer; without JavaScript the post is followed by 303 to ``/c/chat``, with
htmx the chat fragment comes back in place.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from api.auth import PUBLIC
from api.deps import SessionDep, SettingsDep, WriteSessionDep
from api.webchat import web
from api.webchat.citizen import Citizen, CitizenDep, Visitor, VisitorDep
from surveys.core.clock import today
from surveys.core.i18n import Translator
from surveys.core.settings import Settings
from surveys.questionnaire import catalog, conversation, engine
from surveys.questionnaire.conversation import Answered, Reply

# Citizens, not staff: public pages; who answers is the pseudonymous citizen cookie.
router = APIRouter(prefix="/c", include_in_schema=False, dependencies=[PUBLIC])
POST_URL = "/c/chat"
MAX_FIELD = 2000  # a text answer is at most 500 characters; more is not a real form
CHANNEL = "web"
ACTS = frozenset({"pick", "done", "skip", "text", "back"})


@router.get("/", response_class=HTMLResponse)
async def home(
    request: Request, visitor: VisitorDep, session: SessionDep, settings: SettingsDep
) -> Response:
    """The surveys open today."""
    versions = await catalog.open_surveys(session=session, today=today(settings.tz))
    surveys = [(str(v.definition["code"]), v.title) for v in versions]
    return web.page(request, visitor, "webchat/home.html", {"surveys": surveys})


@router.get("/s/{code}", response_class=HTMLResponse)
@router.get("/s/{code}/{unit}", response_class=HTMLResponse)
async def begin(
    code: str,
    citizen: CitizenDep,
    session: WriteSessionDep,
    settings: SettingsDep,
    unit: str | None = None,
) -> Response:
    """Start (or resume) a survey, for one unit when the link names it."""
    reply = await conversation.begin_survey(
        session=session,
        respondent=citizen.respondent,
        survey_code=code[:64],
        unit_code=unit[:64] if unit is not None else None,
        today=today(settings.tz),
        channel=CHANNEL,
    )
    flash: dict[str, Any] = {}
    if reply.intro is not None:
        title, intro = reply.intro
        flash["intro"] = [citizen.t.label(title), citizen.t.label(intro)]
    if reply.about is not None:  # a link that fixes the unit names it: 本问卷评价：九原区
        flash["about"] = citizen.t.label(reply.about)
    if reply.notice is not None:  # e.g. 继续上次的问卷，已答 5 题
        flash["notice"] = citizen.t.label(reply.notice)
    return web.redirect(citizen, POST_URL, settings, flash)


@router.get("/chat", response_class=HTMLResponse)
async def chat(
    request: Request, citizen: CitizenDep, session: WriteSessionDep, settings: SettingsDep
) -> Response:
    """The dialogue so far and the question to answer now."""
    reply = await conversation.current_reply(session=session, respondent=citizen.respondent)
    if reply is None or reply.prompt is None:
        return _no_survey(request, citizen, status_code=200)
    flash = web.read_flash(request, settings)
    said = await conversation.transcript(session=session, respondent=citizen.respondent)
    return _chat_page(request, citizen, reply, flash, said)


@router.post("/chat", response_class=HTMLResponse)
async def answer(
    request: Request, citizen: CitizenDep, session: WriteSessionDep, settings: SettingsDep
) -> Response:
    """One answer: a button, a tick, 完成, 跳过, 返回上一题 or a text."""
    parsed = parse_answer(await request.form())
    if parsed is None:
        text = citizen.t("webchat.error.bad_form")
        return web.message(request, citizen, text, status_code=400)
    version_id, given = parsed
    reply = await conversation.submit(
        session=session,
        respondent=citizen.respondent,
        given=given,
        version_id=version_id,
        today=today(settings.tz),
    )
    htmx, stale = web.is_htmx(request), reply.notice == engine.STALE
    if reply.prompt is not None and (htmx or stale):
        # In place (htmx), or a stale form's page: 409 with the question to answer now.
        said = await conversation.transcript(session=session, respondent=citizen.respondent)
        flash = _flash(citizen.t, reply)
        status = 200 if htmx else 409
        return _chat_page(request, citizen, reply, flash, said, fragment=htmx, status_code=status)
    return _after(request, citizen, reply, settings)


def parse_answer(form: FormData) -> tuple[int, engine.Input] | None:
    """The engine input a form post stands for, or None when the post is malformed."""
    fields = {name: form.get(name) for name in ("v", "p", "act", "i", "text")}
    if any(value is not None and not isinstance(value, str) for value in fields.values()):
        return None  # a file where text belongs
    version, position, act, index, text = (
        str(value) if value is not None else None for value in fields.values()
    )
    if not _number(version) or act not in ACTS:
        return None
    assert version is not None
    if act == "text":
        if text is None or len(text) > MAX_FIELD:
            return None
        return int(version), engine.Text(text)
    if not _number(position) or (act == "pick" and not _number(index)):
        return None
    assert position is not None
    at = int(position)
    given: engine.Input
    if act == "pick":
        given = engine.Pick(at, int(str(index)))
    elif act == "done":
        given = engine.Done(at)
    elif act == "skip":
        given = engine.Skip(at)
    else:
        given = engine.Back(at)
    return int(version), given


def _number(value: str | None) -> bool:
    return value is not None and value.isascii() and value.isdigit() and len(value) <= 9


def _after(request: Request, citizen: Citizen, reply: Reply, settings: Settings) -> Response:
    """Without JavaScript: 303 to the thanks or to the next question (with any notice)."""
    t = citizen.t
    if reply.finished is not None:
        if web.is_htmx(request):
            response = Response(status_code=200, headers={"HX-Redirect": "/c/thanks"})
            return citizen.keep(response)
        return web.redirect(citizen, "/c/thanks", settings)
    if reply.prompt is None:  # no survey in progress (finished, left, or never begun)
        return _no_survey(request, citizen, status_code=409)
    return web.redirect(citizen, POST_URL, settings, _flash(t, reply))


def _flash(t: Translator, reply: Reply) -> dict[str, Any]:
    return {"notice": t.label(reply.notice)} if reply.notice is not None else {}


def answered_texts(t: Translator, answered: Answered) -> list[str]:
    """[question, answer] as the citizen reads them."""
    chosen = t("webchat.answer_separator").join(t.label(label) for label in answered.labels)
    return [t.label(answered.question_text), chosen]


def _chat_page(
    request: Request,
    citizen: Citizen,
    reply: Reply,
    flash: dict[str, Any],
    said: list[Answered],
    *,
    fragment: bool = False,
    status_code: int = 200,
) -> Response:
    intro = flash.get("intro")
    context = {
        "prompt": reply.prompt,
        "version_id": reply.version_id,
        "post_url": POST_URL,
        "notice": flash.get("notice"),
        "intro": intro if isinstance(intro, list) and len(intro) == 2 else None,
        "about": flash.get("about") if isinstance(flash.get("about"), str) else None,
        "transcript": [answered_texts(citizen.t, answered) for answered in said],
        "fragment": fragment,
    }
    name = "webchat/_chat.html" if fragment else "webchat/chat.html"
    return web.page(request, citizen, name, context, status_code=status_code)


def _no_survey(request: Request, visitor: Visitor, *, status_code: int) -> Response:
    text = visitor.t("webchat.no_survey")
    return web.message(request, visitor, text, status_code=status_code)


@router.get("/thanks", response_class=HTMLResponse)
async def thanks(request: Request, visitor: VisitorDep) -> Response:
    """The end of a survey."""
    t = visitor.t
    heading = t("webchat.thanks_heading")
    return web.message(request, visitor, t("survey.thanks"), status_code=200, heading=heading)
