"""``/openapi.json``'s part for template history (versions, restore) and the datasets list and delete.

Merged per operation by ``web/openapi.py`` (``/api/datasets`` also has the upload, described with runs).
"""

from __future__ import annotations

from typing import Any

_ERROR = {"$ref": "#/components/schemas/Error"}
_VERSION = {"$ref": "#/components/schemas/TemplateVersion"}
_NULLABLE_TEXT = {"type": "string", "nullable": True}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(s): {"description": "error", "content": {"application/json": {"schema": _ERROR}}} for s in statuses}


def _json(schema: dict[str, Any], description: str = "ok") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_TEMPLATE_ID = {"name": "template_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
_NUMBER = {"name": "version", "in": "path", "required": True,
           "schema": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}}
_DATASET_ID = {"name": "dataset_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
_ACTION_BODY = {"required": False, "content": {"application/json": {"schema": {"type": "object"}}}}

PATHS: dict[str, Any] = {
    "/api/templates/{template_id}/versions": {"get": {
        "summary": "A template's versions, newest first, with author, time, restored_from and runs per version",
        "parameters": [_TEMPLATE_ID],
        "responses": {"200": _json({"type": "object", "required": ["versions"], "properties": {
            "template_id": {"type": "string", "format": "uuid"}, "current_version": {"type": "integer"},
            "versions": {"type": "array", "items": {"$ref": "#/components/schemas/VersionSummary"}}}}),
            **_errors(404)}}},
    "/api/templates/{template_id}/versions/{version}": {"get": {
        "summary": "One version: body and parameters as saved, author and time",
        "parameters": [_TEMPLATE_ID, _NUMBER],
        "responses": {"200": _json(_VERSION), **_errors(404)}}},
    "/api/templates/{template_id}/versions/{version}/restore": {"post": {
        "summary": "Make a new version equal to this one (history is never rewritten); 409 when it is the "
                   "current one. Send Content-Type: application/json (or X-CSRF-Token), else 403",
        "parameters": [_TEMPLATE_ID, _NUMBER], "requestBody": _ACTION_BODY,
        "responses": {"201": _json(_VERSION, "the new version"), **_errors(400, 403, 404, 409, 413, 415, 422)}}},
    "/api/datasets": {"get": {
        "summary": "The workspace's uploaded CSVs, newest first: size, columns, rows, and where each is used",
        "responses": {"200": _json({"type": "object", "required": ["datasets"], "properties": {
            "datasets": {"type": "array", "items": {"$ref": "#/components/schemas/DatasetEntry"}}}})}}},
    "/api/datasets/{dataset_id}": {"delete": {
        "summary": "Delete a dataset (it leaves templates' samples). 409 dataset_in_use when a template's "
                   "sample or a schedule uses it, unless force=1",
        "parameters": [_DATASET_ID, {"name": "force", "in": "query", "schema": {"type": "string",
                                                                               "enum": ["0", "1"]}}],
        "responses": {"204": {"description": "deleted"}, **_errors(404, 409, 422)}}},
}

SCHEMAS: dict[str, Any] = {
    "VersionSummary": {"type": "object", "required": ["version", "created_at"], "properties": {
        "version": {"type": "integer"}, "created_at": {"type": "string", "format": "date-time"},
        "author_id": {"type": "string", "format": "uuid", "nullable": True}, "author_email": _NULLABLE_TEXT,
        "restored_from": {"type": "integer", "nullable": True}, "runs": {"type": "integer"},
        "links": {"type": "object"}}},
    "TemplateVersion": {"type": "object", "required": ["template_id", "version", "body", "parameters"],
                        "properties": {
        "template_id": {"type": "string", "format": "uuid"}, "name": {"type": "string"},
        "version": {"type": "integer"}, "current_version": {"type": "integer"}, "body": {"type": "string"},
        "parameters": {"type": "array", "items": {"type": "object"}},
        "created_at": {"type": "string", "format": "date-time"},
        "author_id": {"type": "string", "format": "uuid", "nullable": True}, "author_email": _NULLABLE_TEXT,
        "restored_from": {"type": "integer", "nullable": True}, "links": {"type": "object"}}},
    "DatasetEntry": {"type": "object", "required": ["id", "filename", "size_bytes", "used_by"], "properties": {
        "id": {"type": "string", "format": "uuid"}, "filename": {"type": "string"},
        "size_bytes": {"type": "integer"}, "created_at": {"type": "string", "format": "date-time"},
        "columns": {"type": "array", "items": {"type": "string"}, "nullable": True},
        "row_count": {"type": "integer", "nullable": True},
        "used_by": {"type": "array", "items": {"type": "object", "properties": {
            "kind": {"type": "string", "enum": ["template", "schedule", "run"]},
            "ref_id": {"type": "string", "format": "uuid"}, "label": _NULLABLE_TEXT,
            "parameter": _NULLABLE_TEXT, "detail": _NULLABLE_TEXT, "uses": {"type": "integer"}}}},
        "links": {"type": "object"}}},
}
