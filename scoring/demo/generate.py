"""Demo data for a full 民意 ranking: 好差评 ratings, survey answers and monitoring scores.

:func:`load_demo_activity` fills the current and the previous half-year (domain.md §1) for
every active unit: 好差评 ratings with a level mix of the unit's own (some units clearly better
than others), a few 差评 with reasons and comments, some re-rated after 整改 (the first round
kept inactive), a couple whose unit's 申诉 will be upheld (:attr:`DemoActivity.appeals`: their
cases, :mod:`scoring.demo.cases`, exclude them) and a few 系统默认评价 that never count (§2,
§5); and completed responses of the demo survey answered along its skip logic. The
respondents are pseudonyms made with :func:`surveys.respondents.pseudonym` from a demo key: no
:class:`~surveys.models.Identity` row is written, so there is nobody behind them.

Everything is keyed, so a second call adds nothing: ratings by ``(file, demo-<unit>-<period>-<n>)``
and respondents by their pseudonym. The same seed gives the same data.

Monitoring scores (日常监测, 实地调研, 第三方评估) come from :func:`demo_monitoring_rows`, made in
memory from the period, the component and the seed. The files ``scoring/demo/data/demo_<component>_
<period>.csv`` hold them for 2026H1 and 2026H2 (a test keeps them equal to the generator);
:func:`demo_monitoring_files` returns those, or writes the same rows for other periods.
"""

from __future__ import annotations

import csv
import io
import random
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scoring.demo import survey as demo
from surveys.accounts.models import Unit, UnitKind
from surveys.accounts.units import parse_units_csv
from surveys.core.models import pk
from surveys.core.periods import half_year
from surveys.core.settings import DEFAULT_RATING_REASONS
from surveys.haochaping.models import Rating, RatingSource
from surveys.questionnaire import catalog
from surveys.questionnaire.definitions import (
    AREAS,
    Level,
    Question,
    QuestionType,
    SurveyDefinition,
)
from surveys.questionnaire.engine import AnswerValue, visible
from surveys.questionnaire.models import Respondent, Response, SurveyVersion
from surveys.questionnaire.respondents import pseudonym

DATA_DIR = Path(__file__).parent / "data"
TZ = ZoneInfo("Asia/Shanghai")
DEFAULT_SEED = 7

# Ratings come in as if imported from the 好差评 system's export; the prefix marks them demo.
DEMO_SOURCE = RatingSource.file
DEMO_PREFIX = "demo-"
# The key of the demo pseudonyms. It only needs to differ from real keys: nobody is behind them.
DEMO_KEY = b"minyi-demo-respondents"
DEMO_CHANNEL = "demo"

# File-name code -> component (domain.md §1) and the layout of its demo file.
MONITORING_COMPONENTS: Mapping[str, str] = {
    "daily": "日常监测",
    "field": "实地调研",
    "third": "第三方评估",
}
TOTAL_LAYOUT = frozenset({"field"})  # the others come per unit × area
AREA_HEADER = ("单位编码", "单位名称", *AREAS)
TOTAL_HEADER = ("单位编码", "单位名称", "总分")
PACKAGED_PERIODS = ("2026H1", "2026H2")

# Ratings and completed responses per unit and half-year, by kind.
RATINGS_PER_HALF: Mapping[UnitKind, tuple[int, int]] = {
    UnitKind.district: (150, 400),
    UnitKind.hightech: (120, 300),
    UnitKind.department: (60, 300),
}
RESPONSES_PER_HALF = (20, 90)

# GB/T 39046 channel codes (pf) and how often each is used; 7 is where defaults come from.
CHANNEL_WEIGHTS: Mapping[int, float] = {1: 15, 2: 30, 3: 10, 4: 25, 5: 10, 6: 5, 7: 5}
# 系统默认评价 (stored, never counted) arrive on channel 7, as in some provinces: this share
# of channel-7 ratings, about 2% of all.
DEFAULT_SHARE_ON_7 = 0.4
RERATED_SHARE = 0.25  # 差评 with contact agreed that are rated again after 整改
MAX_EXCLUDED = 2  # 差评 per unit and half-year whose 申诉 is upheld
# Marks a rating row whose 申诉 will be upheld; taken off before the row is stored.
APPEAL = "upheld_appeal"

