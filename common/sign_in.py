"""Signing in with email and password, throttled per account and per client address (issue 9).

The throttle lives in the database (``sign_in_failures``), not in one web instance's memory: Cloud Run
runs several instances, and an attacker's guesses spread over them must still add up. An unknown email
costs the same Argon2 verification as a known one and counts against its own key, so neither the answer
nor its timing tells whether an account exists.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from common.accounts import hash_password, verify_password
from common.errors import RetryLater
from common.sql import query

WINDOW_SECONDS = 15 * 60
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_ADDRESS = 20


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the email is unknown or has no password, so that costs the same."""
    return hash_password("not-a-real-password")


class SignInThrottled(RetryLater):
    code = "sign_in_throttled"


@dataclass(frozen=True)
class SignedIn:
    user_id: str
    email: str
    workspace_id: str


async def _throttle(conn: AsyncConnection, email_key: str, address: str) -> None:
    cur = await conn.execute(query("sign_in_failures_recent"),
                             {"email_key": email_key, "address": address, "window_seconds": WINDOW_SECONDS})
    row: dict[str, Any] = await cur.fetchone()  # type: ignore[assignment]
    if row["by_account"] >= MAX_FAILURES_PER_ACCOUNT or row["by_address"] >= MAX_FAILURES_PER_ADDRESS:
        wait = max(1, math.ceil(float(row["retry_after"] or WINDOW_SECONDS)))
        minutes = max(1, math.ceil(wait / 60))
        raise SignInThrottled(f"too many failed sign-ins; try again in {minutes} minute{'s' * (minutes > 1)}",
                              retry_after=wait)


async def sign_in(conn: AsyncConnection, email: str, password: str, address: str,
                  default_workspace_id: str) -> SignedIn | None:
    """The user and the workspace to start in when the password is right; None (and a recorded failure)
    when not. Raises ``SignInThrottled`` before checking anything once the window's failures are spent."""
    email_key = email.strip().lower()[:320]
    await _throttle(conn, email_key, address)
    row: dict[str, Any] | None = await (await conn.execute(
        query("sign_in_candidate"), {"email": email_key, "default_workspace_id": default_workspace_id})).fetchone()  # type: ignore[assignment]
    ok = verify_password(row["password_hash"] if row and row["password_hash"] else _dummy_hash(), password)
    if not ok or row is None or not row["password_hash"] or row["workspace_id"] is None:
        await conn.execute(query("sign_in_failure_record"), {"email_key": email_key, "address": address})
        return None
    await conn.execute(query("sign_in_failures_clear"), {"email_key": email_key})
    return SignedIn(str(row["id"]), row["email"], str(row["workspace_id"]))
