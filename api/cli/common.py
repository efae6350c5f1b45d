"""What every ``minyi`` command shares: one transaction per command, clear refusals, and the
account the command acts as (``minyi --as NAME`` or ``MINYI_USER``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, NoReturn, Protocol, TypeVar

import typer

from surveys.accounts import accounts
from surveys.accounts.access import Actor, StaffRole
from surveys.core.db import AsyncSession, create_sessionmaker, engine_from_settings, unit_of_work
from surveys.core.exceptions import DomainError, InvalidFile
from surveys.core.i18n import N_, Translator
from surveys.core.models import pk, utcnow
from surveys.core.settings import get_settings

T = TypeVar("T")

FileArg = Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)]


def in_transaction(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one transaction: all of it is stored, or none."""
    settings = get_settings()

    async def run() -> T:
        engine = engine_from_settings(settings)
        try:
            async with unit_of_work(create_sessionmaker(engine)) as session:
                return await work(session)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except InvalidFile as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        typer.secho("Nothing was stored.", err=True)
        raise typer.Exit(2) from exc
    except DomainError as exc:
        refuse(exc)


def fail(message: str) -> NoReturn:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def refuse(exc: DomainError) -> NoReturn:
    typer.secho(Translator()(exc.key, **exc.params), fg=typer.colors.RED, err=True)
    raise typer.Exit(2) from exc


class Summarised(Protocol):
    """What an import gives back: one sentence for the person who imported."""

    def summary(self, t: Translator) -> str: ...


def report_import(file: Path, outcome: Summarised | DomainError) -> None:
    """Print an import's summary, or fail with its refusal (a file's problems one a line)."""
    t = Translator()
    if isinstance(outcome, InvalidFile):
        heading = t(N_("error.invalid_file"), source=str(file), count=len(outcome.problems))
        fail("\n".join([heading, *(f"  {problem}" for problem in outcome.problems)]))
    if isinstance(outcome, DomainError):
        fail(t(outcome.key, **outcome.params))
    typer.echo(outcome.summary(t))


def parse(parse: Callable[[], T]) -> T:
    try:
        return parse()
    except InvalidFile as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        typer.secho("Nothing was stored.", err=True)
        raise typer.Exit(2) from exc


# The acting account ------------------------------------------------------------------------

ADDRESS = "cli"


class UnknownAccount(DomainError):
    key = N_("cli.account_unknown")
    status_code = 403


@dataclass
class _Chosen:
    name: str | None = None


_chosen = _Chosen()


def choose_account(name: str | None) -> None:
    """Remember ``minyi --as NAME`` for the commands of this run."""
    _chosen.name = name


def account_name() -> str | None:
    """The account this run acts as: ``--as NAME``, else ``MINYI_USER``; None if neither."""
    name = _chosen.name if _chosen.name is not None else get_settings().minyi_user
    return (name or "").strip() or None


def require_account() -> str:
    """The acting account's name; without one, the command is refused before it starts."""
    name = account_name()
    if name is None:
        fail(Translator()(N_("cli.as_required")))
    return name


async def _load_actor(session: AsyncSession, name: str) -> Actor:
    user = await accounts.get_user(session=session, username=name)
    if user is None or not user.active:
        raise UnknownAccount(name=name)
    return Actor.scoped(
        name=user.username,
        role=StaffRole(user.role),
        unit_ids=await accounts.unit_ids_of(session=session, user=user),
        address=ADDRESS,
        user_id=pk(user),
    )


async def cli_actor(session: AsyncSession) -> Actor:
    """The named account (``--as`` or ``MINYI_USER``) with its role and units, as the console
    builds it; a missing, unknown or disabled account is refused."""
    return await _load_actor(session, require_account())


async def reading_actor(session: AsyncSession) -> Actor | None:
    """For commands that only read: the named account if one is given, else None."""
    name = account_name()
    return None if name is None else await _load_actor(session, name)


# Whoever runs a read-only command on the server without naming an account reads everything.
SERVER_READER = Actor(name="cli", role=StaffRole.admin, units=None, address=ADDRESS)


def acting(work: Callable[[AsyncSession, Actor], Awaitable[T]]) -> T:
    """Run ``work`` in one transaction as the acting account (:func:`cli_actor`)."""

    async def run(session: AsyncSession) -> T:
        return await work(session, await cli_actor(session))

    return in_transaction(run)


def reading(work: Callable[[AsyncSession, Actor], Awaitable[T]]) -> T:
    """Run ``work`` in one transaction as the named account, else as :data:`SERVER_READER`."""

    async def run(session: AsyncSession) -> T:
        return await work(session, await reading_actor(session) or SERVER_READER)

    return in_transaction(run)


class LinkCodeFlow(Protocol):
    def __call__(
        self, *, session: AsyncSession, actor: Actor, username: str, now: datetime
    ) -> Awaitable[str]: ...


def print_link_code(issue: LinkCodeFlow, username: str) -> None:
    """Issue a bot link code as the acting account and print it once."""
    code = acting(
        lambda session, actor: issue(session=session, actor=actor, username=username, now=utcnow())
    )
    typer.echo(f"send this to the bot within 15 minutes:  /link {code}")
