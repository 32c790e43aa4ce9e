"""common/members.py on a real PostgreSQL: the last-admin rule holds under concurrent changes."""

from __future__ import annotations

import asyncio

import pytest

from common import accounts, db, members
from common.errors import NotFound
from reportgen.cli import main
from tests.support.databases import WORKSPACE, connect
from tests.support.processes import wait_for


async def _two_admins(url: str) -> tuple[str, str]:
    async with await db.connect_async(url) as conn:
        first = await accounts.create_user(conn, "first@a.test", "admin", WORKSPACE)
        second = await accounts.create_user(conn, "second@a.test", "admin", WORKSPACE)
    return str(first["id"]), str(second["id"])


def _waiting_on_a_lock(url: str) -> bool:
    with connect(url) as conn:
        row = conn.execute("SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                           "AND datname = current_database()").fetchone()
    return bool(row and row["n"])


def test_two_admins_demoting_each_other_at_once_leave_one_admin(database_url: str) -> None:
    """The second demotion waits for the first's lock on the admin rows, then sees one admin left."""
    async def go() -> None:
        first, second = await _two_admins(database_url)
        async with await db.connect_async(database_url) as one, await db.connect_async(database_url) as two:
            async with one.transaction():
                await members.change_role(one, WORKSPACE, first, "viewer")  # not committed yet
                racing = asyncio.create_task(members.change_role(two, WORKSPACE, second, "viewer"))
                await asyncio.to_thread(wait_for, lambda: _waiting_on_a_lock(database_url), timeout=10,
                                        message="the second demotion to wait on the first's lock")
                assert not racing.done()
            with pytest.raises(members.LastAdmin):
                await racing
            roles = {m["email"]: m["role"] for m in await members.list_members(two, WORKSPACE)}
        assert roles == {"first@a.test": "viewer", "second@a.test": "admin"}

    asyncio.run(go())


def test_removing_a_member_ends_their_tokens_here_and_an_invite_is_only_for_new_accounts(database_url: str) -> None:
    async def go() -> None:
        async with await db.connect_async(database_url) as conn:
            invited = await members.invite(conn, WORKSPACE, "New@Example.test", "editor")
            assert invited.link_token is not None and invited.member["role"] == "editor"
            user = str(invited.member["user_id"])
            token, _ = await accounts.create_token(conn, user, WORKSPACE)
            assert await accounts.authenticate_token(conn, token) is not None
            await accounts.create_user(conn, "keeper@example.test", "admin", WORKSPACE)
            await members.remove(conn, WORKSPACE, user)
            with pytest.raises(NotFound):
                await members.get(conn, WORKSPACE, user)
            again = await members.invite(conn, WORKSPACE, "new@example.test", "viewer")
            assert await accounts.authenticate_token(conn, token) is None, "re-adding brings no old token back"
            # No password and no other workspace: still a new account, so it gets a (new) link.
            assert again.link_token is not None and again.link_token != invited.link_token

            other = str((await accounts.create_workspace(conn, "Other"))["id"])
            elsewhere = await members.invite(conn, other, "new@example.test", "viewer")
            assert elsewhere.link_token is None, "a member of another workspace is added without a link"

    asyncio.run(go())


def test_the_command_line_records_members_and_tokens_in_the_audit_log(
        database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert main(["users", "create", "ops@example.test", "--role", "editor"]) == 0
    assert main(["tokens", "create", "ops@example.test", "--name", "deploy"]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert main(["tokens", "revoke", token]) == 0
    with connect(database_url) as conn:
        rows = conn.execute("SELECT workspace_id::text AS ws, actor_id, action, target, detail FROM audit_events "
                            "ORDER BY id").fetchall()
    assert [(r["ws"], r["actor_id"], r["action"], r["target"]) for r in rows] == [
        (WORKSPACE, None, "member.added", "ops@example.test"), (WORKSPACE, None, "token.created", "deploy"),
        (WORKSPACE, None, "token.revoked", "deploy")]
    assert all(r["detail"]["via"] == "cli" for r in rows) and token not in str(rows)
