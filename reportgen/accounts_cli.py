"""``reportgen users|tokens|workspaces``: accounts from the command line (DESIGN.md, "Accounts and access").

    reportgen users create EMAIL --role admin|editor|viewer [--workspace ID] [--password-stdin]
    reportgen users list
    reportgen tokens create EMAIL [--workspace ID] [--name NAME] [--expires-days N]   (token on the last line)
    reportgen tokens revoke TOKEN_OR_ID
    reportgen workspaces create NAME                                                  (id on the last line)
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from common import accounts, audit, db, sessions
from common.config import Settings

LOCAL_ADMIN = "admin@localhost"
CLI = {"via": "cli"}  # the audit log's detail of what the command line did (its actor has no account)


async def _record(conn: Any, workspace_id: object, action: str, target: str, detail: dict[str, Any]) -> None:
    await audit.record(conn, workspace_id=str(workspace_id), actor_id=None, actor_email=None, action=action,
                       target=target, detail={**CLI, **detail})


def add_parsers(sub: Any) -> None:
    users = sub.add_parser("users", help="create or list users").add_subparsers(dest="action", required=True)
    create = users.add_parser("create", help="create a user (or give an existing one a role in a workspace)")
    create.add_argument("email")
    create.add_argument("--role", required=True, choices=accounts.ROLES)
    create.add_argument("--workspace", help="workspace id (default: DEFAULT_WORKSPACE_ID)")
    create.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    users.add_parser("list", help="every user and their roles")
    tokens = sub.add_parser("tokens", help="create or revoke API tokens").add_subparsers(dest="action", required=True)
    tcreate = tokens.add_parser("create", help="a new API token for a member (printed once, on the last line)")
    tcreate.add_argument("email")
    tcreate.add_argument("--workspace")
    tcreate.add_argument("--name", default="cli")
    tcreate.add_argument("--expires-days", type=int)
    tokens.add_parser("revoke", help="revoke a token by its value or id").add_argument("token_or_id")
    workspaces = sub.add_parser("workspaces", help="create workspaces").add_subparsers(dest="action", required=True)
    workspaces.add_parser("create", help="a new workspace (its id on the last line)").add_argument("name")


async def users(args: argparse.Namespace, settings: Settings, url: str) -> int:
    async with await db.connect_async(url, application_name="reportgen-users") as conn, \
            db.translate_errors_async():
        if args.action == "list":
            for row in await accounts.list_users(conn):
                print(f"{row['id']}  {row['email']:<32} {row['workspace_id'] or '-'}  {row['role'] or '-'}")
            return 0
        password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else None
        user = await accounts.create_user(conn, args.email, args.role, args.workspace or settings.default_workspace_id,
                                          password=password)
        await _record(conn, user["workspace_id"], "member.added", user["email"],
                      {"user_id": str(user["id"]), "role": user["role"]})
        link = None if password is not None else sessions.link(
            settings.public_base_url, await sessions.create_invite(conn, str(user["id"]), str(user["workspace_id"])))
    print(f"user {user['email']} ({user['id']}) is {user['role']} of workspace {user['workspace_id']}")
    if link is not None:
        print(f"to choose a password and sign in, open this one-time link (valid {sessions.INVITE_DAYS} days):")
        print(link)
    return 0


async def local_admin_link(url: str, settings: Settings, base_url: str) -> str | None:
    """``make run``: while no user has a password, make sure a local admin exists and return a fresh
    one-time sign-in link for them (printed on the console, as Jupyter prints its token URL)."""
    async with await db.connect_async(url, application_name="reportgen-first-admin") as conn:
        if await accounts.count_users_with_password(conn) > 0:
            return None
        user = await accounts.create_user(conn, LOCAL_ADMIN, "admin", settings.default_workspace_id,
                                          display_name="Local admin")
        token = await sessions.create_invite(conn, str(user["id"]), settings.default_workspace_id, days=1)
    return sessions.link(base_url, token)


async def tokens(args: argparse.Namespace, settings: Settings, url: str) -> int:
    async with await db.connect_async(url, application_name="reportgen-tokens") as conn, \
            db.translate_errors_async():
        if args.action == "revoke":
            row = await accounts.revoke_token(conn, args.token_or_id)
            await _record(conn, row["workspace_id"], "token.revoked", row["name"],
                          {"token_id": str(row["id"]), "owner_id": str(row["user_id"])})
            print(f"token {row['name']!r} ({row['id']}) revoked at {row['revoked_at']:%Y-%m-%d %H:%M:%S%z}")
            return 0
        user = await accounts.user_by_email(conn, args.email)
        token, row = await accounts.create_token(conn, str(user["id"]), args.workspace or settings.default_workspace_id,
                                                 name=args.name, expires_days=args.expires_days)
        await _record(conn, row["workspace_id"], "token.created", row["name"], {
            "token_id": str(row["id"]), "owner_id": str(user["id"]),
            "expires_at": row["expires_at"].isoformat() if row["expires_at"] else None})
    expiry = f"expires {row['expires_at']:%Y-%m-%d}" if row["expires_at"] else "no expiry"
    print(f"token {row['name']!r} ({row['id']}) for {user['email']} in workspace {row['workspace_id']}, {expiry}; "
          "it is shown only now:")
    print(token)
    return 0


async def workspaces(args: argparse.Namespace, settings: Settings, url: str) -> int:
    async with await db.connect_async(url, application_name="reportgen-workspaces") as conn, \
            db.translate_errors_async():
        row = await accounts.create_workspace(conn, args.name)
    print(f"workspace {row['name']!r} created:")
    print(row["id"])
    return 0


COMMANDS = {"users": users, "tokens": tokens, "workspaces": workspaces}