ITEMS: Sequence[tuple[str, str]] = (
    ("150200-0001", "不动产登记"),
    ("150200-0002", "企业开办"),
    ("150200-0003", "个体工商户登记"),
    ("150200-0004", "社会保障卡申领"),
    ("150200-0005", "城乡居民养老保险参保登记"),
    ("150200-0006", "医保关系转移接续"),
    ("150200-0007", "户籍迁移"),
    ("150200-0008", "居住证办理"),
    ("150200-0009", "建设工程规划许可证核发"),
    ("150200-0010", "住房公积金提取"),
    ("150200-0011", "残疾人证办理"),
    ("150200-0012", "纳税申报"),
    ("150200-0013", "政府信息公开申请"),
    ("150200-0014", "体育场馆开放预约"),
)
ITEMS_PER_UNIT = (3, 6)
BAD_COMMENTS = (
    "等了很久才叫到号。",
    "材料要求前后说法不一致，跑了两次。",
    "网上提交后一直显示审核中。",
    "窗口人员解释不清楚。",
    "系统登录不上，只能到现场办理。",
)
SUGGESTIONS = (
    "希望进一步简化线上办理流程，减少重复提交材料。",
    "建议增加周末和午间延时服务。",
    "办事指南希望写得更通俗一些。",
    "希望大厅多安排帮办代办人员。",
    "蒙速办APP有时较卡，希望优化。",
)
RECEIVED_AFTER = 20  # minutes from a rating to its arrival in minyi (the 好差评 system's export)
CHUNK = 500  # IN (...) lists stay under the bound-parameter limits of SQLite and psycopg


@dataclass(frozen=True)
class DemoActivity:
    """What one call added (all zero when the data were there already)."""

    periods: tuple[str, str]  # previous, current
    units: int
    ratings: int
    respondents: int
    responses: int
    answers: int
    # Source ids of the ratings added whose 申诉 is to be upheld by their case.
    appeals: frozenset[str] = frozenset()


# --- Periods and unit profiles -------------------------------------------------------------


def demo_periods(today: date) -> tuple[str, str]:
    """The previous and the current half-year: ``(2026H1, 2026H2)`` on any day of 2026H2."""
    current, first_day, _ = half_year(today)
    previous, _, _ = half_year(first_day - timedelta(days=1))
    return previous, current


def _rng(seed: int, *parts: object) -> random.Random:
    # A string seed is hashed with SHA-512, so this does not depend on PYTHONHASHSEED.
    return random.Random(":".join(str(p) for p in (seed, *parts)))


def unit_quality(unit_code: str, seed: int = DEFAULT_SEED) -> float:
    """How well a unit serves in the demo, 0..1; the same for ratings, answers and scores."""
    return _rng(seed, "quality", unit_code).uniform(0.15, 1.0)


def _level_weights(quality: float) -> list[float]:
    """Weights of the five levels (非常满意 first) for a unit or respondent of this quality."""
    q = min(max(quality, 0.0), 1.0)
    bad = 0.01 + 0.12 * (1 - q)
    neutral = 0.04 + 0.22 * (1 - q)
    good = 1 - bad - neutral
    very = good * (0.3 + 0.5 * q)
    return [very, good - very, neutral, bad * 0.7, bad * 0.3]


LEVELS = list(Level)


def _level(rng: random.Random, quality: float) -> Level:
    return rng.choices(LEVELS, weights=_level_weights(quality))[0]


def _moment(rng: random.Random, first: date, last: date) -> datetime:
    """A time during office hours (Asia/Shanghai) on a day in [first, last], in UTC."""
    day = first + timedelta(days=rng.randrange((last - first).days + 1))
    seconds = rng.randrange(int(8.5 * 3600), 18 * 3600)
    local = datetime.combine(day, time(), tzinfo=TZ) + timedelta(seconds=seconds)
    return local.astimezone(UTC)


