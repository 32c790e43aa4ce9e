"""``GET /openapi.json``: the JSON API described for clients and for the API fuzz test."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from common.jobs import TIMEOUT_MIN_SECONDS, TYPE_PATTERN
from web import openapi_members, openapi_reports, openapi_schedules, openapi_versions
from web.permissions import Access, Route
from web.state import API_JOB_TYPES

_ERROR = {"$ref": "#/components/schemas/Error"}
_JOB = {"$ref": "#/components/schemas/Job"}


def _responses(ok: dict[str, Any], *errors: int) -> dict[str, Any]:
    out: dict[str, Any] = dict(ok)
    for status in errors:
        out[str(status)] = {"description": "error", "content": {"application/json": {"schema": _ERROR}}}
    return out


def _json(schema: dict[str, Any], description: str = "ok") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ACTION_BODY = {"required": False, "content": {"application/json": {"schema": {"type": "object"}}}}
JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}

SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "report-generator", "version": "1"},
    "paths": {
        "/api/jobs": {
            "post": {
                "summary": "Enqueue a job (201), or return the job already created with this dedup_key (200)",
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/NewJob"}}}},
                "responses": _responses({"201": _json(_JOB, "created"), "200": _json(_JOB, "existing job")},
                                        400, 413, 415, 422),
            },
            "get": {
                "summary": "List jobs, newest first",
                "parameters": [
                    {"name": "status", "in": "query", "allowEmptyValue": True, "schema": {"type": "string", "enum": [
                        "QUEUED", "IN_PROGRESS", "COMPLETED", "FAILED", "CANCELLED"]}},
                    {"name": "type", "in": "query", "allowEmptyValue": True,
                     "schema": {"type": "string", "pattern": TYPE_PATTERN.pattern}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
                    {"name": "cursor", "in": "query", "allowEmptyValue": True, "schema": {"type": "string"}},
                ],
                "responses": _responses({"200": _json({"type": "object", "properties": {
                    "jobs": {"type": "array", "items": _JOB}, "next_cursor": {"type": "string",
                                                                              "nullable": True}}})}, 422),
            },
        },
        "/api/jobs/{job_id}": {"get": {"summary": "One job", "parameters": [JOB_ID],
                                       "responses": _responses({"200": _json(_JOB)}, 404)}},
        "/api/jobs/{job_id}/cancel": {"post": {
            "summary": "Cancel: QUEUED at once (200); IN_PROGRESS asks its worker to stop (202). Send "
                       "Content-Type: application/json (or X-CSRF-Token), else 403: a cross-site form cannot",
            "parameters": [JOB_ID], "requestBody": _ACTION_BODY,
            "responses": _responses({"200": _json(_JOB), "202": _json(_JOB)}, 400, 403, 404, 409, 413, 422)}},
        "/api/jobs/{job_id}/retry": {"post": {
            "summary": "Queue a FAILED or CANCELLED job again (Content-Type: application/json, as for cancel)",
            "parameters": [JOB_ID], "requestBody": _ACTION_BODY,
            "responses": _responses({"200": _json(_JOB)}, 400, 403, 404, 409, 413, 422)}},
        "/healthz": {"get": {"summary": "Process alive", "responses": {"200": {"description": "alive"}}}},
        "/readyz": {"get": {"summary": "Database reachable and schema current",
                            "responses": {"200": {"description": "ready"}, "503": {"description": "not ready"}}}},
    },
    "components": {"schemas": {
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "details": {}}}}},
        "NewJob": {"type": "object", "required": ["type"], "additionalProperties": False, "properties": {
            "type": {"type": "string", "enum": sorted(API_JOB_TYPES), "example": "PING"},
            "payload": {"type": "object"},
            "max_attempts": {"type": "integer", "minimum": 1, "maximum": 100},
            "priority": {"type": "integer", "minimum": -100, "maximum": 100},
            "run_at": {"type": "string", "format": "date-time", "nullable": True,
                       "description": "with a time zone; from 1970-01-01T00:00:00Z to before 9999-01-01T00:00:00Z"},
            "timeout_seconds": {"type": "number", "nullable": True, "minimum": TIMEOUT_MIN_SECONDS, "maximum": 86400},
            "dedup_key": {"type": "string", "nullable": True, "minLength": 1, "maxLength": 200}}},
        "Job": {"type": "object", "required": ["id", "type", "status"], "properties": {
            "id": {"type": "string", "format": "uuid"}, "type": {"type": "string"},
            "status": {"type": "string"}, "payload": {"type": "object"}, "result": {"nullable": True},
            "error": {"type": "string", "nullable": True}, "attempts": {"type": "integer"},
            "max_attempts": {"type": "integer"},
            "attempt_history": {"type": "array", "description": "GET /api/jobs/{id} only: every finished "
                                "attempt, oldest first", "items": {"$ref": "#/components/schemas/Attempt"}}}},
        "Attempt": {"type": "object", "properties": {
            "attempt": {"type": "integer"}, "worker_id": {"type": "string"},
            "started_at": {"type": "string", "format": "date-time", "nullable": True},
            "finished_at": {"type": "string", "format": "date-time"},
            "outcome": {"type": "string", "enum": ["completed", "failed", "cancelled", "given_back",
                                                   "lease_expired"]},
            "error": {"type": "object", "nullable": True, "properties": {
                "type": {"type": "string"}, "message": {"type": "string"},
                "frames": {"type": "array", "items": {"type": "string"}}}}}},
    }},
}


# Every operation needs a credential (DESIGN.md, "Accounts and access"): an API token, or a signed-in
# browser's session cookie. A missing or bad one answers 401, a role too low 403.
SPEC["components"]["securitySchemes"] = {
    "apiToken": {"type": "http", "scheme": "bearer", "bearerFormat": "rg_...",
                 "description": "`reportgen tokens create EMAIL` prints one; shown once, stored hashed"},
    "session": {"type": "apiKey", "in": "cookie", "name": "rg_session",
                "description": "a signed-in browser (POST /login); cookie-authenticated writes need CSRF proof"},
}
SPEC["security"] = [{"apiToken": []}, {"session": []}]
SPEC["paths"].update(openapi_reports.PATHS)
SPEC["components"]["schemas"].update(openapi_reports.SCHEMAS)
SPEC["paths"].update(openapi_schedules.PATHS)
SPEC["components"]["schemas"].update(openapi_schedules.SCHEMAS)
SPEC["paths"].update(openapi_members.PATHS)
SPEC["components"]["schemas"].update(openapi_members.SCHEMAS)
for _path, _operations in openapi_versions.PATHS.items():  # per operation: /api/datasets has the upload too
    SPEC["paths"].setdefault(_path, {}).update(_operations)
SPEC["components"]["schemas"].update(openapi_versions.SCHEMAS)


async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(SPEC)


ROUTES = [Route("/openapi.json", openapi, access=Access.VIEWER)]
