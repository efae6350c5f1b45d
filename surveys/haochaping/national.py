"""The national/provincial 好差评 exchange layout (domain.md §2, §6a): one map per field.

A city reports its ratings upward in this layout and takes files in it back
(:mod:`surveys.haochaping.imports` recognises it by its field names). Its codes differ from
minyi's on purpose and are mapped only here, both ways:

- ``satisfaction`` 1 = 非常不满意 … 5 = 非常满意 (:data:`ratings.INTERFACE_LEVELS`), the opposite
  of GB/T 39046 Table A.8, which the ``level_scale=gbt39046`` column of minyi's own file keeps;
- ``pf`` 1 PC端 … 7 短信, the GB/T 39046 channel list minyi already stores;
- ``userProp`` 1 个人 (minyi takes individuals' ratings only), ``isPublic`` 0/1,
  ``auditStatus`` 1 无需审核 / 2 已审核 / 3 未审核, ``assessNumber`` 1 or 2 (2 after 整改).

What the citizen wrote (reasons, free text) leaves minyi through :func:`mask_text` only.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.accounts.access import Actor, Perm
from surveys.accounts.models import Unit
from surveys.cases.models import CaseEvent, CaseState, FollowUpCase
from surveys.core import table_files
from surveys.core.clock import as_utc
from surveys.core.exceptions import InvalidFile
from surveys.core.i18n import N_, Translator
from surveys.core.masking import mask_text
from surveys.core.text import UTF8_BOM, decode_office_text
from surveys.haochaping import ratings
from surveys.haochaping.models import Rating, ServiceEvent
from surveys.questionnaire.definitions import Level

NationalFormat = Literal["json", "csv"]
NATIONAL_FORMATS: tuple[NationalFormat, ...] = ("json", "csv")

# The fields in file order: the interface's, then minyi's two additions (isDefault, evalId).
FIELDS = (
    "projectNo", "taskCode", "taskName", "deptCode", "deptName", "windowCode", "pf",
    "satisfaction", "assessNumber", "assessTime", "evalDetail", "writingEvaluation",
    "userProp", "isPublic", "auditStatus", "isDefault", "evalId",
)  # fmt: skip
REQUIRED = ("deptCode", "pf", "satisfaction", "assessTime")
# pf: the GB/T 39046 channel list; Rating.channel holds the same numbers.
PF_LABELS = {1: "PC端", 2: "移动服务端", 3: "二维码", 4: "政务大厅平板电脑",
             5: "政务大厅其他终端", 6: "电话", 7: "短信"}  # fmt: skip
USER_PROP_PERSON = 1  # 1 个人, 2 法人: minyi's ratings are individuals'
USER_PROPS = {1: "个人", 2: "法人"}
NOT_PUBLIC = 0  # minyi never asked the citizen whether the rating may be shown publicly
IS_PUBLIC = {0: "不公开", 1: "公开"}
AUDIT_NONE, AUDIT_DONE, AUDIT_PENDING = 1, 2, 3
AUDIT_STATUSES = {AUDIT_NONE: "无需审核", AUDIT_DONE: "已审核", AUDIT_PENDING: "未审核"}
ROUNDS = {1: "首次评价", 2: "整改后再次评价"}
FLAGS = {0: False, 1: True}
SATISFACTION_LEVELS = {n: level.value for n, level in ratings.INTERFACE_LEVELS.items()}
REASON_JOINER = "；"
# Reasons come back split on either semicolon or comma (the interface lists codes "510,517").
REASON_SEPARATOR = re.compile("[;；,，]")
EVAL_ID_PREFIX = "minyi-"
SHOWN_CHARS = 40

# Where minyi's own fields come from, for naming a problem by the file's field.
FIELD_OF = {
    "unit": "deptCode", "level": "satisfaction", "channel": "pf", "rated_at": "assessTime",
    "case_no": "projectNo", "item_code": "taskCode", "item_name": "taskName",
    "window": "windowCode", "reasons": "evalDetail", "comment": "writingEvaluation",
    "round": "assessNumber", "is_default": "isDefault", "source_id": "evalId",
}  # fmt: skip
_FOLDED = {name.casefold(): name for name in FIELDS}


@cache
def _translator() -> Translator:
    return Translator()


# Code maps ------------------------------------------------------------------------------


def satisfaction_of(level: Level) -> int:
    """The interface's ``satisfaction``: 1 = 非常不满意 … 5 = 非常满意."""
    return ratings.interface_number(level)