def _days(period: str, today: date) -> tuple[date, date]:
    """The days of a half-year that have passed (up to yesterday; today when it just began)."""
    first, last = _period_days(period)
    return first, max(first, min(last, today - timedelta(days=1)))


def _period_days(period: str) -> tuple[date, date]:
    year, half = int(period[:4]), period[-1]
    return (
        (date(year, 1, 1), date(year, 6, 30))
        if half == "1"
        else (
            date(year, 7, 1),
            date(year, 12, 31),
        )
    )


# --- Ratings -------------------------------------------------------------------------------


def _rating_rows(
    unit: Unit, period: str, days: tuple[date, date], seed: int
) -> list[dict[str, Any]]:
    """Every demo rating of one unit and half-year, in a fixed order for a fixed seed."""
    rng = _rng(seed, "ratings", unit.code, period)
    quality = min(1.0, max(0.0, unit_quality(unit.code, seed) + rng.gauss(0, 0.04)))
    low, high = RATINGS_PER_HALF[unit.kind]
    items = rng.sample(list(ITEMS), rng.randint(*ITEMS_PER_UNIT))
    channels, channel_weights = list(CHANNEL_WEIGHTS), list(CHANNEL_WEIGHTS.values())
    rows: list[dict[str, Any]] = []
    appealed = 0
    for n in range(1, rng.randint(low, high) + 1):
        item_code, item_name = rng.choice(items)
        row = _rating(unit, period, f"{n:04d}", pk(unit))
        row.update(
            item_code=item_code,
            item_name=item_name,
            channel=rng.choices(channels, weights=channel_weights)[0],
            rated_at=_moment(rng, *days),
        )
        if row["channel"] == 7 and rng.random() < DEFAULT_SHARE_ON_7:
            # 系统默认评价: given by the system when the citizen did not rate (§2).
            row.update(level=Level.very_satisfied.value, is_default=True)
            rows.append(row)
            continue
        level = _level(rng, quality)
        row["level"] = level.value
        if row["channel"] in (4, 5):
            row["window_code"] = f"W{rng.randint(1, 8):02d}"
        rows.append(row)
        if level in (Level.dissatisfied, Level.very_dissatisfied):
            appealed += _bad_rating(rng, row, rows, appealed, days)
    return rows


def _rating(unit: Unit, period: str, suffix: str, unit_id: int) -> dict[str, Any]:
    return {
        "source": DEMO_SOURCE.value,
        "source_id": f"{DEMO_PREFIX}{unit.code}-{period}-{suffix}",
        "service_event_id": None,
        "unit_id": unit_id,
        "item_code": None,
        "item_name": None,
        "window_code": None,
        "channel": 2,
        "respondent_id": None,
        "level": Level.very_satisfied.value,
        "reasons": [],
        "comment": None,
        "voice_file_id": None,
        "contact_ok": False,
        "round": 1,
        "is_default": False,
        "active": True,
        "excluded": False,
        "period": period,
    }


def _bad_rating(
    rng: random.Random,
    row: dict[str, Any],
    rows: list[dict[str, Any]],
    appealed: int,
    days: tuple[date, date],
) -> int:
    """Reasons, a comment, a re-rating or a 申诉 to be upheld for a 差评; 1 for the 申诉.

    The rating is not excluded here: only its case's 申诉成立 does that (scoring.demo.cases).
    """
    row["reasons"] = rng.sample(DEFAULT_RATING_REASONS[:-1], rng.randint(1, 2))
    row["contact_ok"] = rng.random() < 0.6
    if rng.random() < 0.4:
        row["comment"] = rng.choice(BAD_COMMENTS)
    if appealed < MAX_EXCLUDED and rng.random() < 0.15:
        row[APPEAL] = True
        return 1
    if row["contact_ok"] and rng.random() < RERATED_SHARE:
        # After 整改 the citizen rates again; the latest round counts (§2).
        row["active"] = False
        again = dict(row, source_id=f"{row['source_id']}-2", round=2, active=True, comment=None)
        again["level"] = rng.choice([Level.satisfied, Level.neutral, Level.dissatisfied]).value
        again["reasons"] = row["reasons"] if again["level"] == Level.dissatisfied else []
        later = row["rated_at"] + timedelta(days=rng.randint(3, 12))
        last_moment = datetime.combine(days[1], time(18), tzinfo=TZ).astimezone(UTC)
        again["rated_at"] = min(later, last_moment)
        rows.append(again)
    return 0


