"""``minyi score`` and ``minyi import monitoring|template``: the scoring commands."""

from __future__ import annotations

import typer


def register(*, app: typer.Typer, import_app: typer.Typer) -> None:
    """Attach the scoring commands to the ``minyi`` application."""
