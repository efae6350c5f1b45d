"""``minyi user …`` and ``minyi token create --role``: the real console script, audited.

Like tests/api/test_cli.py: each call is a subprocess on a SQLite file; the migrated
database with the demo units is built once per module and copied for every test.
"""

from __future__ import annotations

import getpass
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from pwdlib import PasswordHash

from scoring.demo import survey as demo
from tests.api.cli.test_cli import Minyi, copy_of

hasher = PasswordHash.recommended()


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Minyi:
    minyi = Minyi(tmp_path_factory.mktemp("accounts"))
    for args in (("db", "upgrade"), ("units", "load", str(demo.UNITS_CSV))):
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


def cli_name() -> str:
    return f"cli:{getpass.getuser()}"


class TestUserAdd:
    def test_prints_a_one_time_password_once_and_stores_only_its_hash(self, minyi: Minyi) -> None:
        result = minyi(
            "user", "add", "li", "--role", "staff", "--unit", "spj", "--unit", "kundulun"
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
        assert rows(minyi, "SELECT actor, role, action, target FROM audit_event") == [
            (cli_name(), "admin", "user.create", "li")
        ]

    def test_staff_without_a_unit_is_refused_clearly(self, minyi: Minyi) -> None:
        result = minyi("user", "add", "li", "--role", "staff")

        assert result.returncode == 2
        assert "--unit" in result.stderr
        assert rows(minyi, "SELECT count(*) FROM staff_user") == [(0,)]

    def test_a_taken_name_or_an_unknown_unit_is_refused(self, minyi: Minyi) -> None:
        first = minyi("user", "add", "boss", "--role", "admin")
        again = minyi("user", "add", "boss", "--role", "viewer")
        nowhere = minyi("user", "add", "wu", "--role", "staff", "--unit", "nowhere")

        assert first.returncode == 0, first.stderr
        assert again.returncode == 2
        assert "boss" in again.stderr
        assert nowhere.returncode == 2
        assert "nowhere" in nowhere.stderr
        assert rows(minyi, "SELECT username FROM staff_user") == [("boss",)]


class TestUserListResetDisable:
    def test_list_reset_disable_enable(self, minyi: Minyi) -> None:
        added = minyi("user", "add", "li", "--role", "staff", "--unit", "spj")
        minyi("user", "add", "boss", "--role", "admin")
        first = secret(added.stdout)

        reset = minyi("user", "reset", "li")
        disabled = minyi("user", "disable", "li")
        listing = minyi("user", "list")

        assert reset.returncode == 0, reset.stderr
        new = secret(reset.stdout)
        assert new != first
        ((stored,),) = rows(minyi, "SELECT password_hash FROM staff_user WHERE username='li'")
        assert hasher.verify(new, stored)
        assert not hasher.verify(first, stored)
        assert disabled.returncode == 0, disabled.stderr
        lines = listing.stdout.splitlines()
        assert lines[0].startswith("boss\tadmin\tunits=all\tactive")
        assert lines[1].startswith("li\tstaff\tunits=spj\tdisabled")
        assert "bot not linked" in lines[1]
        assert "argon2" not in listing.stdout
        assert new not in listing.stdout

        enabled = minyi("user", "enable", "li")
        unknown = minyi("user", "reset", "nobody")

        assert enabled.returncode == 0, enabled.stderr
        assert rows(minyi, "SELECT active FROM staff_user WHERE username='li'") == [(1,)]
        assert unknown.returncode == 2
        assert "nobody" in unknown.stderr
        assert [a for (a,) in rows(minyi, "SELECT action FROM audit_event ORDER BY id")] == [
            "user.create",
            "user.create",
            "user.reset",
            "user.disable",
            "user.enable",
        ]


class TestTokenCreate:
    def test_roles_with_and_without_role(self, minyi: Minyi) -> None:
        viewer = minyi("token", "create", "dash", "--role", "viewer", "--unit", "spj")
        legacy = minyi("token", "create", "sys", "--unit", "spj")
        city = minyi("token", "create", "city")
        no_unit = minyi("token", "create", "bad", "--role", "staff")

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
        revoked = minyi("token", "revoke", "dash")
        assert revoked.returncode == 0, revoked.stderr
        assert rows(minyi, "SELECT actor, action, target FROM audit_event ORDER BY id") == [
            (cli_name(), "token.create", "dash"),
            (cli_name(), "token.create", "sys"),
            (cli_name(), "token.create", "city"),
            (cli_name(), "token.revoke", "dash"),
        ]
