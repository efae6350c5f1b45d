"""``minyi qr``: a window's 好差评 poster with the QR code opening its rating."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from xml.sax.saxutils import escape

import segno
import typer

from api.cli.common import fail, in_transaction, reading_actor
from surveys.accounts import units
from surveys.accounts.models import Unit
from surveys.core.db import AsyncSession
from surveys.core.exceptions import UnknownUnit
from surveys.core.settings import get_settings
from surveys.questionnaire import links

# 好差评 window posters -------------------------------------------------------------------

POSTER_CAPTION = "扫码评价本窗口服务（好差评）"
POSTER_FONT = "Noto Sans CJK SC, Source Han Sans SC, PingFang SC, Microsoft YaHei, sans-serif"
BOT_USERNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{4,31}$")


@dataclass(frozen=True)
class Poster:
    unit_code: str
    unit_name: str
    window: str
    item: str | None
    url: str  # what the QR code opens
    other: str | None = None  # the other channel's link, printed small under it


class Link(StrEnum):
    web = "web"
    telegram = "telegram"


def poster_svg(poster: Poster, qr: segno.QRCode) -> str:
    """A printable A-series-shaped SVG: unit name, the QR code, the caption and the link."""
    scale, border, width, top = 10, 4, 640, 150
    side, _ = qr.symbol_size(scale=scale, border=border)
    height = top + side + (185 if poster.other else 170)
    code = qr.svg_inline(scale=scale, border=border, dark="#000", light="#fff")
    code = code.replace("<svg ", f'<svg x="{(width - side) // 2}" y="{top}" ', 1)
    window = f"窗口 {poster.window}" + (f" · 事项 {poster.item}" if poster.item else "")
    lines = [
        (60, 34, "bold", poster.unit_name),
        (110, 26, "normal", window),
        (top + side + 60, 30, "bold", POSTER_CAPTION),
        (top + side + 105, 16, "normal", "非常满意 · 满意 · 基本满意 · 不满意 · 非常不满意"),
        (top + side + 145, 12, "normal", poster.url),
    ]
    if poster.other:
        lines.append((top + side + 165, 11, "normal", poster.other))
    texts = "\n".join(
        f'  <text x="{width // 2}" y="{y}" font-size="{size}" font-weight="{weight}" '
        f'text-anchor="middle">{escape(text)}</text>'
        for y, size, weight, text in lines
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="{POSTER_FONT}">\n'
        f"  <title>{escape(poster.unit_name)} {escape(window)}：{POSTER_CAPTION}</title>\n"
        f'  <rect width="{width}" height="{height}" fill="#fff"/>\n'
        f"  {code}\n{texts}\n</svg>\n"
    )


def _links(payload: str, bot_username: str | None, link: Link) -> tuple[str, str | None]:
    """(what the QR code opens, the other channel's link if known)."""
    web = get_settings().base_url() + links.web_path(payload)
    telegram = None
    if bot_username is not None:
        name = bot_username.removeprefix("@")
        if not BOT_USERNAME.match(name):
            fail(f"{bot_username!r} 不是 Telegram 用户名（5–32 个 A-Z、a-z、0-9 或 _ 字符）")
        telegram = f"https://t.me/{name}?start={payload}"
    if link is Link.web:
        return web, telegram
    if telegram is None:
        fail("--link telegram 需要机器人的用户名：请加 --bot-username NAME（或设置 BOT_USERNAME）")
    return telegram, web


def qr_poster(
    unit: Annotated[str, typer.Option(help="Unit code (must be loaded)")],
    window: Annotated[str, typer.Option(help="Window code, e.g. A03")],
    item: Annotated[str | None, typer.Option(help="事项 code the window serves")] = None,
    out: Annotated[
        Path | None, typer.Option(help="FILE.svg (full poster) or FILE.png (QR code only)")
    ] = None,
    bot_username: Annotated[
        str | None, typer.Option(envvar="BOT_USERNAME", help="The bot's @username, without @")
    ] = None,
    link: Annotated[
        Link,
        typer.Option(
            help="What the QR code opens: the web chat (phone camera, WeChat; at "
            "PUBLIC_BASE_URL) or the Telegram bot (needs --bot-username)"
        ),
    ] = Link.web,
) -> None:
    """Write a window's 好差评 poster: a QR code opening the rating of that window.

    The code opens the mobile web chat at PUBLIC_BASE_URL (any phone camera or WeChat can
    scan it); ``--link telegram`` makes it open the bot instead. The poster prints the other
    link too when it is known. An .svg holds the whole poster (unit name, window, QR code,
    caption); a .png holds the QR code alone, and the caption to print beside it is shown on
    the terminal.
    """
    try:
        payload = links.window_payload(unit, window, item)
    except ValueError as exc:
        fail(str(exc))
    url, other = _links(payload, bot_username, link)
    target = out or Path(f"qr-{unit}-{window}" + (f"-{item}" if item else "") + ".svg")
    kind = target.suffix.lower().lstrip(".")
    if kind not in ("svg", "png"):
        fail(f"{target}: write a .svg poster or a .png QR code")

    async def unit_of(session: AsyncSession) -> Unit:
        actor = await reading_actor(session)
        found = await units.get_unit_or_raise(session=session, code=unit)
        if actor is not None and not actor.sees(found.id):
            raise UnknownUnit(code=unit)
        return found

    found = in_transaction(unit_of)
    poster = Poster(unit, found.name, window, item, url, other)
    qr = segno.make_qr(poster.url, error="m")
    if kind == "svg":
        target.write_text(poster_svg(poster, qr), "utf-8")
    else:
        qr.save(str(target), kind="png", scale=10, border=4)
    typer.echo(f"{target}: {poster.url}")
    if other:
        typer.echo(f"  {other}")
    if kind == "png":
        typer.echo(f"print beside the code: {found.name} 窗口 {window}  {POSTER_CAPTION}")