# --- Survey responses ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Response:
    pseudonym: str
    unit_id: int
    started_at: datetime
    answers: dict[str, AnswerValue]


def _responses(
    unit: Unit, period: str, days: tuple[date, date], definition: SurveyDefinition, seed: int
) -> list[_Response]:
    rng = _rng(seed, "responses", unit.code, period)
    quality = unit_quality(unit.code, seed)
    result = []
    for n in range(1, rng.randint(*RESPONSES_PER_HALF) + 1):
        mood = min(1.0, max(0.0, quality + rng.gauss(0, 0.15)))
        answers: dict[str, AnswerValue] = {}
        for question in definition.questions:
            if visible(question, answers):
                answers[question.key] = _answer_value(rng, question, mood)
        name = pseudonym(DEMO_KEY, DEMO_CHANNEL, f"{unit.code}-{period}-{n}")
        result.append(_Response(name, pk(unit), _moment(rng, *days), answers))
    return result


def _answer_value(rng: random.Random, question: Question, mood: float) -> AnswerValue:
    if question.type is QuestionType.satisfaction:
        return _level(rng, mood).value
    if question.type is QuestionType.scale:
        return round(min(10.0, max(0.0, rng.gauss(3 + 7 * mood, 1.5))))
    if question.type is QuestionType.text:
        if question.required or rng.random() < 0.12:
            return rng.choice(SUGGESTIONS)[: question.max_length]
        return None
    codes = question.codes()
    if question.type is QuestionType.single:
        return rng.choice(codes)
    if "none" in codes and rng.random() < 0.08:
        return ["none"]  # 近六个月未办理过: ticked alone
    pool = [c for c in codes if c != "none"]
    count = rng.randint(question.min_choices, min(question.max_choices, len(pool), 3))
    return sorted(rng.sample(pool, count), key=codes.index)


def _answer_rows(
    response_id: int, response: _Response, definition: SurveyDefinition
) -> Iterator[dict[str, Any]]:
    """Answer rows as the conversation stores them (surveys.conversation._answer_row)."""
    at = response.started_at
    for key, value in response.answers.items():
        at += timedelta(seconds=7 + len(key))
        row: dict[str, Any] = {
            "response_id": response_id,
            "question_key": key,
            "choice": None,
            "choices": None,
            "number": None,
            "text": None,
            "skipped": value is None,
            "answered_at": at,
        }
        question = definition.question(key)
        if isinstance(value, list):
            row["choices"] = value
        elif isinstance(value, int):
            row["number"] = value
        elif isinstance(value, str) and question.type is QuestionType.text:
            row["text"] = value
        elif isinstance(value, str):
            row["choice"] = value
            if question.type is QuestionType.satisfaction:
                row["number"] = Level(value).score
        yield row


# --- Loading -------------------------------------------------------------------------------


def _table(name: str) -> sa.Table:
    return SQLModel.metadata.tables[name]


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


async def _insert(session: AsyncSession, table: str, rows: list[dict[str, Any]]) -> None:
    # One executemany per table: SQLAlchemy batches it into multi-row INSERTs.
    if rows:
        await session.exec(sa.insert(_table(table)), params=rows)


