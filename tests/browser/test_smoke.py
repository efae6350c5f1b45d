"""Smoke test of the browser stack: Chromium, the served ECharts bundle, and a font for Chinese."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from playwright.async_api import Browser, Page
from playwright.async_api import Error as PlaywrightError

from tests.browser.conftest import LOCALE, VIEWPORT, Shot

pytestmark = pytest.mark.asyncio(loop_scope="module")

ECHARTS = "/static/vendor/echarts.min.js"
LABELS = ["满意", "基本满意", "不满意", "说不清"]
TITLE = "民意调查满意度"

CHART_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{title}</title>
<style>body {{ margin: 16px; font-family: sans-serif; }}</style></head>
<body>
<h1 id="title">{title}</h1>
<div id="chart" style="width: 800px; height: 480px"></div>
<script src="{base_url}{echarts}"></script>
<script>
  const chart = echarts.init(document.getElementById("chart"), null, {{ renderer: "canvas" }});
  chart.setOption({{
    animation: false,
    title: {{ text: "各单位满意度" }},
    xAxis: {{ type: "category", data: {labels} }},
    yAxis: {{ type: "value", name: "人数" }},
    series: [{{ type: "bar", data: [120, 80, 30, 10], label: {{ show: true }} }}],
  }});
  window.chartReady = true;
</script>
</body></html>
"""

# Ink of the chart's canvas: how many pixels are not transparent, and how many colours.
CANVAS_INK = """() => {
  const canvas = document.querySelector("#chart canvas");
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let ink = 0;
  const colours = new Set();
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] > 0) {
      ink++;
      colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
    }
  }
  return { ink, total: data.length / 4, colours: colours.size };
}"""

# Each character drawn alone, as ECharts draws text (canvas, sans-serif): its bitmap and ink.
# Without a font for Chinese every character is the same empty box (or nothing at all).
GLYPHS = """(chars) => {
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = 64;
  const ctx = canvas.getContext("2d");
  return chars.map((ch) => {
    ctx.clearRect(0, 0, 64, 64);
    ctx.font = "48px sans-serif";
    ctx.textBaseline = "top";
    ctx.fillText(ch, 8, 8);
    const data = ctx.getImageData(0, 0, 64, 64).data;
    let bitmap = "";
    let ink = 0;
    for (let i = 3; i < data.length; i += 4) {
      const on = data[i] > 127;
      ink += on ? 1 : 0;
      bitmap += on ? "1" : "0";
    }
    return { ch, ink, bitmap };
  });
}"""


def _cjk_families() -> set[str]:
    """Every family name (in every language) fontconfig has for Chinese."""
    try:
        out = subprocess.run(
            ["fc-list", ":lang=zh", "family"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return set()
    return {name.strip() for line in out.splitlines() for name in line.split(",") if name}


async def _platform_fonts(page: Page, selector: str) -> list[dict[str, Any]]:
    """The fonts Chromium actually used to draw the text of ``selector`` (DevTools protocol)."""
    cdp = await page.context.new_cdp_session(page)
    try:
        await cdp.send("DOM.enable")
        await cdp.send("CSS.enable")
        root = await cdp.send("DOM.getDocument")
        node = await cdp.send(
            "DOM.querySelector", {"nodeId": root["root"]["nodeId"], "selector": selector}
        )
        fonts = await cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node["nodeId"]})
        return list(fonts["fonts"])
    finally:
        await cdp.detach()


async def test_echarts_chart_with_chinese_labels(
    browser: Browser, base_url: str, shot: Shot
) -> None:
    # A page of the test's own with an inline script: the site's CSP (script-src 'self', no
    # eval) rightly refuses it, so this context bypasses CSP; the console's own pages are
    # drawn under the CSP in test_console.py.
    context = await browser.new_context(
        locale=LOCALE, viewport=VIEWPORT, base_url=base_url, bypass_csp=True
    )
    try:
        await _draw_chart(await context.new_page(), base_url, shot)
    finally:
        await context.close()


async def _draw_chart(page: Page, base_url: str, shot: Shot) -> None:
    errors: list[PlaywrightError] = []
    page.on("pageerror", lambda error: errors.append(error))

    health = await page.goto("/healthz")
    assert health is not None
    assert health.status == 200

    html = CHART_PAGE.format(
        title=TITLE, base_url=base_url, echarts=ECHARTS, labels=json.dumps(LABELS)
    )
    async with page.expect_response(lambda r: r.url.endswith(ECHARTS)) as script:
        await page.set_content(html)
    response = await script.value
    assert response.status == 200, f"{ECHARTS}: HTTP {response.status}"
    assert "javascript" in (await response.header_value("content-type") or "")
    await page.wait_for_function("window.chartReady === true")
    assert await page.evaluate("echarts.version") >= "5"

    ink = await page.evaluate(CANVAS_INK)
    path = await shot(page, "smoke-echarts-bar-chart")
    assert ink["ink"] > 0.02 * ink["total"], f"the chart's canvas is (nearly) blank: {ink}"
    assert ink["colours"] > 3, f"the chart's canvas has too few colours: {ink}"

    glyphs = await page.evaluate(GLYPHS, list("民意满查"))
    assert all(g["ink"] > 50 for g in glyphs), [(g["ch"], g["ink"]) for g in glyphs]
    distinct = len({g["bitmap"] for g in glyphs})
    assert distinct == len(glyphs), (
        f"Chinese characters all look alike (empty boxes): no font for Chinese; "
        f"run scripts/fonts.sh (see {path})"
    )

    used = await _platform_fonts(page, "#title")
    cjk = _cjk_families()
    assert any(font["familyName"] in cjk and font["glyphCount"] > 0 for font in used), (
        f"{TITLE!r} was drawn with {used}, none of them a font for Chinese ({sorted(cjk)})"
    )
    assert errors == []
