"""Console sessions: signing in, signing out, changing one's own password, each audited.

:func:`sign_in` checks credentials and writes ``login`` or ``login.failed``; the registered
flows :func:`sign_out` (``logout``) and :func:`change_password` (``password.change``) act on
the actor's own account only. Sessions themselves (the cookie) are the console's business.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts import accounts, audit
from surveys.accounts.access import Actor, NotSignedIn, Perm, StaffRole
from surveys.accounts.models import StaffUser
from surveys.core.models import pk, utcnow
from surveys.flows.registry import Adapter, flow

CONSOLE_ONLY = frozenset({Adapter.console})


async def sign_in(
    *,
    session: AsyncSession,
    username: str,
    password: str,
    address: str,
    policy: accounts.LoginPolicy,
    now: datetime | None = None,
) -> accounts.LoginOutcome:
    """Check a console sign-in and audit it: ``login`` as the account, else ``login.failed``.

    Not a registered flow: there is no actor until the credentials are checked, so nothing
    is required beforehand; a failure is recorded under the name that was typed, with the
    reason (a catalogue key), and returned rather than raised so that it is stored (the
    lockout counts) in the caller's transaction. Every attempt is also a ``login_attempt``.
    """
    outcome = await accounts.authenticate(
        session=session,
        username=username,
        password=password,
        address=address,
        now=now or utcnow(),
        policy=policy,
    )
    user = outcome.user
    if user is None:
        await audit.record_anonymous(
            session=session,
            name=username.strip()[:64] or "-",
            action="login.failed",
            address=address,
            reason=outcome.error,
        )
        return outcome
    actor = Actor.scoped(
        name=user.username,
        role=StaffRole(user.role),
        unit_ids=[],
        address=address,
        user_id=user.id,
    )
    await audit.record(session=session, actor=actor, action="login")
    return outcome


def _own_id(actor: Actor) -> int:
    """The actor's own account; an API token has none."""
    if actor.user_id is None:
        raise NotSignedIn()
    return actor.user_id


async def _own_account(session: AsyncSession, actor: Actor) -> StaffUser:
    user_id = _own_id(actor)
    user = await accounts.get_user(session=session, username=actor.name)
    if user is None or pk(user) != user_id:
        raise NotSignedIn()
    return user


@flow("logout", perm=Perm.signed_in, adapters=CONSOLE_ONLY)
async def sign_out(*, session: AsyncSession, actor: Actor) -> None:
    """End every session of the actor's account (each cookie carries the old version)."""
    await accounts.sign_out(session=session, user_id=_own_id(actor))
    await audit.record(session=session, actor=actor, action="logout")


@flow("password.change", perm=Perm.signed_in, adapters=CONSOLE_ONLY)
async def change_password(
    *, session: AsyncSession, actor: Actor, current: str, new: str
) -> StaffUser:
    """Replace the actor's own password (the current one is required); the account's other
    sessions end. Returns the account, whose new session version the caller's session keeps.

    A wrong current password or a weak new one is refused and nothing is audited.
    """
    user = await _own_account(session, actor)
    await accounts.change_password(session=session, user=user, current=current, new=new)
    await audit.record(session=session, actor=actor, action="password.change")
    return user
