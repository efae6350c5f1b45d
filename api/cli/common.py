"""What every ``minyi`` command shares: one transaction per command, clear refusals."""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.access import Actor, StaffRole
from surveys.core.db import create_sessionmaker, engine_from_settings, unit_of_work
from surveys.core.exceptions import DomainError, InvalidFile
from surveys.core.i18n import Translator
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


def parse(parse: Callable[[], T]) -> T:
    try:
        return parse()
    except InvalidFile as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        typer.secho("Nothing was stored.", err=True)
        raise typer.Exit(2) from exc


def cli_actor() -> Actor:
    """The person at the terminal, as recorded in the audit log."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return Actor(name=f"cli:{who}"[:80], role=StaffRole.admin, units=None)
