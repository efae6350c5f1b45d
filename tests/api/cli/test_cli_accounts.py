"""``minyi user …`` and ``minyi token create --role``: the real console script, audited.

Like tests/api/test_cli.py: each call is a subprocess on a SQLite file; the migrated
database (``empty``) and that database with its first account ``admin`` and the demo units
(``loaded``) are built once per module and copied for every test.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from pwdlib import PasswordHash

from scoring.demo import survey as demo
from tests.api.cli.test_cli import Minyi, copy_of

hasher = PasswordHash.recommended()


AS = ("--as", "admin")
AS_REQUIRED = "需要以一个账号执行：minyi --as 用户名 …（或设置环境变量 MINYI_USER）"
FIRST = "cli:first-account"


@pytest.fixture(scope="module")
def empty(tmp_path_factory: pytest.TempPathFactory) -> Minyi:
    """A migrated database without any account."""
    minyi = Minyi(tmp_path_factory.mktemp("empty"))
    result = minyi("db", "upgrade")
    assert result.returncode == 0, result.stderr
    return minyi


@pytest.fixture(scope="module")
def loaded(empty: Minyi, tmp_path_factory: pytest.TempPathFactory) -> Minyi:
    minyi = copy_of(empty, tmp_path_factory.mktemp("accounts"))
    for args in (
        ("user", "add", "admin", "--role", "admin"),
        (*AS, "units", "load", str(demo.UNITS_CSV)),
    ):
        result = minyi(*args)
        assert result.returncode == 0, result.stderr
    return minyi


@pytest.fixture
def minyi(loaded: Minyi, tmp_path: Path) -> Minyi:
    return copy_of(loaded, tmp_path)


def rows(minyi: Minyi, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(minyi.db)) as connection:
        return list(connection.execute(sql, params).fetchall())


def secret(output: str) -> str:
    return output.strip().splitlines()[-1]


class TestUserAdd:
    def test_prints_a_one_time_password_once_and_stores_only_its_hash(self, minyi: Minyi) -> None:
        result = minyi(
            *AS, "user", "add", "li", "--role", "staff", "--unit", "spj", "--unit", "kundulun"
        )

        assert result.returncode == 0, result.stderr
        assert "changed at the first sign-in" in result.stdout
        password = secret(result.stdout)
        ((stored, must_change),) = rows(
            minyi, "SELECT password_hash, must_change_password FROM staff_user WHERE username='li'"
        )
        assert password not in stored
        assert hasher.verify(password, stored)
        assert must_change == 1
        units = rows(
            minyi,
            "SELECT unit.code FROM staff_unit JOIN unit ON unit.id = staff_unit.unit_id "
            "ORDER BY unit.code",
        )
        assert units == [("kundulun",), ("spj",)]
        audited = (
            "SELECT actor, role, action, target, address FROM audit_event "
            "WHERE action LIKE 'user.%' ORDER BY id"
        )
        assert rows(minyi, audited) == [
            (FIRST, "admin", "user.create", "admin", "cli"),
            ("admin", "admin", "user.create", "li", "cli"),
        ]

    def test_staff_without_a_unit_is_refused_clearly(self, minyi: Minyi) -> None:
        result = minyi(*AS, "user", "add", "li", "--role", "staff")

        assert result.returncode == 2
        assert "--unit" in result.stderr
        assert rows(minyi, "SELECT count(*) FROM staff_user") == [(1,)]

    def test_a_taken_name_or_an_unknown_unit_is_refused(self, minyi: Minyi) -> None:
        first = minyi(*AS, "user", "add", "boss", "--role", "admin")
        again = minyi(*AS, "user", "add", "boss", "--role", "viewer")
        nowhere = minyi(*AS, "user", "add", "wu", "--role", "staff", "--unit", "nowhere")

        assert first.returncode == 0, first.stderr
        assert again.returncode == 2
        assert "boss" in again.stderr
        assert nowhere.returncode == 2
        assert "nowhere" in nowhere.stderr
        assert rows(minyi, "SELECT username FROM staff_user ORDER BY id") == [
            ("admin",),
            ("boss",),
        ]


class TestUserListResetDisable:
    def test_list_reset_disable_enable(self, minyi: Minyi) -> None:
        added = minyi(*AS, "user", "add", "li", "--role", "staff", "--unit", "spj")
        minyi(*AS, "user", "add", "boss", "--role", "admin")
        first = secret(added.stdout)

        reset = minyi(*AS, "user", "reset", "li")
        disabled = minyi(*AS, "user", "disable", "li")
        listing = minyi("user", "list")

        assert reset.returncode == 0, reset.stderr
        new = secret(reset.stdout)
        assert new != first
        ((stored,),) = rows(minyi, "SELECT password_hash FROM staff_user WHERE username='li'")
        assert hasher.verify(new, stored)
        assert not hasher.verify(first, stored)
        assert disabled.returncode == 0, disabled.stderr
        lines = listing.stdout.splitlines()
        assert lines[0].startswith("admin\tadmin\tunits=all\tactive")
        assert lines[1].startswith("boss\tadmin\tunits=all\tactive")
        assert lines[2].startswith("li\tstaff\tunits=spj\tdisabled")
        assert "bot not linked" in lines[2]
        assert "argon2" not in listing.stdout
        assert new not in listing.stdout

        enabled = minyi(*AS, "user", "enable", "li")
        unknown = minyi(*AS, "user", "reset", "nobody")

        assert enabled.returncode == 0, enabled.stderr
        assert rows(minyi, "SELECT active FROM staff_user WHERE username='li'") == [(1,)]
        assert unknown.returncode == 2
        assert "nobody" in unknown.stderr
        users = "SELECT action FROM audit_event WHERE action LIKE 'user.%' ORDER BY id"
        assert [a for (a,) in rows(minyi, users)] == [
            "user.create",
            "user.create",
            "user.create",
            "user.reset",
            "user.disable",
            "user.enable",
        ]


class TestTokenCreate:
    def test_roles_with_and_without_role(self, minyi: Minyi) -> None:
        viewer = minyi(*AS, "token", "create", "dash", "--role", "viewer", "--unit", "spj")
        legacy = minyi(*AS, "token", "create", "sys", "--unit", "spj")
        city = minyi(*AS, "token", "create", "city")
        no_unit = minyi(*AS, "token", "create", "bad", "--role", "staff")

        for result in (viewer, legacy, city):
            assert result.returncode == 0, result.stderr
            assert secret(result.stdout).startswith("my_")
        assert no_unit.returncode == 2
        assert "--unit" in no_unit.stderr
        stored = rows(
            minyi,
            "SELECT api_token.name, role, unit.code FROM api_token "
            "LEFT JOIN unit ON unit.id = api_token.unit_id ORDER BY api_token.id",
        )
        assert stored == [
            ("dash", "viewer", "spj"),
            ("sys", "staff", "spj"),
            ("city", "admin", None),
        ]
        listing = minyi("token", "list")
        assert listing.stdout.splitlines()[0].startswith("dash\tviewer\tunit=spj\tcreated ")
        assert secret(viewer.stdout) not in listing.stdout
        revoked = minyi(*AS, "token", "revoke", "dash")
        assert revoked.returncode == 0, revoked.stderr
        audited = (
            "SELECT actor, action, target, address FROM audit_event "
            "WHERE action LIKE 'token.%' ORDER BY id"
        )
        assert rows(minyi, audited) == [
            ("admin", "token.create", "dash", "cli"),
            ("admin", "token.create", "sys", "cli"),
            ("admin", "token.create", "city", "cli"),
            ("admin", "token.revoke", "dash", "cli"),
        ]


class TestActingAccount:
    def test_a_write_without_an_account_is_refused_and_stores_nothing(self, minyi: Minyi) -> None:
        audited = rows(minyi, "SELECT count(*) FROM audit_event")
        token = minyi("token", "create", "dash")
        user = minyi("user", "add", "boss", "--role", "admin")

        for result in (token, user):
            assert result.returncode == 2, result.stdout + result.stderr
            assert result.stderr.strip() == AS_REQUIRED
        assert rows(minyi, "SELECT count(*) FROM api_token") == [(0,)]
        assert rows(minyi, "SELECT username FROM staff_user") == [("admin",)]
        assert rows(minyi, "SELECT count(*) FROM audit_event") == audited

    def test_an_unknown_or_disabled_account_is_refused(self, minyi: Minyi) -> None:
        added = minyi(*AS, "user", "add", "boss", "--role", "admin")
        disabled = minyi(*AS, "user", "disable", "boss")
        assert (added.returncode, disabled.returncode) == (0, 0), added.stderr + disabled.stderr

        unknown = minyi("--as", "nobody", "token", "create", "dash")
        off = minyi("--as", "boss", "token", "create", "dash")

        assert unknown.returncode == 2
        assert unknown.stderr.strip() == "账号不存在或已停用：nobody"
        assert off.returncode == 2
        assert off.stderr.strip() == "账号不存在或已停用：boss"
        assert rows(minyi, "SELECT count(*) FROM api_token") == [(0,)]

    def test_an_account_acts_with_its_own_role(self, minyi: Minyi) -> None:
        minyi(*AS, "user", "add", "li", "--role", "staff", "--unit", "spj")

        result = minyi("--as", "li", "token", "create", "dash")

        assert result.returncode == 2
        assert "无权" in result.stderr
        assert rows(minyi, "SELECT count(*) FROM api_token") == [(0,)]


class TestFirstAccount:
    def test_only_an_administrator_and_only_on_an_empty_install(
        self, empty: Minyi, tmp_path: Path
    ) -> None:
        minyi = copy_of(empty, tmp_path)

        viewer = minyi("user", "add", "first", "--role", "viewer")
        first = minyi("user", "add", "first", "--role", "admin")
        second = minyi("user", "add", "second", "--role", "admin")

        assert viewer.returncode == 2
        assert "第一个账号必须是管理员" in viewer.stderr
        assert first.returncode == 0, first.stderr
        assert "One-time password" in first.stdout
        assert second.returncode == 2
        assert second.stderr.strip() == AS_REQUIRED
        assert rows(minyi, "SELECT username, role FROM staff_user") == [("first", "admin")]
        assert rows(minyi, "SELECT actor, action, target, address FROM audit_event") == [
            (FIRST, "user.create", "first", "cli")
        ]
