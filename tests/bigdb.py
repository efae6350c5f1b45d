"""A generated city-scale database for comparison tests (a pytest plugin of tests/conftest.py).

``big_db_file`` is a SQLite file with 200,000 好差评 ratings, about 40,000 survey answers and
4,000 差评 cases in every state, over 60 units and both halves of 2026: the generator of
``benchmarks/bench_scoring.py`` (units, surveys and monitoring through the ``minyi`` CLI, then
the rows). It is built once and kept under ``var/bench/`` like the benchmark's own files, then
copied for the session and migrated to head, so a cached file made before a new migration
still has every index. ``big_session`` is a read transaction on that copy.
"""

from __future__ import annotations

import fcntl
import importlib.util
import sqlite3
import sys
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType

import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys.core import migrate
from surveys.core.db import create_engine, create_sessionmaker, read_only

REPO = Path(__file__).resolve().parent.parent
BIG_RATINGS = 200_000
BIG_ANSWERS = 40_000


def _generator() -> ModuleType:
    """``benchmarks/bench_scoring.py`` as a module (the benchmarks are scripts, not a package)."""
    name = "minyi_bench_scoring"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / "bench_scoring.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _cached() -> Path:
    """The generated file, built under a lock so parallel test runs build it once."""
    generator = _generator()
    path: Path = generator.cache_path(BIG_RATINGS, BIG_ANSWERS, generator.SEED)
    path.parent.mkdir(parents=True, exist_ok=True)
    with (path.parent / "big-db.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            generator.build(path, BIG_RATINGS, BIG_ANSWERS, generator.SEED)
    return path


@pytest.fixture(scope="session")
def big_db_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session copy of the 200,000-rating database, migrated to head."""
    copy = tmp_path_factory.mktemp("big-db") / "big.sqlite"
    source = sqlite3.connect(_cached())
    target = sqlite3.connect(copy)
    try:
        source.backup(target)  # consistent even when the cached file is in WAL mode
    finally:
        target.close()
        source.close()
    # Alembic runs its own event loop: keep it off any loop pytest-asyncio may be running.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(migrate.upgrade, f"sqlite+aiosqlite:///{copy}").result()
    return copy


@pytest.fixture
async def big_session(big_db_file: Path) -> AsyncIterator[AsyncSession]:
    """A read transaction on the big database (nothing can be stored through it)."""
    engine = create_engine(f"sqlite+aiosqlite:///{big_db_file}")
    try:
        async with read_only(create_sessionmaker(engine)) as session:
            yield session
    finally:
        await engine.dispose()