def level_of(satisfaction: int) -> Level:
    return ratings.level_from_interface(satisfaction)


def pf_of(channel: int) -> int:
    if channel not in PF_LABELS:
        raise ValueError(f"channel {channel} is not a GB/T 39046 pf code")
    return channel


# Export ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class NationalFile:
    name: str  # ASCII, safe in a Content-Disposition header
    media_type: str
    body: bytes
    rows: int


MEDIA_TYPES = {"json": "application/json; charset=utf-8", "csv": "text/csv; charset=utf-8"}


async def write_national(
    *,
    session: AsyncSession,
    actor: Actor,
    period: str,
    fmt: NationalFormat,
    tz: ZoneInfo,
) -> NationalFile:
    """The period's ratings of the actor's units in the exchange layout, oldest first.

    Every round is written (``assessNumber`` tells them apart, so the receiver sees the
    rating before and after 整改); a rating the citizen changed within the same round is
    written as changed (the replaced version is history of minyi's own); a rating left out
    by an upheld 申诉 (minyi's ``excluded``) is not written.
    """
    actor.require(Perm.export)
    records = [_record(row, tz) for row in await _rows(session, actor, period)]
    body = _json(records) if fmt == "json" else _csv(records)
    name = f"haochaping-{period}-national.{fmt}"
    return NationalFile(name, MEDIA_TYPES[fmt], body, len(records))


def _audit_status() -> Any:
    """3 while the 差评's 申诉 is undecided, 2 once a 申诉 was decided and the rating kept
    (申诉驳回), else 1: minyi counts ratings as given, its only 审核 is the 申诉."""
    rejected = (
        select(CaseEvent.id)
        .where(
            CaseEvent.case_id == FollowUpCase.id,
            CaseEvent.to_state == CaseState.appeal_rejected.value,
        )
        .exists()
    )
    return sa.case(
        (col(FollowUpCase.state) == CaseState.appealing.value, AUDIT_PENDING),
        (rejected, AUDIT_DONE),
        else_=AUDIT_NONE,
    )


_RATING: sa.Table = Rating.__table__  # type: ignore[attr-defined]
_EXPORTED = ("id", "item_code", "item_name", "window_code", "channel", "level", "reasons",
             "comment", "round", "is_default", "rated_at")  # fmt: skip


async def _rows(session: AsyncSession, actor: Actor, period: str) -> Sequence[Any]:
    rating = _RATING
    later = _RATING.alias("later")
    # Retired by a later round of the same 办件 (kept: the receiver's history); an inactive
    # rating without one was replaced by the citizen's own change of the same round.
    later_round = (
        sa.select(later.c.id)
        .where(
            later.c.service_event_id == rating.c.service_event_id,
            later.c.round > rating.c.round,
        )
        .exists()
    )
    statement = (
        sa.select(
            *(rating.c[name] for name in _EXPORTED),
            col(ServiceEvent.case_no).label("case_no"),
            col(Unit.code).label("unit_code"),
            col(Unit.name).label("unit_name"),
            _audit_status().label("audit_status"),
        )
        .join(Unit, col(Unit.id) == rating.c.unit_id)
        .outerjoin(ServiceEvent, col(ServiceEvent.id) == rating.c.service_event_id)
        .outerjoin(FollowUpCase, col(FollowUpCase.rating_id) == rating.c.id)
        .where(
            rating.c.period == period,
            rating.c.excluded.is_(False),
            sa.or_(rating.c.active.is_(True), later_round),
        )
        .order_by(rating.c.rated_at, rating.c.id)
    )
    units = actor.unit_filter()
    if units is not None:
        statement = statement.where(rating.c.unit_id.in_(units))
    connection = await session.connection()
    return (await connection.execute(statement)).all()


