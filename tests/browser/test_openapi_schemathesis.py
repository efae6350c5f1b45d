"""schemathesis against the served /openapi.json with an admin token: generated requests to
every operation get no 5xx, every status answered is a documented one and every response
matches the schema.

Two bounded runs on the same server:

- stateless: every operation on its own (examples, coverage and fuzzing phases);
- stateful: sequences that follow the OpenAPI links (a listed case's id into the case's
  read, reply and move; a listed unit into its cases, ratings, indicators; a survey's code
  into its results, publish and close), on a world with open 差评 cases pushed first.

It lives beside the browser tests because it uses the same real ``minyi serve`` process.
Each run's summary goes to test-output/schemathesis/.
"""

from __future__ import annotations

import asyncio
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.browser.conftest import MinyiWeb

pytestmark = pytest.mark.asyncio(loop_scope="module")
ST = Path(sys.executable).with_name("st")
OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "schemathesis"
CHECKS = (
    "not_a_server_error,status_code_conformance,response_schema_conformance,"
    "content_type_conformance"
)
SEED = "20261123"
BAD_RATINGS = 6  # each opens a 差评 case for the stateful run to follow


async def admin_token(minyi_web: MinyiWeb, name: str) -> str:
    out = await minyi_web.cli("--as", "admin", "token", "create", name)  # unbound: admin
    secret = re.search(r"my_[A-Za-z0-9_-]+", out)
    assert secret, out
    return secret.group(0)


async def schemathesis(minyi_web: MinyiWeb, token: str, name: str, *options: str) -> str:
    """Run ``st run`` with ``options``; its output (also saved as ``<name>.txt``)."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    process = await asyncio.create_subprocess_exec(
        str(ST), "run", f"{minyi_web.base_url}/openapi.json",
        "--header", f"Authorization: Bearer {token}",
        "--checks", CHECKS, "--seed", SEED, "--workers", "1", "--request-timeout", "30",
        "--report", "junit", "--report-dir", str(OUTPUT / name), *options,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    stdout, _ = await process.communicate()
    text = stdout.decode("utf-8", "replace")
    (OUTPUT / f"{name}.txt").write_text(text, "utf-8")
    assert process.returncode == 0, text[-6000:]
    return text


def figures(text: str) -> dict[str, int]:
    """Operations tested, test cases generated and passed, failures, from the summary."""
    found = {"operations": 0, "generated": 0, "passed": 0, "failures": 0}
    if tested := re.search(r"Tested:\s+(\d+)", text):
        found["operations"] = int(tested.group(1))
    if cases := re.search(r"(\d+) generated, (\d+) passed", text):
        found["generated"], found["passed"] = int(cases.group(1)), int(cases.group(2))
    if failed := re.search(r"(\d+) failed", text):
        found["failures"] = int(failed.group(1))
    return found


async def test_stateless_no_server_errors_and_responses_match_the_schema(
    minyi_web: MinyiWeb,
) -> None:
    token = await admin_token(minyi_web, "schemathesis")
    text = await schemathesis(
        minyi_web, token, "stateless", "--phases", "examples,coverage,fuzzing",
        "--max-examples", "25",
    )  # fmt: skip

    found = figures(text)
    assert found["operations"] >= 17, text[-3000:]
    assert found["generated"] == found["passed"] > 500, found
    assert found["failures"] == 0
    assert re.search(r"/api/v1/cases", text), text[-3000:]


async def seed_cases(minyi_web: MinyiWeb, token: str) -> int:
    """Open 差评 cases by pushing bad ratings of the first unit; their number."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=minyi_web.base_url, headers=headers) as client:
        unit = (await client.get("/api/v1/units", params={"limit": 1})).json()["data"][0]
        rated_at = datetime.now(UTC).isoformat(timespec="seconds")
        rows = [
            {"source_id": f"st-{n}", "unit": unit["code"], "level": "very_dissatisfied",
             "channel": 1, "rated_at": rated_at, "comment": f"＝1+{n}"}
            for n in range(BAD_RATINGS)
        ]  # fmt: skip
        pushed = (await client.post("/api/v1/ratings", json=rows)).json()
        assert pushed["errors"] == [], pushed
        cases = (await client.get("/api/v1/cases")).json()
    return int(cases["count"])


async def test_stateful_links_no_server_errors_and_responses_match_the_schema(
    minyi_web: MinyiWeb,
) -> None:
    token = await admin_token(minyi_web, "schemathesis-stateful")
    assert await seed_cases(minyi_web, token) >= BAD_RATINGS
    text = await schemathesis(
        minyi_web, token, "stateful", "--phases", "stateful", "--max-examples", "100",
        "--mode", "positive",  # valid requests, so each step's answer feeds the next
    )  # fmt: skip

    scenarios = re.search(r"Scenarios:\s+(\d+)", text)
    links = re.search(r"API Links:\s+(\d+) covered / (\d+) selected / (\d+) total", text)
    assert scenarios, text[-3000:]
    assert links, text[-3000:]
    assert int(scenarios.group(1)) > 0
    covered, total = int(links.group(1)), int(links.group(3))
    # The declared links are followed: case list → read/reply/move, unit → its lists, …
    assert covered >= 10, text[-3000:]
    assert total >= 20
    assert figures(text)["failures"] == 0
