"""好差评 on the web: the twins of the bot's rating links and the same rating dialogue.

``/c/w/<unit>/<window>[/<item>]`` is the window poster's ``w_<unit>_<window>[_<item>]`` and
``/c/r/<link token>`` a 办件 receipt's ``r_<link token>``. The dialogue (five neutral levels;
for a 差评 reasons, a comment and consent to be contacted) runs in
:mod:`surveys.haochaping.rating_chat`, as in the bot; each answer is a post to ``/c/rate``,
followed by 303 without JavaScript or answered with the dialogue's fragment under htmx. A
差评 that agreed to be contacted ends on a page showing the citizen's private contact link
once (保密联络, :mod:`api.webchat.contact`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.auth import PUBLIC
from api.deps import SettingsDep, WriteSessionDep
from api.webchat import contact, web
from api.webchat.chat import answered_texts, parse_answer
from api.webchat.citizen import CHANNEL, Citizen, CitizenDep, VisitorDep
from surveys.cases import workdays
from surveys.core.exceptions import BadDeepLink
from surveys.core.models import utcnow
from surveys.core.settings import Settings
from surveys.haochaping import rating_chat
from surveys.questionnaire import engine, links
from surveys.questionnaire.conversation import Reply

# Citizens, not staff: public pages; who answers is the pseudonymous citizen cookie.
router = APIRouter(prefix="/c", include_in_schema=False, dependencies=[PUBLIC])
POST_URL = "/c/rate"
THANKS_URL = "/c/rate/thanks"
PART = 64  # a code in a link is at most 32 characters; longer is not a real link


@router.get("/w/{unit}/{window}", response_class=HTMLResponse)
@router.get("/w/{unit}/{window}/{item}", response_class=HTMLResponse)
async def begin_window(
    request: Request,
    unit: str,
    window: str,
    citizen: CitizenDep,
    session: WriteSessionDep,
    settings: SettingsDep,
    item: str | None = None,
) -> Response:
    """Rate the window on a QR poster (the twin of ``w_<unit>_<window>[_<item>]``)."""
    parts = [unit[:PART], window[:PART]] + ([item[:PART]] if item is not None else [])
    try:
        reply = await rating_chat.begin_window_rating(
            session=session,
            respondent=citizen.respondent,
            payload=links.WINDOW_PREFIX + "_".join(parts),
            channel=CHANNEL,
            chat_id=None,
            language_code=None,
            reasons=settings.rating_reasons,
        )
    except BadDeepLink:
        return web.message(request, citizen, citizen.t("webrate.bad_link"), status_code=400)
    name, window_code = reply.intro or ("", "")
    heading = citizen.t("rating.window", unit=name, window=window_code)
    return web.redirect(citizen, POST_URL, settings, {"intro": heading})


@router.get("/r/{token}", response_class=HTMLResponse)
async def begin_receipt(
    request: Request,
    token: str,
    citizen: CitizenDep,
    session: WriteSessionDep,
    settings: SettingsDep,
) -> Response:
    """Rate a finished 办件 from its receipt (the twin of ``r_<link token>``)."""
    try:
        reply = await rating_chat.begin_event_rating(
            session=session,
            respondent=citizen.respondent,
            payload=rating_chat.EVENT_PREFIX + token[: links.LINK_TOKEN_MAX + 1],
            channel=CHANNEL,
            chat_id=None,
            language_code=None,
            now=utcnow(),
            change_days=settings.rating_change_days,
            reasons=settings.rating_reasons,
        )
    except BadDeepLink:
        return web.message(request, citizen, citizen.t("webrate.bad_receipt"), status_code=404)
    name, item = reply.intro or ("", "")
    heading = citizen.t("rating.event", unit=name, item=item)
    return web.redirect(citizen, POST_URL, settings, {"intro": heading})


@router.get("/rate", response_class=HTMLResponse)
async def rating(
    request: Request, citizen: CitizenDep, session: WriteSessionDep, settings: SettingsDep
) -> Response:
    """The rating in progress: what was answered last and the question now."""
    reply = await rating_chat.current_reply(session=session, respondent=citizen.respondent)
    if reply is None or reply.prompt is None:
        return web.message(request, citizen, citizen.t("webrate.none"), status_code=200)
    return _page(request, citizen, reply, web.read_flash(request, settings))


@router.post("/rate", response_class=HTMLResponse)
async def rate(
    request: Request, citizen: CitizenDep, session: WriteSessionDep, settings: SettingsDep
) -> Response:
    """One step of the rating: a level, a reason ticked, 完成, 跳过, 返回 or the comment."""
    parsed = parse_answer(await request.form())
    if parsed is None:
        return web.message(request, citizen, citizen.t("webchat.error.bad_form"), status_code=400)
    dialogue_id, given = parsed
    step = await rating_chat.submit_web(
        session=session,
        respondent=citizen.respondent,
        given=given,
        chat_id=dialogue_id,
        tz=settings.tz,
        now=utcnow(),
        policy=workdays.policy_from(settings),
    )
    if step.reply.finished is not None:
        return _finished(request, citizen, step, settings)
    return _after(request, citizen, step.reply, settings)


def _finished(
    request: Request, citizen: Citizen, step: rating_chat.WebReply, settings: Settings
) -> Response:
    flash: dict[str, Any] = {"finished": citizen.t.label(step.reply.finished or "")}
    if step.contact_token is not None:
        flash["contact"] = step.contact_token
        contact.keep_token(request, citizen, step.contact_token)
    if web.is_htmx(request):
        response = web.redirect(citizen, THANKS_URL, settings, flash)
        response.status_code = 200
        response.headers["HX-Redirect"] = THANKS_URL
        return response
    return web.redirect(citizen, THANKS_URL, settings, flash)


def _after(request: Request, citizen: Citizen, reply: Reply, settings: Settings) -> Response:
    """The next question, or why nothing changed (a stale or finished rating: 409)."""
    if reply.prompt is None:
        return web.message(request, citizen, citizen.t("webrate.none"), status_code=409)
    flash = _flash(citizen, reply)
    if web.is_htmx(request):
        return _page(request, citizen, reply, flash, fragment=True)
    if reply.notice == engine.STALE:
        return _page(request, citizen, reply, flash, status_code=409)
    return web.redirect(citizen, POST_URL, settings, flash)


def _flash(citizen: Citizen, reply: Reply) -> dict[str, Any]:
    flash: dict[str, Any] = {}
    if reply.notice is not None:
        flash["notice"] = citizen.t.label(reply.notice)
    if reply.answered is not None:
        flash["answered"] = answered_texts(citizen.t, reply.answered)
    return flash


def _page(
    request: Request,
    citizen: Citizen,
    reply: Reply,
    flash: dict[str, Any],
    *,
    fragment: bool = False,
    status_code: int = 200,
) -> Response:
    intro, answered = flash.get("intro"), flash.get("answered")
    context = {
        "prompt": reply.prompt,
        "version_id": reply.version_id,
        "post_url": POST_URL,
        # A 好评 ends after the first question: "第 1 题，共约 4 题" would say otherwise (the bot
        # shows no count on ratings either).
        "show_progress": False,
        "notice": flash.get("notice"),
        "heading": intro if isinstance(intro, str) else None,
        "transcript": [answered] if isinstance(answered, list) and len(answered) == 2 else [],
        "fragment": fragment,
    }
    name = "webchat/rating_chat.html" if fragment else "webchat/rating_page.html"
    return web.page(request, citizen, name, context, status_code=status_code)


@router.get("/rate/thanks", response_class=HTMLResponse)
async def thanks(request: Request, visitor: VisitorDep, settings: SettingsDep) -> Response:
    """The end of a rating; once, the private contact link of a 差评 to be answered."""
    flash = web.read_flash(request, settings)
    finished = flash.get("finished")
    token = flash.get("contact")
    context = {
        "text": finished if isinstance(finished, str) else visitor.t("rating.thanks"),
        "contact_url": contact.page_url(settings, token) if isinstance(token, str) else None,
    }
    return web.page(request, visitor, "webchat/rating_thanks.html", context)
