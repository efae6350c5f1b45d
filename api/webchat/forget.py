"""删除我的联系方式: the web chat's twin of the bot's /forget (PIPL §47).

``/c/forget`` says what would be erased and what stays, and asks to confirm; nothing is
erased by showing it. The confirm is a form post carrying a signed token of the question
(``ask``): it names this browser's cookies (as a digest) and when it was asked, so only the
confirm of a question this browser was shown, within ``CONFIRM_WITHIN`` (any time in care
mode, as in the bot), erases. A cross-site post arrives without the cookies (``SameSite``)
and finds nothing to erase. The erasure (:func:`surveys.cases.closing.forget_web_citizen`)
deletes the page links of the citizen's cases and closes the loop of their open cases as
无法联系; the answer clears the ``minyi_contact`` and ``minyi_citizen`` cookies, so the browser
starts over as a new pseudonym, and leads (303) to ``/c/forget/done``, which says what
happened. A repeated confirm finds nothing more and says so.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.background import BackgroundTask

from api.auth import PUBLIC
from api.deps import SettingsDep, WriteSessionDep
from api.webchat import web
from api.webchat.citizen import CITIZEN_COOKIE, Visitor, VisitorDep, read_id
from api.webchat.contact import CONTACT_COOKIE, kept_tokens
from surveys.cases import closing
from surveys.core import db
from surveys.core.i18n import N_
from surveys.core.models import utcnow
from surveys.core.settings import Settings

# Citizens, not staff: public pages; who asks is the pseudonymous citizen cookie.
router = APIRouter(prefix="/c", include_in_schema=False, dependencies=[PUBLIC])
URL = "/c/forget"
DONE_URL = "/c/forget/done"
CONFIRM_WITHIN = timedelta(minutes=30)
ASK_MAX = 400  # a token we signed is far shorter
ERASE, CANCEL = "erase", "cancel"
# What /c/forget/done says, by the outcome the post left in the flash.
OUTCOMES = {
    "done": N_("webchat.forget.done"),
    "nothing": N_("webchat.forget.nothing"),
    "cancelled": N_("webchat.forget.cancelled"),
}


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    key = hmac.new(settings.secret_key_bytes(), b"web-forget", hashlib.sha256).hexdigest()
    return URLSafeTimedSerializer(key, salt="minyi-forget")


def _holder(request: Request, settings: Settings) -> str:
    """A digest of what this browser holds (its citizen id, its page links): the page shows
    no identifier, and a question asked of other cookies does not count."""
    key = hmac.new(settings.secret_key_bytes(), b"web-forget-holder", hashlib.sha256).digest()
    held = f"{read_id(request, settings) or ''}|{'.'.join(kept_tokens(request))}"
    return hmac.new(key, held.encode(), hashlib.sha256).hexdigest()[:32]


def _holds_anything(request: Request, settings: Settings) -> bool:
    return read_id(request, settings) is not None or bool(kept_tokens(request))


@router.get("/forget", response_class=HTMLResponse)
async def ask(request: Request, visitor: VisitorDep, settings: SettingsDep) -> Response:
    """What would be erased, what stays, and the confirm; erases nothing."""
    holds = _holds_anything(request, settings)
    context = {
        "holds": holds,
        "ask": _serializer(settings).dumps(_holder(request, settings)) if holds else None,
        "stale": False,
    }
    return web.page(request, visitor, "webchat/forget.html", context)


@router.post("/forget", response_class=HTMLResponse)
async def confirm(
    request: Request, visitor: VisitorDep, session: WriteSessionDep, settings: SettingsDep
) -> Response:
    """确认删除 erases (once); 取消 erases nothing; a stale question erases nothing either."""
    form = await request.form()
    act, asked = form.get("act"), form.get("ask")
    if act == CANCEL:
        return web.redirect(visitor, DONE_URL, settings, {"outcome": "cancelled"})
    if act != ERASE or not isinstance(asked, str) or len(asked) > ASK_MAX:
        return web.message(request, visitor, visitor.t("webchat.error.bad_form"), status_code=400)
    if not _holds_anything(request, settings):  # e.g. confirmed a second time: all gone
        return web.redirect(visitor, DONE_URL, settings, {"outcome": "nothing"})
    if not _fresh(asked, request, settings, care=visitor.care):
        return _stale(request, visitor, settings)
    erased = await closing.forget_web_citizen(
        session=session,
        secret=settings.secret_key_bytes(),
        citizen_id=read_id(request, settings),
        tokens=kept_tokens(request),
        now=utcnow(),
    )
    outcome = "done" if erased.anything else "nothing"
    response = _forgotten(web.redirect(visitor, DONE_URL, settings, {"outcome": outcome}), visitor)
    if erased.anything:
        # Once committed (before the answer is sent): no copy of the erased rows may stay in
        # SQLite's write-ahead log.
        response.background = BackgroundTask(_checkpoint, request.app.state.sessionmaker)
    return response


async def _checkpoint(sessionmaker: db.SessionMaker) -> None:
    async with sessionmaker() as session:
        await db.checkpoint(session)


def _fresh(asked: str, request: Request, settings: Settings, *, care: bool) -> bool:
    """Whether the confirm answers a question this browser was shown, recently enough."""
    within = None if care else int(CONFIRM_WITHIN.total_seconds())
    try:
        holder = _serializer(settings).loads(asked, max_age=within)
    except BadSignature:
        return False
    return isinstance(holder, str) and hmac.compare_digest(holder, _holder(request, settings))


def _stale(request: Request, visitor: Visitor, settings: Settings) -> Response:
    """The question again, fresh, saying that the old one erased nothing (409)."""
    context = {
        "holds": True,
        "ask": _serializer(settings).dumps(_holder(request, settings)),
        "stale": True,
    }
    return web.page(request, visitor, "webchat/forget.html", context, status_code=409)


def _forgotten(response: RedirectResponse, visitor: Visitor) -> RedirectResponse:
    """The browser forgets the citizen: no page links, and a new pseudonym next time."""
    for name in (CITIZEN_COOKIE, CONTACT_COOKIE):
        response.delete_cookie(
            name, path="/c", httponly=True, samesite="lax", secure=visitor.secure
        )
    return response


@router.get("/forget/done", response_class=HTMLResponse)
async def done(request: Request, visitor: VisitorDep, settings: SettingsDep) -> Response:
    """What the confirm (or the cancel) did; without one, the question."""
    outcome = web.read_flash(request, settings).get("outcome")
    key = OUTCOMES.get(outcome) if isinstance(outcome, str) else None
    if key is None:
        return RedirectResponse(URL, status_code=303)
    context = {"outcome": outcome, "text": visitor.t(key)}
    return web.page(request, visitor, "webchat/forget_done.html", context)
