"""API credentials for tests: a member with a role and a token, straight in the test's database.

``Service.client()`` is meant to carry one of these (issue 9); until the web requires sign-in
(``AUTH_REQUIRED=1``) clients work without it, and tests that exercise roles ask for tokens here.
"""

from __future__ import annotations

from common.accounts import new_token, secret_hash
from tests.support.databases import WORKSPACE, connect


def api_token(database_url: str, role: str = "admin", *, workspace_id: str = WORKSPACE,
              email: str | None = None) -> str:
    """A new token of a (new or existing) ``role`` member of ``workspace_id``."""
    email = email or f"{role}@tests.invalid"
    token = new_token()
    with connect(database_url) as conn:
        user = conn.execute(
            "INSERT INTO users (email) VALUES (%s) ON CONFLICT (lower(email)) DO UPDATE SET email = EXCLUDED.email "
            "RETURNING id", (email,)).fetchone()
        assert user is not None
        conn.execute("INSERT INTO memberships (user_id, workspace_id, role) VALUES (%s, %s, %s) "
                     "ON CONFLICT (user_id, workspace_id) DO UPDATE SET role = EXCLUDED.role",
                     (user["id"], workspace_id, role))
        conn.execute("INSERT INTO api_tokens (token_hash, user_id, workspace_id, name) VALUES (%s, %s, %s, 'tests')",
                     (secret_hash(token), user["id"], workspace_id))
    return token
