"""Sign-in, sign-out, password change and the privacy purge: each writes exactly one audit row
named after its action; a refusal changes nothing and leaves no row.

Every registered flow of these modules has a test below, so a new one cannot ship untested.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pwdlib import PasswordHash
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts import accounts
from surveys.accounts.access import Actor, Forbidden, NotSignedIn, StaffRole
from surveys.accounts.models import AuditEvent, StaffUser
from surveys.core.models import pk
from surveys.flows import privacy as privacy_flows
from surveys.flows import sessions as session_flows
from surveys.flows.registry import FLOWS
from surveys.questionnaire import respondents
from surveys.questionnaire.models import Identity, Respondent

NOW = datetime(2026, 11, 23, 8, tzinfo=UTC)
PASSWORD = "correct-horse-battery"
NEW = "a-new-long-password"
POLICY = accounts.LoginPolicy()
ADDRESS = "203.0.113.7"
hasher = PasswordHash.recommended()


async def _account(session: AsyncSession, name: str, role: StaffRole) -> StaffUser:
    user, once = await accounts.create_user(
        session=session, username=name, role=role, unit_codes=[]
    )
    await accounts.change_password(session=session, user=user, current=once, new=PASSWORD)
    return user


def _actor(user: StaffUser, **more: object) -> Actor:
    return Actor.scoped(
        name=user.username,
        role=StaffRole(user.role),
        unit_ids=[],
        address=ADDRESS,
        user_id=pk(user),
        **more,
    )


async def _audit(session: AsyncSession) -> list[tuple[str, str, str, str | None, dict]]:
    rows = (await session.exec(select(AuditEvent).order_by(col(AuditEvent.id)))).all()
    return [(e.actor, e.role, e.action, e.address, e.detail) for e in rows]


@pytest.fixture
async def li(session: AsyncSession) -> StaffUser:
    return await _account(session, "li", StaffRole.viewer)


def test_every_flow_of_these_modules_is_tested_here() -> None:
    modules = {session_flows.__name__, privacy_flows.__name__}
    mine = {a for a, spec in FLOWS.items() if spec.func.__module__ in modules}
    assert mine == {"logout", "password.change", "privacy.purge"}


class TestSignIn:
    async def test_a_good_password_is_audited_as_the_account(
        self, session: AsyncSession, li: StaffUser
    ) -> None:
        outcome = await session_flows.sign_in(
            session=session, username=" li ", password=PASSWORD, address=ADDRESS, policy=POLICY
        )

        assert outcome.user is li
        assert await _audit(session) == [("li", "viewer", "login", ADDRESS, {})]

    async def test_a_wrong_password_is_audited_under_the_typed_name_with_the_reason(
        self, session: AsyncSession, li: StaffUser
    ) -> None:
        outcome = await session_flows.sign_in(
            session=session, username="li", password="wrong", address=ADDRESS, policy=POLICY
        )

        assert outcome.user is None
        assert outcome.status_code == 401
        assert await _audit(session) == [
            ("li", "-", "login.failed", ADDRESS, {"reason": "login.error.invalid"})
        ]

    async def test_an_unknown_or_empty_name_is_audited_too(self, session: AsyncSession) -> None:
        for name in ("nobody", "  "):
            await session_flows.sign_in(
                session=session, username=name, password="x", address=ADDRESS, policy=POLICY
            )

        assert [(a, action) for a, _, action, _, _ in await _audit(session)] == [
            ("nobody", "login.failed"),
            ("-", "login.failed"),
        ]

    async def test_a_locked_account_is_refused_even_with_its_password(
        self, session: AsyncSession, li: StaffUser
    ) -> None:
        li.locked_until = NOW + timedelta(minutes=10)
        session.add(li)
        await session.flush()

        outcome = await session_flows.sign_in(
            session=session,
            username="li",
            password=PASSWORD,
            address=ADDRESS,
            policy=POLICY,
            now=NOW,
        )

        assert outcome.user is None
        assert outcome.status_code == 423
        assert [action for _, _, action, _, _ in await _audit(session)] == ["login.failed"]


class TestSignOut:
    async def test_ends_every_session_with_one_row(
        self, session: AsyncSession, li: StaffUser
    ) -> None:
        version = li.session_version

        await session_flows.sign_out(session=session, actor=_actor(li))

        assert li.session_version == version + 1
        assert await _audit(session) == [("li", "viewer", "logout", ADDRESS, {})]

    async def test_a_token_has_no_session_to_end(
        self, session: AsyncSession, li: StaffUser
    ) -> None:
        token = Actor(name="li", role=StaffRole.viewer, units=None, token_id=1)
        version = li.session_version

        with pytest.raises(NotSignedIn):
            await session_flows.sign_out(session=session, actor=token)

        assert li.session_version == version
        assert await _audit(session) == []

    async def test_needs_an_actor(self, session: AsyncSession) -> None:
        with pytest.raises(TypeError):
            await session_flows.sign_out(session=session)  # type: ignore[call-arg]


class TestChangePassword:
    async def test_replaces_the_own_password_with_one_row(
        self, session: AsyncSession, li: StaffUser
    ) -> None:
        version = li.session_version

        user = await session_flows.change_password(
            session=session, actor=_actor(li), current=PASSWORD, new=NEW
        )

        assert user is li
        assert li.password_hash is not None
        assert hasher.verify(NEW, li.password_hash)
        assert li.session_version == version + 1
        assert await _audit(session) == [("li", "viewer", "password.change", ADDRESS, {})]

    @pytest.mark.parametrize(
        ("current", "new", "refusal"),
        [
            ("wrong-password", NEW, accounts.WrongPassword),
            (PASSWORD, "short", accounts.WeakPassword),
        ],
    )
    async def test_a_refusal_changes_nothing_and_leaves_no_row(
        self,
        session: AsyncSession,
        li: StaffUser,
        current: str,
        new: str,
        refusal: type[Exception],
    ) -> None:
        before = (li.password_hash, li.session_version)

        with pytest.raises(refusal):
            await session_flows.change_password(
                session=session, actor=_actor(li), current=current, new=new
            )

        assert (li.password_hash, li.session_version) == before
        assert await _audit(session) == []

    async def test_only_the_actors_own_account(self, session: AsyncSession, li: StaffUser) -> None:
        wang = await _account(session, "wang", StaffRole.viewer)
        before = li.password_hash
        # A name that is not the account behind the actor's id, and a token.
        posing = Actor(name="li", role=StaffRole.viewer, units=None, user_id=pk(wang))
        token = Actor(name="li", role=StaffRole.viewer, units=None, token_id=1)

        for actor in (posing, token):
            with pytest.raises(NotSignedIn):
                await session_flows.change_password(
                    session=session, actor=actor, current=PASSWORD, new=NEW
                )

        assert li.password_hash == before
        assert await _audit(session) == []


async def _identity(session: AsyncSession, chat_id: int, seen: datetime) -> None:
    respondent = await respondents.get_or_create_respondent(
        session=session, secret=b"k", channel="telegram", external_id=chat_id
    )
    session.add(
        Identity(
            respondent_id=pk(respondent),
            channel="telegram",
            chat_id=chat_id,
            created_at=seen,
            last_seen_at=seen,
        )
    )
    await session.flush()


async def _chat_ids(session: AsyncSession) -> list[int]:
    return sorted((await session.exec(select(Identity.chat_id))).all())


class TestPrivacyPurge:
    @pytest.fixture
    async def contacts(self, session: AsyncSession) -> None:
        await _identity(session, 1, datetime(2020, 1, 1, tzinfo=UTC))
        await _identity(session, 2, NOW - timedelta(days=3))

    @pytest.mark.usefixtures("contacts")
    async def test_deletes_stale_contacts_with_one_row_holding_the_count(
        self, session: AsyncSession
    ) -> None:
        boss = await _account(session, "boss", StaffRole.admin)

        deleted = await privacy_flows.purge_identities(
            session=session, actor=_actor(boss), days=730, now=NOW
        )

        assert deleted == 1
        assert await _chat_ids(session) == [2]
        # The pseudonymous respondents stay, so their answers stay in the statistics.
        assert (await session.exec(select(func.count()).select_from(Respondent))).one() == 2
        assert await _audit(session) == [
            ("boss", "admin", "privacy.purge", ADDRESS, {"deleted": 1, "days": 730})
        ]

    @pytest.mark.usefixtures("contacts")
    async def test_an_actor_who_may_not_manage_deletes_nothing(
        self, session: AsyncSession, li: StaffUser
    ) -> None:
        with pytest.raises(Forbidden):
            await privacy_flows.purge_identities(
                session=session, actor=_actor(li), days=730, now=NOW
            )

        assert await _chat_ids(session) == [1, 2]
        assert await _audit(session) == []
