"""API tokens: the secret is shown once and only its hash stored; revoked tokens stop working."""

from __future__ import annotations

import hashlib

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.models import ApiToken, Unit, UnitKind
from surveys.accounts.tokens import (
    InvalidToken,
    InvalidTokenName,
    TokenNameTaken,
    create_token,
    list_tokens,
    revoke_token,
    verify_token,
)
from surveys.core.exceptions import NotFound


@pytest.fixture
async def unit(session: AsyncSession) -> Unit:
    kundulun = Unit(code="kundulun", name="昆都仑区", kind=UnitKind.district)
    session.add(kundulun)
    await session.flush()
    return kundulun


class TestCreateToken:
    async def test_returns_the_secret_once_and_stores_only_its_hash(
        self, session: AsyncSession
    ) -> None:
        token, raw = await create_token(session=session, name="审批系统", unit=None)

        assert raw.startswith("my_")
        assert len(raw) == 3 + 43  # token_urlsafe(32): 32 random bytes in base64url
        assert token.id is not None
        assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
        stored = (await session.exec(select(ApiToken))).one()
        assert raw not in {str(value) for value in stored.model_dump().values()}

    async def test_secrets_differ(self, session: AsyncSession) -> None:
        _, first = await create_token(session=session, name="a", unit=None)
        _, second = await create_token(session=session, name="b", unit=None)

        assert first != second

    async def test_binds_to_a_unit(self, session: AsyncSession, unit: Unit) -> None:
        token, _ = await create_token(session=session, name="昆区大厅", unit=unit)

        assert token.unit_id == unit.id

    async def test_a_live_name_cannot_be_reused(self, session: AsyncSession) -> None:
        await create_token(session=session, name="审批系统", unit=None)

        with pytest.raises(TokenNameTaken) as caught:
            await create_token(session=session, name=" 审批系统 ", unit=None)

        assert (caught.value.key, caught.value.status_code) == ("error.token_name_taken", 409)
        assert caught.value.params == {"name": "审批系统"}

    async def test_a_revoked_name_can_be_reused(self, session: AsyncSession) -> None:
        await create_token(session=session, name="审批系统", unit=None)
        await revoke_token(session=session, name="审批系统")

        token, _ = await create_token(session=session, name="审批系统", unit=None)

        assert token.revoked_at is None

    @pytest.mark.parametrize("name", ["", "   ", "x" * 65])
    async def test_a_name_has_1_to_64_characters(self, session: AsyncSession, name: str) -> None:
        with pytest.raises(InvalidTokenName) as caught:
            await create_token(session=session, name=name, unit=None)

        assert (caught.value.key, caught.value.params) == ("error.invalid_token_name", {"max": 64})


class TestVerifyToken:
    async def test_returns_the_token(self, session: AsyncSession, unit: Unit) -> None:
        token, raw = await create_token(session=session, name="昆区大厅", unit=unit)

        assert await verify_token(session=session, raw=raw) is token

    @pytest.mark.parametrize("raw", ["", "my_", "my_unknown", "Bearer my_x", "no-prefix"])
    async def test_an_unknown_secret_is_refused(self, session: AsyncSession, raw: str) -> None:
        await create_token(session=session, name="审批系统", unit=None)

        with pytest.raises(InvalidToken) as caught:
            await verify_token(session=session, raw=raw)

        assert (caught.value.key, caught.value.status_code) == ("error.invalid_token", 401)

    async def test_the_hash_itself_is_not_a_secret(self, session: AsyncSession) -> None:
        token, _ = await create_token(session=session, name="审批系统", unit=None)

        with pytest.raises(InvalidToken):
            await verify_token(session=session, raw=token.token_hash)
        with pytest.raises(InvalidToken):
            await verify_token(session=session, raw="my_" + token.token_hash)

    async def test_a_revoked_token_is_refused(self, session: AsyncSession) -> None:
        _, raw = await create_token(session=session, name="审批系统", unit=None)
        await revoke_token(session=session, name="审批系统")

        with pytest.raises(InvalidToken):
            await verify_token(session=session, raw=raw)


class TestRevokeToken:
    async def test_marks_the_live_token_and_keeps_it(self, session: AsyncSession) -> None:
        await create_token(session=session, name="审批系统", unit=None)

        token = await revoke_token(session=session, name="审批系统")

        assert token.revoked_at is not None
        assert [t.name for t in await list_tokens(session=session)] == ["审批系统"]

    async def test_only_the_live_token_of_the_name_is_revoked(self, session: AsyncSession) -> None:
        _, old_raw = await create_token(session=session, name="审批系统", unit=None)
        old = await revoke_token(session=session, name="审批系统")
        _, raw = await create_token(session=session, name="审批系统", unit=None)
        revoked_at = old.revoked_at

        await revoke_token(session=session, name="审批系统")

        assert old.revoked_at == revoked_at
        for secret in (old_raw, raw):
            with pytest.raises(InvalidToken):
                await verify_token(session=session, raw=secret)

    @pytest.mark.parametrize("name", ["nobody", "审批系统"])
    async def test_an_unknown_or_revoked_name_is_not_found(
        self, session: AsyncSession, name: str
    ) -> None:
        await create_token(session=session, name="审批系统", unit=None)
        await revoke_token(session=session, name="审批系统")

        with pytest.raises(NotFound):
            await revoke_token(session=session, name=name)


class TestListTokens:
    async def test_every_token_oldest_first(self, session: AsyncSession, unit: Unit) -> None:
        await create_token(session=session, name="b", unit=unit)
        await create_token(session=session, name="a", unit=None)
        await revoke_token(session=session, name="a")

        tokens = await list_tokens(session=session)

        assert [(t.name, t.unit_id, t.revoked_at is None) for t in tokens] == [
            ("b", unit.id, True),
            ("a", None, False),
        ]

    async def test_empty(self, session: AsyncSession) -> None:
        assert await list_tokens(session=session) == []
