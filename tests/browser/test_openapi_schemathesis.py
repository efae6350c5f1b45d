"""schemathesis against the served /openapi.json with an admin token: generated requests to
every operation get no 5xx, and every response matches the schema.

It lives beside the browser tests because it uses the same real ``minyi serve`` process.
"""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import pytest

from tests.browser.conftest import MinyiWeb

pytestmark = pytest.mark.asyncio(loop_scope="module")
ST = Path(sys.executable).with_name("st")
OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "schemathesis"


async def test_no_server_errors_and_responses_match_the_schema(minyi_web: MinyiWeb) -> None:
    # Unbound: an admin token.
    out = await minyi_web.cli("--as", "admin", "token", "create", "schemathesis")
    secret = re.search(r"my_[A-Za-z0-9_-]+", out)
    assert secret, out
    OUTPUT.mkdir(parents=True, exist_ok=True)
    process = await asyncio.create_subprocess_exec(
        str(ST),
        "run",
        f"{minyi_web.base_url}/openapi.json",
        "--header",
        f"Authorization: Bearer {secret.group(0)}",
        "--checks",
        "not_a_server_error,response_schema_conformance,content_type_conformance",
        "--max-examples",
        "25",
        "--seed",
        "20261123",
        "--workers",
        "1",
        "--report",
        "junit",
        "--report-dir",
        str(OUTPUT),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    stdout, _ = await process.communicate()
    text = stdout.decode("utf-8", "replace")
    (OUTPUT / "run.txt").write_text(text, "utf-8")
    assert process.returncode == 0, text[-6000:]
    # It really exercised the API: the summary names the operations it tested.
    assert re.search(r"/api/v1/cases", text), text[-3000:]
