"""保密联络 on the web: the citizen's private page for their 差评 case.

``/c/contact/<token>`` shows the case as the citizen may see it, the unit's replies, a form
to write back and, once the case is 已反馈, the 复评 (:mod:`surveys.cases.contact`). The link
alone opens it: it survives a lost cookie, and a wrong or forged one is a 404 page. The
links a browser was given are also kept in its ``minyi_contact`` cookie, listed at
``/c/contact``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.auth import PUBLIC
from api.deps import SessionDep, SettingsDep, WriteSessionDep
from api.webchat import web
from api.webchat.citizen import Visitor, VisitorDep
from surveys.cases import contact
from surveys.cases.models import CaseState
from surveys.core.i18n import N_
from surveys.core.settings import Settings

# Citizens, not staff: public pages; who answers is the pseudonymous citizen cookie.
router = APIRouter(prefix="/c", include_in_schema=False, dependencies=[PUBLIC])
CONTACT_COOKIE = "minyi_contact"
KEPT = 5  # the newest links a browser keeps
TOKEN_MAX = 80  # longer is not a link we gave
CHOICE_MAX = 9
STATES = {
    CaseState.pending: N_("contact.state.pending"),
    CaseState.verifying: N_("contact.state.verifying"),
    CaseState.rectifying: N_("contact.state.rectifying"),
    CaseState.replied: N_("contact.state.replied"),
    CaseState.rerated: N_("contact.state.rerated"),
    CaseState.closed: N_("contact.state.closed"),
    CaseState.unfounded: N_("contact.state.unfounded"),
    CaseState.appealing: N_("contact.state.appealing"),
    CaseState.appeal_upheld: N_("contact.state.appeal_upheld"),
    CaseState.appeal_rejected: N_("contact.state.appeal_rejected"),
}


def page_url(settings: Settings, token: str) -> str:
    """The page's full address, to bookmark or copy."""
    return f"{settings.base_url()}/c/contact/{token}"


def kept_tokens(request: Request) -> list[str]:
    raw = request.cookies.get(CONTACT_COOKIE) or ""
    return [token for token in raw.split(".") if token][:KEPT]


def keep_token(request: Request, visitor: Visitor, token: str) -> None:
    """Remember ``token`` in the browser (newest first), sent with the visitor's answer."""
    tokens = [token] + [kept for kept in kept_tokens(request) if kept != token]
    visitor.cookies[CONTACT_COOKIE] = ".".join(tokens[:KEPT])


@router.get("/contact", response_class=HTMLResponse)
async def kept(request: Request, visitor: VisitorDep, settings: SettingsDep) -> Response:
    """The contact pages this browser was given; how to go on without one."""
    urls = [page_url(settings, token) for token in kept_tokens(request)]
    return web.page(request, visitor, "webchat/contact.html", {"case": None, "urls": urls})


@router.get("/contact/{token}", response_class=HTMLResponse)
async def show(
    request: Request,
    token: str,
    visitor: VisitorDep,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """The case, the unit's replies, writing back and 复评."""
    found = await contact.contact_page(session=session, token=token[:TOKEN_MAX], tz=settings.tz)
    keep_token(request, visitor, token)
    context = {
        "case": found,
        "state": visitor.t(STATES[found.state]),
        "token": token,
        "url": page_url(settings, token),
        "notice": web.read_flash(request, settings).get("notice"),
    }
    return web.page(request, visitor, "webchat/contact.html", context)


@router.post("/contact/{token}/write", response_class=HTMLResponse)
async def write(
    request: Request,
    token: str,
    visitor: VisitorDep,
    session: WriteSessionDep,
    settings: SettingsDep,
) -> Response:
    """The citizen's message to the unit."""
    text = (await request.form()).get("text")
    if not isinstance(text, str):
        return web.message(request, visitor, visitor.t("webchat.error.bad_form"), status_code=400)
    notice = await contact.write_back(session=session, token=token[:TOKEN_MAX], text=text)
    flash = {"notice": visitor.t.label(notice)}
    return web.redirect(visitor, f"/c/contact/{token}", settings, flash)


@router.post("/contact/{token}/rerate", response_class=HTMLResponse)
async def rerate(
    request: Request,
    token: str,
    visitor: VisitorDep,
    session: WriteSessionDep,
    settings: SettingsDep,
) -> Response:
    """The citizen's 复评 once the unit has answered (已反馈)."""
    choice = (await request.form()).get("i")
    if (
        not isinstance(choice, str)
        or not (choice.isascii() and choice.isdigit())
        or len(choice) > CHOICE_MAX
    ):
        return web.message(request, visitor, visitor.t("webchat.error.bad_form"), status_code=400)
    notice = await contact.rerate(
        session=session, token=token[:TOKEN_MAX], choice=int(choice), tz=settings.tz
    )
    flash = {"notice": visitor.t.label(notice)}
    return web.redirect(visitor, f"/c/contact/{token}", settings, flash)
