"""Unknown console pages and wrong methods: the console's Chinese error page, not the
framework's English ``{"detail": ...}``; the status and the ``Allow`` header are kept."""

from __future__ import annotations

from typing import Any

import pytest

from surveys.accounts.access import StaffRole
from surveys.core.db import SessionMaker
from surveys.core.i18n import Translator
from tests.api.console.conftest import Browser, add_user


@pytest.fixture
async def admin(browser_for: Any, sessionmaker: SessionMaker) -> Browser:
    await add_user(sessionmaker, "boss", StaffRole.admin, [])
    browser: Browser = await browser_for("boss")
    return browser


async def test_an_unknown_page_is_the_error_page(admin: Browser) -> None:
    response = await admin.get("/console/no-such-page")

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert Translator()("error.not_found") in response.text
    assert Translator()("console.error.title") in response.text
    assert "Not Found" not in response.text


async def test_an_unknown_page_without_a_session_is_the_error_page(anonymous: Browser) -> None:
    response = await anonymous.get("/console/no-such-page")

    assert response.status_code == 404
    assert Translator()("error.not_found") in response.text


async def test_a_wrong_method_keeps_405_and_allow(admin: Browser) -> None:
    response = await admin.post("/console/dashboard")

    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    assert response.headers["content-type"].startswith("text/html")
    assert Translator()("error.method_not_allowed") in response.text
    assert "Method Not Allowed" not in response.text
