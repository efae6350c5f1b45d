"""The ``minyi`` command line: one module per command group, attached here.

A command's module is imported only when that command runs (or its own ``--help`` is shown):
``minyi --help`` lists every command from :data:`COMMANDS` without importing any of them, so
it does not pay for pandas, openpyxl, the database layer or the web app. This is Click's
lazily loaded subcommands pattern, on Typer's group class.
"""

from __future__ import annotations

import importlib
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

# name: (module under api.cli, what it holds: a Typer app or a command function, and the
# summary ``minyi --help`` shows, the first paragraph of the command's own help; a test
# keeps the two equal).
COMMANDS: dict[str, tuple[str, str, str]] = {
    "qr": (
        "qr",
        "qr_poster",
        "Write a window's 好差评 poster: a QR code opening the rating of that window.",
    ),
    "serve": (
        "serve",
        "serve",
        "Run the API and, when BOT_TOKEN is set, the Telegram bot in the same process.",
    ),
    "score": (
        "scoring",
        "score",
        "Every active unit: 民意 (n, 95% interval), components, half-year or year score, rank.",
    ),
    "feedback": (
        "feedback",
        "feedback",
        "Write each unit's 评估情况反馈单 as PDF and printable HTML (each one audited).",
    ),
    "circular": (
        "circular",
        "circular_command",
        "Write the 通报 (every kind's ranking, issued as a paper) of a half-year or a year.",
    ),
    "db": ("db", "app", "Database schema."),
    "units": ("units", "app", "Evaluated units (考评对象)."),
    "survey": ("survey", "app", "Survey definitions (YAML)."),
    "staff": ("staff", "app", "Staff of the units and their bot notifications."),
    "import": ("imports", "app", "Imports from other systems."),
    "hotline": (
        "hotline",
        "app",
        "12345 回访 (domain.md §6): the import template and the indicators per unit.",
    ),
    "token": ("tokens", "app", "API tokens for integrations."),
    "demo": ("demo", "app", "Demo data."),
    "privacy": ("privacy", "app", "Personal data."),
    "case": ("cases", "app", "差评 follow-up cases (domain.md §3)."),
    "calendar": (
        "calendar",
        "app",
        "Working-day overrides from State Council notices (domain.md §4).",
    ),
    "user": ("users", "app", "Console accounts: one-time passwords, roles and units."),
    "broadcast": ("broadcast", "app", "Survey invitations to linked citizens who agreed to them."),
    "export": ("exports", "app", "Staff downloads written to a file (each one audited)."),
}


def load_command(name: str) -> Any:
    """The Click command of ``minyi NAME``, built from its module as Typer builds it."""
    module, attribute, _ = COMMANDS[name]
    target = getattr(importlib.import_module(f"api.cli.{module}"), attribute)
    holder = typer.Typer()
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name)
    else:
        holder.command(name)(target)
    return typer.main.get_group(holder).commands[name]


class Summary(TyperCommand):
    """A command not loaded yet: its name and summary, for the list of commands."""


class LazyCommands(TyperGroup):
    """The commands of :data:`COMMANDS`, each loaded when it is about to run."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for name, (_, _, summary) in COMMANDS.items():
            self.commands.setdefault(name, Summary(name=name, help=summary))

    def resolve_command(self, ctx: Any, args: list[str]) -> tuple[str | None, Any, list[str]]:
        if args and isinstance(self.commands.get(args[0]), Summary):
            self.commands[args[0]] = load_command(args[0])
        return super().resolve_command(ctx, args)


app = typer.Typer(
    cls=LazyCommands,
    help="minyi 民意: surveys and 好差评 for the 数字政府 evaluation.",
    no_args_is_help=True,
)


@app.callback()
def root(
    account: Annotated[
        str | None,
        typer.Option(
            "--as",
            metavar="USERNAME",
            help="The console account to act as (default: MINYI_USER); every command that "
            "changes data needs one, and is done and audited with its role and units.",
        ),
    ] = None,
) -> None:
    """minyi 民意: surveys and 好差评 for the 数字政府 evaluation."""
    from api.cli.common import choose_account

    choose_account(account)


def main() -> None:
    app()
