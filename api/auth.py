"""Who is calling: a bearer token (API) or a signed-in session (console), as an Actor.

Every route declares the permission it needs through :func:`api_actor`, :func:`console_actor`
or :data:`PUBLIC`; the permission test walks the app's routes and fails on a route without
one. What the actor may see is checked again, per unit, in the services.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.deps import SessionDep
from surveys.accounts import accounts, tokens
from surveys.accounts.access import Actor, NotSignedIn, Perm
from surveys.accounts.models import StaffUser

bearer = HTTPBearer(auto_error=False)
SESSION_USER = "uid"
SESSION_VERSION = "v"


def client_address(request: Request) -> str:
    """The caller's address, audited and throttled: the peer's, or, when the peer is a proxy
    listed in ``FORWARDED_ALLOW_IPS``, the nearest address its ``X-Forwarded-For`` names
    that is not itself such a proxy. Nobody else's header is believed."""
    peer = request.client.host if request.client else "-"
    proxies = trusted_proxies(request.app.state.settings.forwarded_allow_ips)
    if not proxies.trusts(peer):
        return peer
    hops = [
        hop.strip()
        for header in request.headers.getlist("x-forwarded-for")
        for hop in header.split(",")
        if hop.strip()
    ]
    for hop in reversed(hops):  # the proxies append: read from the nearest one back
        if not _is_address(hop):
            return peer  # a hop no proxy would write: believe none of them
        if not proxies.trusts(hop):
            return hop
    return hops[0] if hops else peer


@dataclass(frozen=True)
class TrustedProxies:
    networks: tuple[IPv4Network | IPv6Network, ...]
    everyone: bool = False

    def trusts(self, address: str) -> bool:
        if self.everyone:
            return True
        try:
            ip = ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)


@lru_cache
def trusted_proxies(setting: str) -> TrustedProxies:
    """``FORWARDED_ALLOW_IPS`` (validated by the settings) as networks; "*" trusts all."""
    entries = [e.strip() for e in setting.split(",") if e.strip()]
    networks = tuple(ip_network(e, strict=False) for e in entries if e != "*")
    return TrustedProxies(networks, everyone="*" in entries)


def _is_address(text: str) -> bool:
    try:
        ip_address(text)
    except ValueError:
        return False
    return True


def _declared(perm: Perm, dependency: Callable[..., Awaitable[Any]]) -> Any:
    dependency.perm = perm  # type: ignore[attr-defined]  # read by the permission test
    return dependency


def api_actor(perm: Perm) -> Any:
    """A dependency: the token's actor, refused (403) without ``perm``."""

    async def dependency(
        request: Request,
        session: SessionDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Actor:
        token = await tokens.verify_token(
            session=session, raw=credentials.credentials if credentials else ""
        )
        actor = tokens.actor_for_token(token, client_address(request))
        actor.require(perm)
        return actor

    return _declared(perm, dependency)


class ConsoleLogin(Exception):
    """Not signed in (or the session ended): the console sends the browser to sign in."""


class PasswordChangeRequired(Exception):
    """Signed in with a one-time password: the console sends the browser to change it."""


async def signed_in(request: Request, session: SessionDep) -> tuple[Actor, StaffUser]:
    uid, version = request.session.get(SESSION_USER), request.session.get(SESSION_VERSION)
    if not isinstance(uid, int) or not isinstance(version, int):
        raise ConsoleLogin()
    found = await accounts.actor_for_session(
        session=session, user_id=uid, version=version, address=client_address(request)
    )
    if found is None:
        request.session.clear()
        raise ConsoleLogin()
    return found


def console_actor(perm: Perm) -> Any:
    """A dependency: the signed-in actor, refused (403) without ``perm``.

    A first sign-in with a one-time password may only change the password.
    """

    async def dependency(
        request: Request, found: Annotated[tuple[Actor, StaffUser], Depends(signed_in)]
    ) -> Actor:
        actor, user = found
        if user.must_change_password and perm is not Perm.signed_in:
            raise PasswordChangeRequired()
        actor.require(perm)
        request.state.actor = actor
        return actor

    return _declared(perm, dependency)


async def _public() -> None:
    return None


PUBLIC = Depends(_declared(Perm.public, _public))
"""For routes anyone may call (health, sign-in page)."""

__all__ = ["NotSignedIn", "PUBLIC", "api_actor", "console_actor"]
