"""JSON API "my tokens": the signed-in user's API tokens in the current workspace.

``GET /api/tokens`` lists them (name, created, last used, expiry; never the secret, which is not stored),
``POST /api/tokens {"name", "expires_days"}`` makes one and answers the ``rg_`` token this once,
``DELETE /api/tokens/{id}`` revokes one at once: the caller's own, or, for an admin, any of the workspace
(a token revoked already answers 404, so each revocation is one audit event).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from common import accounts, audit
from common.errors import AppError, ValidationError
from web.permissions import Access, Route, role_allows, user_of, workspace_of
from web.request_body import read_json
from web.state import AppState

MAX_BODY = 4096
MAX_NAME = 200
MAX_EXPIRES_DAYS = 3650


class Unauthenticated(AppError):
    status = 401
    code = "unauthenticated"


def signed_in_user(request: Request) -> str:
    """The caller's user id (SIGNED_IN routes always have one; the check keeps the type honest)."""
    user = user_of(request)
    if user is None:
        raise Unauthenticated("sign in, or send an API token as 'Authorization: Bearer rg_...'")
    return user


def token_input(name: object, expires_days: object) -> tuple[str, int | None]:
    """A new token's name (1-200 characters, not all blank) and expiry in days (1-3650, or None: never).
    Strict types, as ``/openapi.json`` declares them (a page's form converts its text first)."""
    errors: dict[str, str] = {}
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        errors["name"] = f"required: 1 to {MAX_NAME} characters, not all blank"
    ok_days = expires_days is None or (isinstance(expires_days, int) and not isinstance(expires_days, bool)
                                       and 1 <= expires_days <= MAX_EXPIRES_DAYS)
    if not ok_days:
        errors["expires_days"] = f"an integer from 1 to {MAX_EXPIRES_DAYS}, or null for no expiry"
    if errors:
        raise ValidationError("invalid token: " + "; ".join(f"{k}: {v}" for k, v in errors.items()), details=errors)
    assert isinstance(name, str) and (expires_days is None or isinstance(expires_days, int))
    return name.strip(), expires_days


async def create_for(request: Request, name: object, expires_days: object) -> dict[str, Any]:
    """Make a token for the caller and record it (API and page); the answer holds the token this once."""
    user = signed_in_user(request)
    clean_name, days = token_input(name, expires_days)
    async with request.app.state.rg.connection() as conn, conn.transaction():
        token, row = await accounts.create_token(conn, user, workspace_of(request), name=clean_name,
                                                 expires_days=days)
        await audit.record_request(conn, request, "token.created", clean_name, {
            "token_id": str(row["id"]), "expires_at": row["expires_at"].isoformat() if row["expires_at"] else None})
    return {**accounts.token_to_json(row), "token": token}


async def revoke_for(request: Request, token_id: str) -> dict[str, Any]:
    """Revoke the caller's token (an admin: any token of the workspace) and record it (API and page)."""
    user = signed_in_user(request)
    principal = request.state.principal
    owner = None if role_allows(principal.role, Access.ADMIN) else user
    async with request.app.state.rg.connection() as conn, conn.transaction():
        row = await accounts.revoke_token_in_workspace(conn, workspace_of(request), token_id, owner_id=owner)
        await audit.record_request(conn, request, "token.revoked", row["name"], {
            "token_id": str(row["id"]), "owner_id": str(row["user_id"])})
    return row


async def list_tokens(request: Request) -> JSONResponse:
    state: AppState = request.app.state.rg
    user = signed_in_user(request)
    async with state.connection() as conn:
        rows = await accounts.tokens_of(conn, workspace_of(request), user)
    return JSONResponse({"tokens": [accounts.token_to_json(r) for r in rows]}, headers={"Cache-Control": "no-store"})


async def create_token(request: Request) -> JSONResponse:
    body = await read_json(request, MAX_BODY)
    if not isinstance(body, dict):
        raise ValidationError("the request body must be a JSON object")
    unknown = sorted(set(body) - {"name", "expires_days"})
    if unknown:
        raise ValidationError(f"unknown field(s): {', '.join(unknown)}",
                              details=dict.fromkeys(unknown, "unknown field"))
    answer = await create_for(request, body.get("name"), body.get("expires_days"))
    return JSONResponse(answer, status_code=201, headers={"Cache-Control": "no-store"})


async def delete_token(request: Request) -> Response:
    await revoke_for(request, request.path_params["token_id"])
    return Response(status_code=204)


ROUTES = [
    Route("/api/tokens", list_tokens, methods=["GET"], access=Access.SIGNED_IN),
    Route("/api/tokens", create_token, methods=["POST"], access=Access.SIGNED_IN),
    Route("/api/tokens/{token_id}", delete_token, methods=["DELETE"], access=Access.SIGNED_IN),
]
