"""Who is asking: the web chat's citizen, known by a signed first-party cookie alone.

No login and no personal data: ``minyi_citizen`` holds a random id, signed with a key
derived from the secret key, and the respondent is the keyed pseudonym of that id on the
``web`` channel (:func:`surveys.questionnaire.respondents.get_or_create_respondent`). A
missing, expired or forged cookie is simply a new citizen. ``minyi_prefs`` holds the
citizen's language and 关怀模式 (care mode), so any page, error pages included, is drawn
with them before the database is touched.

Forgery of requests: the console's CSRF tokens (api/csrf.py) cover /console only. The
citizen's forms under /c are protected by the cookie itself: it is ``HttpOnly`` and
``SameSite=Lax`` (and ``Secure`` with ``COOKIE_SECURE``), so a form posted from another
site arrives without it and is answered as a stranger's, who has no survey in progress:
another site can neither answer nor change anything in a citizen's name.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Annotated, TypeVar

from fastapi import Depends, Request, Response
from itsdangerous import BadSignature, Signer

from api.deps import SettingsDep, WriteSessionDep
from surveys.core.i18n import Translator, load_translations, negotiate
from surveys.core.settings import Settings
from surveys.questionnaire import respondents
from surveys.questionnaire.models import Respondent

CITIZEN_COOKIE = "minyi_citizen"
PREFS_COOKIE = "minyi_prefs"
CHANNEL = "web"
MAX_AGE = 365 * 24 * 3600  # about a year from the last visit
ID_BYTES = 18
R = TypeVar("R", bound=Response)


@dataclass(frozen=True)
class Prefs:
    """What the citizen chose: a locale (None: not chosen) and care mode."""

    locale: str | None = None
    care: bool = False

    def dump(self) -> str:
        return f"{self.locale or '-'}.{int(self.care)}"

    @classmethod
    def parse(cls, raw: str | None) -> Prefs:
        """The cookie's value; anything unexpected reads as no choice at all."""
        locale, _, care = (raw or "").partition(".")
        known = locale if locale in load_translations() else None
        return cls(locale=known, care=care == "1")


@dataclass(kw_only=True)
class Visitor:
    """Anyone on a web chat page: the language and mode to draw it in."""

    locale: str
    care: bool
    t: Translator
    prefs: Prefs
    secure: bool = False
    # Cookies to send with the answer: (name, value).
    cookies: dict[str, str] = field(default_factory=dict)

    def keep(self, response: R) -> R:
        """Sets the cookies this visit needs on ``response`` and returns it."""
        for name, value in self.cookies.items():
            response.set_cookie(
                name,
                value,
                max_age=MAX_AGE,
                path="/c",
                httponly=True,
                samesite="lax",
                secure=self.secure,
            )
        return response


@dataclass(kw_only=True)
class Citizen(Visitor):
    """A visitor with a respondent (created on the first visit)."""

    respondent: Respondent


def _signer(settings: Settings) -> Signer:
    key = hmac.new(settings.secret_key_bytes(), b"web-citizen", hashlib.sha256).hexdigest()
    return Signer(key, salt="minyi-citizen")


def read_id(request: Request, settings: Settings) -> str | None:
    """The citizen's random id from a cookie whose signature holds, else None."""
    raw = request.cookies.get(CITIZEN_COOKIE)
    if not raw:
        return None
    try:
        return _signer(settings).unsign(raw).decode()
    except (BadSignature, UnicodeDecodeError):
        return None


def visitor_of(request: Request, settings: Settings, language: str | None = None) -> Visitor:
    """Locale: the citizen's choice, else ``language`` (stored), else Accept-Language."""
    prefs = Prefs.parse(request.cookies.get(PREFS_COOKIE))
    locale = prefs.locale or language or negotiate(request.headers.get("accept-language"))
    return Visitor(
        locale=locale,
        care=prefs.care,
        t=Translator(locale, care=prefs.care),
        prefs=prefs,
        secure=settings.cookie_secure,
    )


def get_visitor(request: Request, settings: SettingsDep) -> Visitor:
    """A page that needs no respondent: language and mode from the cookies only."""
    visitor = visitor_of(request, settings)
    request.state.visitor = visitor
    return visitor


async def get_citizen(
    request: Request, settings: SettingsDep, session: WriteSessionDep
) -> Citizen:
    """The citizen behind the cookie; a new random id (and respondent) when there is none."""
    known = read_id(request, settings)
    external_id = known or secrets.token_urlsafe(ID_BYTES)
    respondent = await respondents.get_or_create_respondent(
        session=session,
        secret=settings.secret_key_bytes(),
        channel=CHANNEL,
        external_id=external_id,
    )
    base = visitor_of(request, settings, respondent.language)
    care = base.care if PREFS_COOKIE in request.cookies else respondent.care_mode
    citizen = Citizen(
        locale=base.locale,
        care=care,
        t=Translator(base.locale, care=care),
        prefs=base.prefs,
        secure=base.secure,
        respondent=respondent,
    )
    # Sent again on every visit, so the year counts from the last one.
    citizen.cookies[CITIZEN_COOKIE] = _signer(settings).sign(external_id).decode()
    request.state.visitor = citizen
    return citizen


VisitorDep = Annotated[Visitor, Depends(get_visitor)]
CitizenDep = Annotated[Citizen, Depends(get_citizen)]
