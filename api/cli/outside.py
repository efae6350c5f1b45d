"""``minyi import outside`` and ``minyi import template outside``: outside 民意 results (a
poll by a 民意调查机构, a 蒙速办 figure), per unit a score 0–100 with its n."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import (
    FileArg,
    cli_actor,
    fail,
    in_transaction,
    reading_actor,
    report_import,
)
from scoring import flows as scoring_flows
from scoring import monitoring_template, outside, outside_template
from surveys.core.db import AsyncSession
from surveys.core.exceptions import DomainError
from surveys.core.i18n import N_, Translator
from surveys.core.models import utcnow
from surveys.core.settings import get_settings

OUTSIDE = "outside"  # minyi import template outside [OUT]
DEFAULT_TEMPLATE = Path("外部民意导入模板.xlsx")


def import_outside(
    file: FileArg,
    period: Annotated[str, typer.Option(help="Half-year, e.g. 2026H2")],
    source: Annotated[str, typer.Option(help="来源, 1–100 characters, e.g. 蒙速办满意度")],
    note: Annotated[
        str, typer.Option(help="方法说明, 1–2000 characters: who asked whom, how and when")
    ],
    force: Annotated[
        bool, typer.Option(help="Import a half-year outside two years back .. the next one")
    ] = False,
) -> None:
    """Import one outside source's results (.csv/.xlsx: 单位编码 or 单位名称, 得分, 样本量):
    every row is stored, or none.

    Importing the same half-year and source again replaces the current result (the earlier
    one is kept as history); another source stands beside it. A refused file is audited (its
    name and the number of problems) and stores nothing else.
    """
    settings = get_settings()

    async def store(session: AsyncSession) -> outside.Imported | DomainError:
        try:
            return await scoring_flows.import_outside(
                session=session, actor=await cli_actor(session), file_name=str(file),
                content=file, period=period, source_name=source, method_note=note,
                now=utcnow(), tz=settings.tz, force=force,
            )  # fmt: skip
        except scoring_flows.OUTSIDE_REFUSALS as exc:
            return exc  # returned, so that the refusal's audit row is committed

    report_import(file, in_transaction(store))


def write_template(out: Path | None) -> None:
    """The outside 民意 template (every active unit and one example row) to ``out``."""
    out = out or DEFAULT_TEMPLATE
    fmt = out.suffix.lower().removeprefix(".")
    if fmt not in monitoring_template.FORMATS:
        fail(Translator()(N_("import.template.suffix"), file=str(out)))

    async def template(session: AsyncSession) -> monitoring_template.TemplateFile:
        await reading_actor(session)
        return await outside_template.template_download(session=session, fmt=fmt)

    file = in_transaction(template)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(file.body)
    typer.echo(Translator()(N_("outside.template.written"), file=str(out), count=file.units))
