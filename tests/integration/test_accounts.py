"""Accounts in a real database through the CLI of DESIGN.md ("Accounts and access") and common/accounts.py."""

from __future__ import annotations

import asyncio
import io
import uuid

import pytest

from common import accounts, db
from reportgen.cli import main
from tests.support.databases import WORKSPACE, connect


def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str, *argv: str,
        stdin: str = "") -> tuple[int, list[str]]:
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    capsys.readouterr()
    code = main(list(argv))
    out = capsys.readouterr()
    return code, (out.out + out.err).strip().splitlines()


def authenticate(url: str, token: str) -> accounts.Principal | None:
    async def go() -> accounts.Principal | None:
        async with await db.connect_async(url) as conn:
            return await accounts.authenticate_token(conn, token)
    return asyncio.run(go())


def test_users_tokens_and_workspaces_from_the_cli(database_url: str, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, out = cli(monkeypatch, capsys, database_url, "users", "create", "Ada@Example.com", "--role", "admin",
                    "--password-stdin", stdin="correct horse battery\n")
    assert code == 0, out
    with connect(database_url) as conn:
        row = conn.execute("SELECT password_hash FROM users WHERE lower(email) = 'ada@example.com'").fetchone()
    assert row is not None and row["password_hash"].startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert accounts.verify_password(row["password_hash"], "correct horse battery")
    assert not accounts.verify_password(row["password_hash"], "wrong")

    # Emails are unique whatever their case: a second create changes the role, not the user count.
    code, out = cli(monkeypatch, capsys, database_url, "users", "create", "ada@EXAMPLE.com", "--role", "editor")
    assert code == 0, out
    code, out = cli(monkeypatch, capsys, database_url, "users", "list")
    assert code == 0 and len(out) == 1 and "Ada@Example.com" in out[0] and out[0].endswith("editor"), out

    code, out = cli(monkeypatch, capsys, database_url, "workspaces", "create", "Finance")
    assert code == 0, out
    other = str(uuid.UUID(out[-1]))  # the id alone on the last line

    code, out = cli(monkeypatch, capsys, database_url, "tokens", "create", "ada@example.com", "--name", "ci",
                    "--expires-days", "30")
    assert code == 0, out
    token = out[-1]
    assert token.startswith("rg_") and " " not in token and len(token) > 40
    principal = authenticate(database_url, token)
    assert principal == accounts.Principal(principal.user_id if principal else "", WORKSPACE, "editor", "token")
    with connect(database_url) as conn:
        stored = conn.execute("SELECT token_hash, last_used_at, expires_at FROM api_tokens").fetchone()
    assert stored is not None and token.encode() not in bytes(stored["token_hash"])
    assert stored["last_used_at"] is not None and stored["expires_at"] is not None

    # Not a member of the other workspace: no token there.
    code, out = cli(monkeypatch, capsys, database_url, "tokens", "create", "ada@example.com", "--workspace", other)
    assert code == 1 and "not a member" in out[-1], out

    code, out = cli(monkeypatch, capsys, database_url, "tokens", "revoke", token)
    assert code == 0 and "revoked" in out[-1], out
    assert authenticate(database_url, token) is None


def test_expired_revoked_and_unknown_tokens_authenticate_nobody(database_url: str, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(monkeypatch, capsys, database_url, "users", "create", "v@example.com", "--role", "viewer")[0] == 0
    code, out = cli(monkeypatch, capsys, database_url, "tokens", "create", "v@example.com")
    token = out[-1]
    assert code == 0 and authenticate(database_url, token) is not None
    with connect(database_url) as conn:
        conn.execute("UPDATE api_tokens SET expires_at = now() - interval '1 second'")
    assert authenticate(database_url, token) is None
    assert authenticate(database_url, "rg_" + "x" * 43) is None
    assert authenticate(database_url, "not-a-token") is None

    code, out = cli(monkeypatch, capsys, database_url, "tokens", "create", "v@example.com", "--name", "second")
    second = out[-1]
    with connect(database_url) as conn:
        token_id = conn.execute("SELECT id FROM api_tokens WHERE name = 'second'").fetchone()["id"]  # type: ignore[index]
    assert cli(monkeypatch, capsys, database_url, "tokens", "revoke", str(token_id))[0] == 0
    assert authenticate(database_url, second) is None
    # A removed membership ends its tokens too.
    code, out = cli(monkeypatch, capsys, database_url, "tokens", "create", "v@example.com", "--name", "third")
    third = out[-1]
    with connect(database_url) as conn:
        conn.execute("DELETE FROM memberships")
    assert authenticate(database_url, third) is None


def test_bad_input_is_a_clear_error(database_url: str, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    code, out = cli(monkeypatch, capsys, database_url, "users", "create", "nobody", "--role", "admin")
    assert code == 1 and "not an email address" in out[-1], out
    code, out = cli(monkeypatch, capsys, database_url, "users", "create", "a@example.com", "--role", "admin",
                    "--password-stdin", stdin="short\n")
    assert code == 1 and "at least 8" in out[-1], out
    code, out = cli(monkeypatch, capsys, database_url, "users", "create", "a@example.com", "--role", "admin",
                    "--workspace", str(uuid.uuid4()))
    assert code == 1 and "no workspace" in out[-1], out
    code, out = cli(monkeypatch, capsys, database_url, "tokens", "create", "ghost@example.com")
    assert code == 1 and "no user" in out[-1], out
    code, out = cli(monkeypatch, capsys, database_url, "tokens", "revoke", "rg_nope")
    assert code == 1 and "no such token" in out[-1], out
