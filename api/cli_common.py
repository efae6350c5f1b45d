"""What every ``minyi`` command shares: one transaction per command, clear refusals."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import NoReturn, TypeVar

import typer
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.core.db import create_sessionmaker, engine_from_settings, unit_of_work
from surveys.core.exceptions import DomainError, InvalidFile
from surveys.core.i18n import Translator
from surveys.core.settings import get_settings

T = TypeVar("T")


def _in_transaction(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
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
        _refuse(exc)


def _fail(message: str) -> NoReturn:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _refuse(exc: DomainError) -> NoReturn:
    typer.secho(Translator()(exc.key, **exc.params), fg=typer.colors.RED, err=True)
    raise typer.Exit(2) from exc


def _parse(parse: Callable[[], T]) -> T:
    try:
        return parse()
    except InvalidFile as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        typer.secho("Nothing was stored.", err=True)
        raise typer.Exit(2) from exc