def _record(rating: Any, tz: ZoneInfo) -> dict[str, Any]:
    case_no, unit_code, unit_name = rating.case_no, rating.unit_code, rating.unit_name
    audit_status = rating.audit_status
    return {
        "projectNo": case_no,
        "taskCode": rating.item_code,
        "taskName": rating.item_name,
        "deptCode": unit_code,
        "deptName": unit_name,
        "windowCode": rating.window_code,
        "pf": pf_of(rating.channel),
        "satisfaction": satisfaction_of(Level(rating.level)),
        "assessNumber": rating.round,
        "assessTime": as_utc(rating.rated_at).astimezone(tz).isoformat(timespec="seconds"),
        "evalDetail": REASON_JOINER.join(mask_text(r) for r in rating.reasons) or None,
        "writingEvaluation": mask_text(rating.comment) if rating.comment else None,
        "userProp": USER_PROP_PERSON,
        "isPublic": NOT_PUBLIC,
        "auditStatus": int(audit_status),
        "isDefault": int(rating.is_default),
        "evalId": f"{EVAL_ID_PREFIX}{rating.id}",
    }


def _json(records: list[dict[str, Any]]) -> bytes:
    # One record a line: readable, and a diff of two exports shows the ratings that changed.
    lines = ",\n".join(json.dumps(r, ensure_ascii=False) for r in records)
    return f'{{"data": [\n{lines}\n]}}\n'.encode() if records else b'{"data": []}\n'