async def load_demo_activity(
    *, session: AsyncSession, today: date, seed: int = DEFAULT_SEED
) -> DemoActivity:
    """Ratings and survey answers for every active unit in the current and previous half-year.

    Loads the demo survey of each half-year first (unchanged surveys stay as they are). Adds
    only what is missing; the caller commits.
    """
    units = list(
        (
            await session.exec(
                select(Unit).where(col(Unit.active).is_(True)).order_by(col(Unit.id))
            )
        ).all()
    )
    periods = demo_periods(today)
    ratings = respondents = responses = answers = 0
    appeals: set[str] = set()
    for period in periods:
        first_day, _ = _period_days(period)
        definition = demo.demo_survey(first_day)
        version = (
            await catalog.load_survey(session=session, definition=definition, source="demo survey")
        ).version
        days = _days(period, today)
        added_ratings, upheld = await _load_ratings(session, units, period, days, seed)
        ratings += added_ratings
        appeals |= upheld
        added = await _load_responses(session, units, period, days, definition, version, seed)
        respondents += added[0]
        responses += added[0]
        answers += added[1]
    await session.flush()
    return DemoActivity(
        periods, len(units), ratings, respondents, responses, answers, frozenset(appeals)
    )


async def _load_ratings(
    session: AsyncSession, units: list[Unit], period: str, days: tuple[date, date], seed: int
) -> tuple[int, set[str]]:
    """(ratings added, source ids of those whose 申诉 is to be upheld)."""
    known = set(
        (
            await session.exec(
                select(Rating.source_id).where(
                    Rating.source == DEMO_SOURCE,
                    Rating.period == period,
                    col(Rating.source_id).startswith(DEMO_PREFIX),
                )
            )
        ).all()
    )
    rows = [
        row
        for unit in units
        for row in _rating_rows(unit, period, days, seed)
        if row["source_id"] not in known
    ]
    appeals = {row["source_id"] for row in rows if row.pop(APPEAL, False)}
    for row in rows:
        row["received_at"] = row["rated_at"] + timedelta(minutes=RECEIVED_AFTER)
    await _insert(session, "rating", rows)
    return len(rows), appeals


async def _load_responses(
    session: AsyncSession,
    units: list[Unit],
    period: str,
    days: tuple[date, date],
    definition: SurveyDefinition,
    version: SurveyVersion,
    seed: int,
) -> tuple[int, int]:
    """(responses, answers) added; every new respondent has exactly one response here."""
    wanted = [r for unit in units for r in _responses(unit, period, days, definition, seed)]
    names = [r.pseudonym for r in wanted]
    known: set[str] = set()
    for chunk in _chunks(names):
        statement = select(Respondent.pseudonym).where(col(Respondent.pseudonym).in_(chunk))
        known.update((await session.exec(statement)).all())
    new = [r for r in wanted if r.pseudonym not in known]
    await _insert(
        session,
        "respondent",
        [{"pseudonym": r.pseudonym, "created_at": r.started_at} for r in new],
    )
    ids = await _respondent_ids(session, [r.pseudonym for r in new])
    await _insert(session, "response", [_response_row(r, ids[r.pseudonym], version) for r in new])
    response_ids = await _response_ids(session, version, list(ids.values()))
    rows = [
        row for r in new for row in _answer_rows(response_ids[ids[r.pseudonym]], r, definition)
    ]
    await _insert(session, "answer", rows)
    return len(new), len(rows)


async def _respondent_ids(session: AsyncSession, names: Sequence[str]) -> dict[str, int]:
    ids: dict[str, int] = {}
    for chunk in _chunks(names):
        statement = select(Respondent.pseudonym, Respondent.id).where(
            col(Respondent.pseudonym).in_(chunk)
        )
        ids.update(
            (name, int(row_id or 0)) for name, row_id in (await session.exec(statement)).all()
        )
    return ids


async def _response_ids(
    session: AsyncSession, version: SurveyVersion, respondent_ids: Sequence[int]
) -> dict[int, int]:
    """Response ids by respondent, for this survey and half-year."""
    ids: dict[int, int] = {}
    for chunk in _chunks(respondent_ids):
        statement = select(Response.respondent_id, Response.id).where(
            Response.survey_id == version.survey_id,
            Response.period == version.period,
            col(Response.respondent_id).in_(chunk),
        )
        ids.update(
            (who, int(row_id or 0)) for who, row_id in (await session.exec(statement)).all()
        )
    return ids


