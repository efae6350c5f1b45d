"""关怀模式 (care mode) and the language, switched by a button on every web chat page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from api.auth import PUBLIC
from api.deps import WriteSessionDep
from api.webchat.citizen import PREFS_COOKIE, CitizenDep, Prefs
from surveys.core.i18n import load_translations
from surveys.questionnaire import respondents

# Citizens, not staff: public pages; who answers is the pseudonymous citizen cookie.
router = APIRouter(prefix="/c", include_in_schema=False, dependencies=[PUBLIC])


@router.post("/prefs")
async def switch(request: Request, citizen: CitizenDep, session: WriteSessionDep) -> Response:
    """Remember the citizen's choice (their cookie and respondent), then show the page again."""
    form = await request.form()
    care, lang, back = form.get("care"), form.get("lang"), form.get("next")
    prefs = Prefs(locale=citizen.prefs.locale, care=citizen.care)
    who = citizen.respondent
    if care in ("0", "1"):
        prefs = Prefs(locale=prefs.locale, care=care == "1")
        await respondents.set_care_mode(session=session, respondent=who, on=prefs.care)
    if isinstance(lang, str) and lang in load_translations():
        prefs = Prefs(locale=lang, care=prefs.care)
        await respondents.set_language(session=session, respondent=who, locale=lang)
    citizen.cookies[PREFS_COOKIE] = prefs.dump()
    return citizen.keep(RedirectResponse(safe_next(back), status_code=303))


def safe_next(value: object) -> str:
    """A page of the web chat to go back to; anything else (another site) is the list."""
    if isinstance(value, str) and value.startswith("/c/") and "//" not in value:
        return value if "\\" not in value else "/c/"
    return "/c/"