def _csv(records: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(FIELDS)
    for record in records:
        writer.writerow(["" if record[f] is None else record[f] for f in FIELDS])
    return UTF8_BOM + out.getvalue().encode("utf-8")


# Import ---------------------------------------------------------------------------------


def is_national(names: Sequence[str]) -> bool:
    """A header in the exchange layout: it names two of its fields (case aside)."""
    return len({canonical(n) for n in names} & set(FIELDS)) >= 2


def canonical(name: str) -> str:
    """The field's spelling in :data:`FIELDS` (``projectno`` → ``projectNo``), else ``name``."""
    return _FOLDED.get(name.casefold(), name)


def known_names() -> frozenset[str]:
    """The header names looked for (as written here, and in lower and upper case)."""
    return frozenset(f for name in FIELDS for f in (name, name.lower(), name.upper()))


def source_field(names: Sequence[str]) -> str:
    """The field a rating's key comes from: ``evalId`` if the file has it, else ``projectNo``
    (with ``assessNumber``: the interface's own key of a rating)."""
    return "evalId" if "evalId" in names else "projectNo"


def columns(names: Sequence[str]) -> dict[str, str]:
    """minyi's field → the file's field naming it, for problems (``level`` → ``satisfaction``)."""
    return {**FIELD_OF, "source_id": source_field(names)}


def rating_row(
    values: Mapping[str, table_files.Cell], tz: ZoneInfo | None, key_field: str
) -> tuple[dict[str, object], list[tuple[str, str]]]:
    """One record of the exchange layout as a row of minyi's ratings file, and the problems
    of its coded fields, each (field, Chinese sentence). Only the codes are checked here; the
    rest is validated as any rating is (:class:`ratings.RatingIn`). ``key_field`` is the
    file's :func:`source_field`."""
    row: dict[str, object] = {}
    problems: list[tuple[str, str]] = []
    for name, key in (("deptCode", "unit"), ("projectNo", "case_no"), ("taskCode", "item_code"),
                      ("taskName", "item_name"), ("windowCode", "window"),
                      ("writingEvaluation", "comment")):  # fmt: skip
        if name in values:
            row[key] = values[name]
    _coded(values, problems, row)
    if "evalDetail" in values:
        parts = REASON_SEPARATOR.split(str(values["evalDetail"]))
        row["reasons"] = [part.strip() for part in parts if part.strip()]
    if "assessTime" in values:
        row["rated_at"] = _time(values["assessTime"], tz)
    source_id = _source_id(values)
    if source_id is not None:
        row["source_id"] = source_id
    else:
        problems.append((key_field, _translator()(N_("national.no_key"))))
    return row, problems


def _coded(
    values: Mapping[str, table_files.Cell],
    problems: list[tuple[str, str]],
    row: dict[str, object],
) -> None:
    t = _translator()
    checks: tuple[tuple[str, Mapping[int, object], str], ...] = (
        ("satisfaction", SATISFACTION_LEVELS, N_("national.bad_satisfaction")),
        ("pf", {n: n for n in PF_LABELS}, N_("national.bad_pf")),
        ("assessNumber", {n: n for n in ROUNDS}, N_("national.bad_assess_number")),
        ("userProp", {USER_PROP_PERSON: None}, N_("national.bad_user_prop")),
        ("isPublic", dict.fromkeys(IS_PUBLIC), N_("national.bad_is_public")),
        ("auditStatus", dict.fromkeys(AUDIT_STATUSES), N_("national.bad_audit_status")),
        ("isDefault", FLAGS, N_("national.bad_is_default")),
    )  # fmt: skip
    targets = {"satisfaction": "level", "pf": "channel", "assessNumber": "round",
               "isDefault": "is_default"}  # fmt: skip
    for name, codes, key in checks:
        if name not in values:
            continue
        code = _code(values[name])
        if code is None or code not in codes:
            problems.append((name, t(key, value=_shown(values[name]))))
        elif name in targets:
            row[targets[name]] = codes[code]


def _code(value: object) -> int | None:
    text = str(value).strip()
    return int(text) if re.fullmatch(r"\d{1,2}", text) else None


def _time(value: table_files.Cell, tz: ZoneInfo | None) -> object:
    # The interface writes 北京时间 without an offset ("2026-08-03 10:15:00"): read in ``tz``.
    if isinstance(value, datetime):
        return value
    try:
        moment = datetime.fromisoformat(str(value).strip())
    except ValueError:
        return value  # validation names it, in the file's field
    if moment.tzinfo is None and tz is not None:
        moment = moment.replace(tzinfo=tz)
    return moment


def _source_id(values: Mapping[str, table_files.Cell]) -> str | None:
    if str(values.get("evalId", "")).strip():
        return str(values["evalId"]).strip()
    project = str(values.get("projectNo", "")).strip()
    if not project:
        return None
    number = str(values.get("assessNumber", "")).strip() or "1"
    return f"{project}#{number}"


def _shown(value: object) -> str:
    text = str(value)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "…"


# JSON files -----------------------------------------------------------------------------


def json_table(
    source: str, path: Path, limits: table_files.TableLimits
) -> table_files.TableRows[str]:
    """A JSON file (an array of records, or ``{"data": [...]}``) as a table: its header is
    every field the records name, in the order first seen; record N is row N + 1."""
    t, name = _translator(), table_files.file_name(source)
    table_files.check_file_size(source, path, limits, t)
    text = decode_office_text(path.read_bytes(), source)
    try:
        found = json.loads(text)
    except json.JSONDecodeError as exc:
        problem = t(N_("national.json.unreadable"), file=name, line=exc.lineno, column=exc.colno)
        raise InvalidFile(source, [problem]) from None
    records = found.get("data") if isinstance(found, dict) else found
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise InvalidFile(source, [t(N_("national.json.shape"), file=name)])
    if len(records) + 1 > limits.rows:
        problem = t(N_("import.limit.csv_rows"), file=name, limit=limits.rows)
        raise table_files.FileTooLarge(source, [problem])
    header = list(dict.fromkeys(key for record in records for key in record))
    rows = [header] + [[_cell(record.get(key)) for key in header] for record in records]
    return table_files.TableRows(iter(rows), lambda: 1.0, lambda: None)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, list):
        return REASON_JOINER.join(str(item) for item in value)
    return str(value).strip()


def records_of(body: bytes) -> Iterator[dict[str, Any]]:
    """The records of an exported JSON body (for tests and scripts)."""
    found = json.loads(body.decode("utf-8"))
    yield from found["data"] if isinstance(found, dict) else found