def _response_row(
    response: _Response, respondent_id: int, version: SurveyVersion
) -> dict[str, Any]:
    duration = timedelta(seconds=sum(7 + len(key) for key in response.answers) + 5)
    return {
        "respondent_id": respondent_id,
        "survey_id": version.survey_id,
        "survey_version_id": pk(version),
        "period": version.period,
        "unit_id": response.unit_id,
        "status": "completed",
        "draft": [],
        "started_at": response.started_at,
        "completed_at": response.started_at + duration,
    }


# --- Monitoring scores ---------------------------------------------------------------------


def demo_units() -> list[Unit]:
    """The 35 demo units of surveys/data/units.csv (not stored)."""
    return parse_units_csv(demo.UNITS_CSV.read_text("utf-8"), source=str(demo.UNITS_CSV))


def monitoring_header(component: str) -> tuple[str, ...]:
    """The header of a component's demo file: per area, or 总分 (实地调研)."""
    _check_component(component)
    return TOTAL_HEADER if component in TOTAL_LAYOUT else AREA_HEADER


def demo_monitoring_rows(
    period: str,
    component: str,
    *,
    seed: int = DEFAULT_SEED,
    units: Sequence[Unit] | None = None,
) -> list[dict[str, str]]:
    """One row per unit (the demo units unless given), keyed by :func:`monitoring_header`.

    Scores follow the unit's demo quality (better units score higher in every component) with
    some noise per period, component and area; every area stays within its points.
    """
    header = monitoring_header(component)
    rows = []
    for unit in demo_units() if units is None else units:
        rng = _rng(seed, "monitoring", component, period, unit.code)
        base = 0.62 + 0.33 * unit_quality(unit.code, seed)
        row = {"单位编码": unit.code, "单位名称": unit.name}
        if header is TOTAL_HEADER:
            row["总分"] = _score(100 * min(1.0, base + rng.gauss(0, 0.03)))
        else:
            for area, points in AREAS.items():
                share = min(1.0, max(0.3, base + rng.gauss(0, 0.05)))
                row[area] = _score(points * share)
        rows.append(row)
    return rows


def _score(value: float) -> str:
    return f"{round(value, 1):.1f}"


def _check_component(component: str) -> None:
    if component not in MONITORING_COMPONENTS:
        known = ", ".join(MONITORING_COMPONENTS)
        raise ValueError(f"unknown monitoring component {component!r}; use one of {known}")


def demo_monitoring_csv(period: str, component: str, *, seed: int = DEFAULT_SEED) -> str:
    """The text of a demo monitoring file (UTF-8, header first)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=monitoring_header(component), lineterminator="\n")
    writer.writeheader()
    writer.writerows(demo_monitoring_rows(period, component, seed=seed))
    return buffer.getvalue()


def monitoring_file_name(period: str, component: str) -> str:
    _check_component(component)
    return f"demo_{component}_{period}.csv"


def demo_monitoring_files(
    today: date, *, out_dir: Path | None = None
) -> list[tuple[Path, str, str]]:
    """(file, period, component in Chinese) for the half-years of :func:`demo_periods`.

    The files packaged in scoring/data (2026H1 and 2026H2, default seed) are returned as they
    are; for other periods the same generator writes them into ``out_dir`` (a folder under the
    system's temporary directory by default). Import them in the order given.
    """
    result = []
    for period in demo_periods(today):
        for code, component in MONITORING_COMPONENTS.items():
            name = monitoring_file_name(period, code)
            path = DATA_DIR / name
            if not path.exists():
                folder = out_dir or Path(tempfile.gettempdir()) / "minyi-demo-monitoring"
                folder.mkdir(parents=True, exist_ok=True)
                path = folder / name
                path.write_text(demo_monitoring_csv(period, code), "utf-8")
            result.append((path, period, component))
    return result


def write_packaged_monitoring_files(directory: Path = DATA_DIR) -> list[Path]:
    """Rewrite scoring/demo/data/demo_*.csv from the generator (2026H1 and 2026H2)."""
    paths = []
    for period in PACKAGED_PERIODS:
        for code in MONITORING_COMPONENTS:
            path = directory / monitoring_file_name(period, code)
            path.write_text(demo_monitoring_csv(period, code), "utf-8")
            paths.append(path)
    return paths
