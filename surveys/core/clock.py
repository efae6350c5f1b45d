"""Dates in the evaluation's time zone (Asia/Shanghai by default)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo


def today(tz: ZoneInfo) -> date:
    return datetime.now(tz).date()


def as_utc(moment: datetime) -> datetime:
    """A stored timestamp with its zone: SQLite hands them back naive, and they are UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
