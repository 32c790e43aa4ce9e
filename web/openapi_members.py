"""Members, "my tokens" and the audit log in ``/openapi.json`` (merged by web/openapi.py).

The schemas are exactly as strict as the handlers (the fuzz test's negative-data check sends what they
forbid and expects a 4xx): no ``format: email`` or length limits the handlers do not enforce as written.
"""

from __future__ import annotations

from typing import Any

from common.accounts import ROLES

_ERROR = {"$ref": "#/components/schemas/Error"}
_MEMBER = {"$ref": "#/components/schemas/Member"}
_TOKEN = {"$ref": "#/components/schemas/Token"}
_OBJ: dict[str, Any] = {"type": "object"}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(s): {"description": "error", "content": {"application/json": {"schema": _ERROR}}} for s in statuses}


def _json(schema: dict[str, Any], description: str = "ok") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


_USER_ID = {"name": "user_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
_TOKEN_ID = {"name": "token_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
_ROLE = {"type": "string", "enum": list(ROLES)}
_NO_CONTENT = {"204": {"description": "done"}}

PATHS: dict[str, Any] = {
    "/api/members": {
        "get": {"summary": "The workspace's members (admin)",
                "responses": {"200": _json({"type": "object", "properties": {
                    "members": {"type": "array", "items": _MEMBER}}}), **_errors(401, 403)}},
        "post": {"summary": "Invite: add a member by e-mail (the user is created when new); the answer's `link` "
                            "is a one-time sign-in link, shown this once (null for an existing account)",
                 "requestBody": _body({"type": "object", "required": ["email", "role"], "additionalProperties": False,
                                       "properties": {"email": {"type": "string"}, "role": _ROLE}}),
                 "responses": {"201": _json({"$ref": "#/components/schemas/Invitation"}, "invited"),
                               **_errors(400, 401, 403, 409, 413, 415, 422)}},
    },
    "/api/members/{user_id}": {
        "patch": {"summary": "Change a member's role; 409 last_admin when it would leave the workspace no admin",
                  "parameters": [_USER_ID],
                  "requestBody": _body({"type": "object", "required": ["role"], "additionalProperties": False,
                                        "properties": {"role": _ROLE}}),
                  "responses": {"200": _json(_MEMBER), **_errors(400, 401, 403, 404, 409, 413, 415, 422)}},
        "delete": {"summary": "Remove a member (their tokens and sessions here end); 409 last_admin for the last admin",
                   "parameters": [_USER_ID],
                   "responses": {**_NO_CONTENT, **_errors(401, 403, 404, 409)}},
    },
    "/api/tokens": {
        "get": {"summary": "The caller's own API tokens in this workspace (never the secret)",
                "responses": {"200": _json({"type": "object", "properties": {
                    "tokens": {"type": "array", "items": _TOKEN}}}), **_errors(401)}},
        "post": {"summary": "A new API token for the caller; `token` (rg_...) is in this answer only",
                 "requestBody": _body({"type": "object", "required": ["name"], "additionalProperties": False,
                                       "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 200},
                                                      "expires_days": {"type": "integer", "nullable": True,
                                                                       "minimum": 1, "maximum": 3650}}}),
                 "responses": {"201": _json({"allOf": [_TOKEN, {"type": "object", "required": ["token"],
                                                                "properties": {"token": {"type": "string"}}}]},
                                            "created"),
                               **_errors(400, 401, 413, 415, 422)}},
    },
    "/api/tokens/{token_id}": {"delete": {
        "summary": "Revoke a token at once: the caller's own; an admin may revoke any token of the workspace",
        "parameters": [_TOKEN_ID], "responses": {**_NO_CONTENT, **_errors(401, 404)}}},
    "/api/audit": {"get": {
        "summary": "The workspace's audit log, newest first (admin); page with ?before=<next_before>",
        "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
                       {"name": "before", "in": "query", "schema": {"type": "integer", "minimum": 0}}],
        "responses": {"200": _json({"type": "object", "required": ["events", "next_before"], "properties": {
            "events": {"type": "array", "items": {"$ref": "#/components/schemas/AuditEvent"}},
            "next_before": {"type": "integer", "nullable": True}}}), **_errors(401, 403, 422)}}},
}

SCHEMAS: dict[str, Any] = {
    "Member": {"type": "object", "required": ["user_id", "email", "role"], "properties": {
        "user_id": {"type": "string", "format": "uuid"}, "email": {"type": "string"},
        "display_name": {"type": "string"}, "role": _ROLE, "since": {"type": "string", "format": "date-time"},
        "has_password": {"type": "boolean"}}},
    "Invitation": {"type": "object", "required": ["member", "link", "emailed"], "properties": {
        "member": _MEMBER, "link": {"type": "string", "nullable": True},
        "link_valid_days": {"type": "integer", "nullable": True}, "emailed": {"type": "boolean"},
        "message": {"type": "string"}}},
    "Token": {"type": "object", "required": ["id", "name", "created_at"], "properties": {
        "id": {"type": "string", "format": "uuid"}, "name": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
        "last_used_at": {"type": "string", "format": "date-time", "nullable": True},
        "expires_at": {"type": "string", "format": "date-time", "nullable": True},
        "expired": {"type": "boolean"}}},
    "AuditEvent": {"type": "object", "required": ["id", "at", "action"], "properties": {
        "id": {"type": "integer"}, "at": {"type": "string", "format": "date-time"}, "action": {"type": "string"},
        "target": {"type": "string"}, "actor_id": {"type": "string", "nullable": True},
        "actor_email": {"type": "string"}, "address": {"type": "string", "nullable": True}, "detail": _OBJ}},
}
