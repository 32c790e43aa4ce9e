"""The schedules' part of ``/openapi.json`` (merged by web/openapi.py)."""

from __future__ import annotations

from typing import Any

_ERROR = {"$ref": "#/components/schemas/Error"}
_SCHEDULE = {"$ref": "#/components/schemas/Schedule"}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(s): {"description": "error", "content": {"application/json": {"schema": _ERROR}}} for s in statuses}


def _json(schema: dict[str, Any], description: str = "ok") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ID = {"name": "schedule_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
_BODY = {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ScheduleInput"}}}}
_OBJ: dict[str, Any] = {"type": "object"}

PATHS: dict[str, Any] = {
    "/api/schedules": {
        "get": {"summary": "The workspace's schedules (of one template with ?template_id=)",
                "parameters": [{"name": "template_id", "in": "query", "schema": {"type": "string"}}],
                "responses": {"200": _json({"type": "object", "properties": {
                    "schedules": {"type": "array", "items": _SCHEDULE}}})}},
        "post": {"summary": "Create a schedule; the answer holds webhook_secret, shown this once",
                 "requestBody": _BODY,
                 "responses": {"201": _json(_SCHEDULE, "created"), **_errors(400, 404, 409, 413, 415, 422)}},
    },
    "/api/schedules/preview": {"get": {
        "summary": "The next five fire times of a cron line in a time zone",
        "parameters": [{"name": "cron", "in": "query", "required": True, "schema": {"type": "string"}},
                       {"name": "timezone", "in": "query", "schema": {"type": "string"}}],
        "responses": {"200": _json(_OBJ), **_errors(422)}}},
    "/api/schedules/{schedule_id}": {
        "get": {"summary": "A schedule and its latest fires (run, skipped, failed)", "parameters": [_ID],
                "responses": {"200": _json(_SCHEDULE), **_errors(404)}},
        "patch": {"summary": "Change fields (enabled: false pauses)", "parameters": [_ID], "requestBody": _BODY,
                  "responses": {"200": _json(_SCHEDULE), **_errors(400, 404, 409, 413, 415, 422)}},
        "delete": {"summary": "Delete the schedule (its runs stay)", "parameters": [_ID],
                   "responses": {"204": {"description": "deleted"}, **_errors(404)}},
    },
    "/api/schedules/{schedule_id}/run-now": {"post": {
        "summary": "Fire now, outside the cron; delivered like any fire", "parameters": [_ID],
        "responses": {"202": _json(_OBJ, "run made"), "200": _json(_OBJ, "fire failed (notices sent)"),
                      **_errors(404, 409, 429)}}},
    "/api/schedules/{schedule_id}/deliveries": {"get": {
        "summary": "Every delivery of the schedule with its attempt history", "parameters": [_ID],
        "responses": {"200": _json({"type": "object", "properties": {
            "deliveries": {"type": "array", "items": _OBJ}}}), **_errors(404)}}},
}

SCHEMAS: dict[str, Any] = {
    "ScheduleInput": {"type": "object", "properties": {
        "template_id": {"type": "string", "format": "uuid"}, "parameters": _OBJ, "cron": {"type": "string"},
        "timezone": {"type": "string"}, "emails": {"type": "array", "items": {"type": "string"}},
        "webhooks": {"type": "array", "items": {"type": "string"}},
        "formats": {"type": "array", "items": {"type": "string", "enum": ["pdf", "html", "md", "csv"]}},
        "enabled": {"type": "boolean"}}},
    "Schedule": {"type": "object", "properties": {
        "id": {"type": "string", "format": "uuid"}, "template_id": {"type": "string"}, "cron": {"type": "string"},
        "timezone": {"type": "string"}, "enabled": {"type": "boolean"}, "next_fire_at": {"type": "string"},
        "webhook_secret": {"type": "string"}}},
}
