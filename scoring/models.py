"""Score tables: the component files the office imports (日常监测, 实地调研, 第三方评估).

An import is never changed once stored: importing the same period and component again
marks the current one superseded and adds a new one, so history keeps every version.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from surveys.core.models import utcnow


class Component(StrEnum):
    """The four parts of the half-year score (domain.md §1)."""

    monitoring = "日常监测"
    field = "实地调研"
    opinion = "民意调查"
    third_party = "第三方评估"


IMPORTED_COMPONENTS = (Component.monitoring, Component.field, Component.third_party)


class ImportLayout(StrEnum):
    area = "area"  # one column per area, each 0..the area's points
    total = "total"  # one column 总分, 0..100


class MonitoringImport(SQLModel, table=True):
    __tablename__ = "monitoring_import"

    id: int | None = Field(default=None, primary_key=True)
    period: str = Field(max_length=8, index=True)
    component: Component = Field(sa_type=sa.String(8))
    layout: ImportLayout = Field(sa_type=sa.String(8))
    file_name: str = Field(max_length=255)
    sha256: str = Field(max_length=64)
    rows: int
    imported_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    imported_by: str = Field(max_length=64)
    superseded_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class MonitoringScore(SQLModel, table=True):
    """One cell of an import: a unit's score in one area, or its total (area NULL)."""

    __tablename__ = "monitoring_score"
    __table_args__ = (sa.UniqueConstraint("import_id", "unit_id", "area"),)

    id: int | None = Field(default=None, primary_key=True)
    import_id: int = Field(foreign_key="monitoring_import.id", index=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    area: str | None = Field(default=None, max_length=8)
    score: float


class OutsideImport(SQLModel, table=True):
    """One file of outside 民意 results (a poll by a 民意调查机构, a 蒙速办 figure...).

    Per period and source name: importing again supersedes the current one (history kept).
    """

    __tablename__ = "outside_import"

    id: int | None = Field(default=None, primary_key=True)
    period: str = Field(max_length=8, index=True)
    source_name: str = Field(max_length=100)  # 来源: e.g. 蒙速办, XX民意调查中心
    method_note: str = Field(sa_type=sa.Text)  # 方法说明: how the figure was obtained
    file_name: str = Field(max_length=255)
    sha256: str = Field(max_length=64)
    rows: int
    imported_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    imported_by: str = Field(max_length=64)
    superseded_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class OutsideScore(SQLModel, table=True):
    """One unit's outside result in an import: a score 0..100 and the people behind it."""

    __tablename__ = "outside_score"
    __table_args__ = (sa.UniqueConstraint("import_id", "unit_id"),)

    id: int | None = Field(default=None, primary_key=True)
    import_id: int = Field(foreign_key="outside_import.id", index=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    score: float
    n: int  # respondents (people) behind the score
