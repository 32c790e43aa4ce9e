"""Accounts (issue 9): users, memberships, API tokens; the functions both the CLI and the web use.

Secrets are never stored. A password is kept as an Argon2id hash (OWASP's minimum: 19 MiB, 2 passes,
1 lane); an API token (``rg_`` + 32 random bytes) is kept as its sha256, which is enough for a
high-entropy value and lets the web find it with one indexed lookup per request.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from psycopg import AsyncConnection

from common.errors import NotFound, ValidationError
from common.rows import row_to_json
from common.sql import query

ROLES = ("viewer", "editor", "admin")
TOKEN_PREFIX = "rg_"

# OWASP Password Storage Cheat Sheet, Argon2id: m=19 MiB, t=2, p=1.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32, salt_len=16)


@dataclass(frozen=True)
class Principal:
    """Whom a request serves: set as ``request.state.principal`` by the web's authentication."""

    user_id: str
    workspace_id: str
    role: str
    via: str  # "token" or "session"


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise ValidationError("a password has at least 8 characters")
    return _HASHER.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    if not stored:
        return False
    try:
        return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def secret_hash(value: str) -> bytes:
    """sha256 of a random secret (token, session cookie, invite link): what the database keeps."""
    return hashlib.sha256(value.encode()).digest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def normalise_email(raw: str) -> str:
    email = raw.strip()
    if "@" not in email or email.startswith("@") or email.endswith("@") or len(email) > 320:
        raise ValidationError(f"{raw!r} is not an email address")
    return email


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValidationError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    return role


def _uuid_or_none(raw: str) -> str | None:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        return None


async def create_workspace(conn: AsyncConnection, name: str) -> dict[str, Any]:
    if not name.strip():
        raise ValidationError("a workspace needs a name")
    cur = await conn.execute(query("workspace_create"), {"name": name.strip()})
    return await cur.fetchone()  # type: ignore[return-value]


async def _require_workspace(conn: AsyncConnection, workspace_id: str) -> str:
    ident = _uuid_or_none(workspace_id)
    if ident is None or await (await conn.execute(query("workspace_exists"), {"id": ident})).fetchone() is None:
        raise NotFound(f"no workspace {workspace_id!r}")
    return ident


async def create_user(conn: AsyncConnection, email: str, role: str, workspace_id: str, *,
                      password: str | None = None, display_name: str = "") -> dict[str, Any]:
    """Create the user (or find them by email) and make them a member of the workspace with ``role``."""
    check_role(role)
    workspace = await _require_workspace(conn, workspace_id)
    password_hash = hash_password(password) if password is not None else None
    async with conn.transaction():
        cur = await conn.execute(query("user_upsert"), {
            "email": normalise_email(email), "display_name": display_name, "password_hash": password_hash})
        user: dict[str, Any] = await cur.fetchone()  # type: ignore[assignment]
        await conn.execute(query("membership_upsert"),
                           {"user_id": user["id"], "workspace_id": workspace, "role": role})
    return {**user, "workspace_id": workspace, "role": role}


async def user_by_email(conn: AsyncConnection, email: str) -> dict[str, Any]:
    row = await (await conn.execute(query("user_by_email"), {"email": email.strip()})).fetchone()
    if row is None:
        raise NotFound(f"no user {email!r}")
    return row  # type: ignore[return-value]


async def user_by_id(conn: AsyncConnection, user_id: str) -> dict[str, Any]:
    row = await (await conn.execute(query("user_by_id"), {"id": user_id})).fetchone()
    if row is None:
        raise NotFound("no such user")
    return row  # type: ignore[return-value]


async def set_password(conn: AsyncConnection, user_id: str, password: str) -> None:
    """Replace a user's password (checked for length first); the caller revokes their other sessions."""
    await conn.execute(query("user_set_password"), {"id": user_id, "password_hash": hash_password(password)})


async def count_users_with_password(conn: AsyncConnection) -> int:
    row: dict[str, Any] = await (await conn.execute(query("users_with_password_count"))).fetchone()  # type: ignore[assignment]
    return int(row["n"])


async def list_users(conn: AsyncConnection) -> list[dict[str, Any]]:
    return await (await conn.execute(query("users_list"))).fetchall()  # type: ignore[return-value]


async def create_token(conn: AsyncConnection, user_id: str, workspace_id: str, *, name: str = "api",
                       expires_days: int | None = None) -> tuple[str, dict[str, Any]]:
    """A new API token for a member: (the token, shown once; its row). Raises NotFound for a non-member."""
    role = await (await conn.execute(query("membership_get"),
                                     {"user_id": user_id, "workspace_id": workspace_id})).fetchone()
    if role is None:
        raise NotFound("that user is not a member of that workspace")
    if expires_days is not None and expires_days < 1:
        raise ValidationError("--expires-days must be at least 1")
    expires_at = (dt.datetime.now(dt.UTC) + dt.timedelta(days=expires_days)) if expires_days else None
    token = new_token()
    cur = await conn.execute(query("token_create"), {
        "token_hash": secret_hash(token), "user_id": user_id, "workspace_id": workspace_id,
        "name": name, "expires_at": expires_at})
    return token, await cur.fetchone()  # type: ignore[return-value]


async def authenticate_token(conn: AsyncConnection, token: str) -> Principal | None:
    """The principal of a live bearer token, or None; records last_used_at at most once a minute."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    cur = await conn.execute(query("token_authenticate"), {"token_hash": secret_hash(token)})
    row: dict[str, Any] | None = await cur.fetchone()  # type: ignore[assignment]
    if row is None:
        return None
    last = row["last_used_at"]
    if last is None or dt.datetime.now(dt.UTC) - last >= dt.timedelta(minutes=1):
        await conn.execute(query("token_touch"), {"id": row["id"]})
    return Principal(str(row["user_id"]), str(row["workspace_id"]), row["role"], "token")


async def revoke_token(conn: AsyncConnection, token_or_id: str) -> dict[str, Any]:
    ident = _uuid_or_none(token_or_id)
    cur = await conn.execute(query("token_revoke"), {"id": ident, "token_hash": secret_hash(token_or_id)})
    row = await cur.fetchone()
    if row is None:
        raise NotFound("no such token")
    return row  # type: ignore[return-value]


async def tokens_of(conn: AsyncConnection, workspace_id: str, user_id: str) -> list[dict[str, Any]]:
    """A member's live (unrevoked) tokens in one workspace, without their hashes."""
    cur = await conn.execute(query("tokens_of_member"), {"workspace_id": workspace_id, "user_id": user_id})
    return await cur.fetchall()  # type: ignore[return-value]


async def revoke_token_in_workspace(conn: AsyncConnection, workspace_id: str, token_id: str, *,
                                    owner_id: str | None) -> dict[str, Any]:
    """Revoke one live token of ``workspace_id``: ``owner_id``'s own, or any (``owner_id=None``, for admins).
    Another workspace's token, someone else's, or a malformed id: NotFound, as if it did not exist."""
    ident = _uuid_or_none(token_id)
    if ident is None:
        raise NotFound(f"no token {token_id!r}")
    cur = await conn.execute(query("token_revoke_in_workspace"),
                             {"id": ident, "workspace_id": workspace_id, "user_id": owner_id})
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no token {token_id!r}")
    return row  # type: ignore[return-value]


def token_to_json(row: dict[str, Any]) -> dict[str, Any]:
    """A token as the API lists it: name, times, expired; never its hash (which the query does not read)."""
    return row_to_json({k: row.get(k) for k in ("id", "name", "created_at", "last_used_at", "expires_at")}
                       | {"expired": bool(row.get("expired", False))})
