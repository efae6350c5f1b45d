"""``minyi import monitoring`` and ``minyi survey load`` refuse a file over the readers'
limits by its size on disk, before reading it: a 300 MB (sparse) file is refused with the
readers' Chinese sentence, exit status 2, nothing stored, and never enters memory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.api.cli.test_cli import CLI_TIMEOUT, MINYI, Minyi

AS = ("--as", "admin")
BIG = 300 * 1024 * 1024
MB = 1024 * 1024
# A minyi command that read the file would hold all of it; one that did not, far less.
MAX_RSS = 200 * MB


@pytest.fixture(scope="module")
def minyi(tmp_path_factory: pytest.TempPathFactory) -> Minyi:
    """One migrated folder with the demo units and the administrator."""
    minyi = Minyi(tmp_path_factory.mktemp("file-size"))
    for args in (("db", "upgrade"), ("demo", "load"), ("user", "add", "admin", "--role", "admin")):
        done = minyi(*args)
        assert done.returncode == 0, done.stderr
    return minyi


def sparse(path: Path, size: int = BIG) -> Path:
    """A file of ``size`` bytes that takes no room on disk (all zeros, never written)."""
    with path.open("wb") as f:
        f.truncate(size)
    return path


# Linux counts in a child's peak memory that of the process it was forked from: the
# command is forked from this small launcher, not from the test process, to be measured.
LAUNCHER = """
import os, sys
out, command = sys.argv[1], sys.argv[2:]
pid = os.fork()
if pid == 0:
    os.execv(command[0], command)
_, status, usage = os.wait4(pid, 0)
with open(out, "w") as f:
    f.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run(minyi: Minyi, *args: str) -> tuple[int, str, int]:
    """Exit status, stderr and the peak resident memory (bytes) of ``minyi args``."""
    out = minyi.cwd / "maxrss.txt"
    done = subprocess.run(
        [sys.executable, "-c", LAUNCHER, str(out), str(MINYI), *AS, *args],
        cwd=minyi.cwd,
        env=minyi.env(),
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    return done.returncode, done.stderr, int(out.read_text()) * 1024  # kilobytes on Linux


def stored(minyi: Minyi) -> tuple[int, ...]:
    tables = ("monitoring_import", "monitoring_score", "survey_version")
    return tuple(minyi.count(table) for table in tables)


def test_import_monitoring_refuses_a_300_mb_file_unread(minyi: Minyi, tmp_path: Path) -> None:
    path = sparse(tmp_path / "monitoring.csv")
    before = stored(minyi)

    status, stderr, rss = run(
        minyi, "import", "monitoring", str(path), "--period", "2026H1", "--component", "日常监测"
    )

    assert status == 2, stderr
    assert f"文件 {path} 有 1 处错误，未保存任何内容。" in stderr
    assert "monitoring.csv 有 300 MB，超过导入上限 5 MB。请拆分后分别导入。" in stderr
    assert "Traceback" not in stderr
    assert stored(minyi) == before
    assert rss < MAX_RSS, f"peak memory {rss // MB} MB: the file was read"


def test_survey_load_refuses_a_300_mb_file_unread(minyi: Minyi, tmp_path: Path) -> None:
    path = sparse(tmp_path / "survey.yaml")
    before = stored(minyi)

    status, stderr, rss = run(minyi, "survey", "load", str(path))

    assert status == 2, stderr
    assert f"{path}: 1 problem(s)" in stderr
    assert "调查文件有 307200 KB，超过上限 256 KB，未解析。" in stderr
    assert "Traceback" not in stderr
    assert stored(minyi) == before
    assert rss < MAX_RSS, f"peak memory {rss // MB} MB: the file was read"


def test_a_survey_file_at_the_limit_with_a_bom_is_still_read(minyi: Minyi, tmp_path: Path) -> None:
    """The check on disk refuses only what the reader would refuse too."""
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + b"#" * (256 * 1024 - 1) + b"\n")

    status, stderr, _ = run(minyi, "survey", "load", str(path))

    assert status == 2
    assert "超过上限" not in stderr  # refused as no survey, not for its size
