"""Dates in the evaluation's time zone (Asia/Shanghai by default)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo


def today(tz: ZoneInfo) -> date:
    return datetime.now(tz).date()


def as_utc(moment: datetime) -> datetime:
    """A stored timestamp with its zone: SQLite hands them back naive, and they are UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def local_minutes(moment: datetime | None, tz: ZoneInfo) -> str:
    """A stored instant as people read it in ``tz`` (``2026-11-29 15:04``); "" for none."""
    return as_utc(moment).astimezone(tz).strftime("%Y-%m-%d %H:%M") if moment else ""
