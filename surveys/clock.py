"""Dates in the evaluation's time zone (Asia/Shanghai by default)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo


def today(tz: ZoneInfo) -> date:
    return datetime.now(tz).date()
