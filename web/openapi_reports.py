"""The report product's part of ``/openapi.json``: templates, datasets, runs, reports, live events.

Kept beside ``web/openapi.py`` (which merges it) so that each API module's description sits in one place.
"""

from __future__ import annotations

from typing import Any

_ERROR = {"$ref": "#/components/schemas/Error"}
_TEMPLATE = {"$ref": "#/components/schemas/Template"}
_RUN = {"$ref": "#/components/schemas/Run"}
_SHARE = {"$ref": "#/components/schemas/Share"}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(s): {"description": "error", "content": {"application/json": {"schema": _ERROR}}} for s in statuses}


def _json(schema: dict[str, Any], description: str = "ok") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _uuid_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}


_CSRF_HEADER = {"name": "X-CSRF-Token", "in": "header", "required": False, "schema": {"type": "string"},
                "description": "required for multipart bodies: a token from GET /api/csrf"}
_TEMPLATE_BODY = {"required": True, "content": {"application/json": {"schema": {
    "$ref": "#/components/schemas/TemplateInput"}}}}

PATHS: dict[str, Any] = {
    "/api/csrf": {"get": {"summary": "A CSRF token for multipart API calls (header X-CSRF-Token)",
                          "responses": {"200": _json({"type": "object", "properties": {
                              "csrf_token": {"type": "string"}, "header": {"type": "string"}}})}}},
    "/api/templates": {
        "get": {"summary": "Live templates, most recently edited first",
                "responses": {"200": _json({"type": "object", "properties": {
                    "templates": {"type": "array", "items": _TEMPLATE}}})}},
        "post": {"summary": "Create a template (version 1)", "requestBody": _TEMPLATE_BODY,
                 "responses": {"201": _json(_TEMPLATE, "created"), **_errors(400, 413, 415, 422)}},
    },
    "/api/templates/parameters/check": {"post": {
        "summary": "Check parameter declarations with the rules of a save (the editor's builder, as you type)",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["parameters"], "additionalProperties": False,
            "properties": {"parameters": {"description": "the declarations to check (any JSON: what is not a "
                                                         "list of declarations is the answer's errors)"}}}}}},
        "responses": {"200": _json({"type": "object", "required": ["valid", "parameters", "errors"], "properties": {
            "valid": {"type": "boolean"},
            "parameters": {"type": "array", "nullable": True, "items": {"type": "object"},
                           "description": "the declarations as a save would store them (null when invalid)"},
            "errors": {"type": "object", "additionalProperties": {"type": "string"},
                       "description": "message per field: parameters[i].key"}}}),
            **_errors(400, 413, 415, 422)}}},
    "/api/templates/{template_id}": {
        "get": {"summary": "A template at its current version, or ?version=n",
                "parameters": [_uuid_param("template_id"),
                               {"name": "version", "in": "query", "schema": {"type": "integer", "minimum": 1}}],
                "responses": {"200": _json(_TEMPLATE), **_errors(404, 422)}},
        "put": {"summary": "Edit: saves a new version (409 when base_version is not the current one)",
                "parameters": [_uuid_param("template_id")], "requestBody": _TEMPLATE_BODY,
                "responses": {"200": _json(_TEMPLATE), **_errors(400, 404, 409, 413, 415, 422)}},
        "delete": {"summary": "Archive (runs keep their version and stay readable)",
                   "parameters": [_uuid_param("template_id")],
                   "responses": {"204": {"description": "archived"}, **_errors(404)}},
    },
    "/api/datasets": {"post": {
        "summary": "Upload a CSV (multipart part 'file'; .csv/.tsv/.txt, UTF-8, at most 5 MiB)",
        "parameters": [_CSRF_HEADER],
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {"file": {"type": "string", "format": "binary"}}}}}},
        "responses": {"201": _json({"type": "object", "properties": {
            "id": {"type": "string", "format": "uuid"}, "filename": {"type": "string"},
            "columns": {"type": "array", "items": {"type": "string"}}, "rows": {"type": "integer"}}}, "created"),
            **_errors(400, 403, 413, 415, 422, 429)}}},
    "/api/runs": {
        "get": {"summary": "Recent runs", "responses": {"200": _json({"type": "object", "properties": {
            "runs": {"type": "array", "items": _RUN}}})}},
        "post": {"summary": "Start a run: parameters are checked against the template (422 names each bad "
                            "field); the run and its START_RUN job are created in one transaction",
                 "parameters": [_CSRF_HEADER],
                 "requestBody": {"required": True, "content": {
                     "application/json": {"schema": {"type": "object", "required": ["template_id"], "properties": {
                         "template_id": {"type": "string", "format": "uuid"},
                         "parameters": {"type": "object", "description": "name → value; datasets by id"}}}},
                     "multipart/form-data": {"schema": {"type": "object", "required": ["template_id"], "properties": {
                         "template_id": {"type": "string"}, "parameters": {"type": "string",
                                                                           "description": "a JSON object"}},
                         "additionalProperties": {"type": "string", "format": "binary"}}}}},
                 "responses": {"201": _json(_RUN, "created"), **_errors(400, 403, 404, 409, 413, 415, 422, 429)}},
    },
    "/api/runs/{run_id}": {"get": {"summary": "One run (status, progress, error with the template line)",
                                   "parameters": [_uuid_param("run_id")],
                                   "responses": {"200": _json(_RUN), **_errors(404)}}},
    "/api/runs/{run_id}/cancel": {"post": {
        "summary": "Cancel a queued or running run (editor): 200 cancelled, 202 its worker is stopping it, "
                   "409 when it has finished",
        "parameters": [_uuid_param("run_id")],
        "requestBody": {"required": False, "content": {"application/json": {"schema": {"type": "object"}}}},
        "responses": {"200": _json(_RUN), "202": _json(_RUN, "stopping"), **_errors(403, 404, 409)}}},
    "/api/runs/{run_id}/report": {"get": {
        "summary": "The report: html (inline), pdf, md, csv (downloads). A PDF not made yet: 202, ask again",
        "parameters": [_uuid_param("run_id"),
                       {"name": "format", "in": "query", "schema": {"type": "string",
                                                                    "enum": ["html", "pdf", "md", "csv"]}},
                       {"name": "download", "in": "query", "schema": {"type": "string", "enum": ["1"]}}],
        "responses": {"200": {"description": "the report", "content": {
            "text/html": {}, "application/pdf": {}, "text/markdown": {}, "text/csv": {}, "application/zip": {}}},
            "202": _json({"type": "object"}, "the PDF is being made"), **_errors(404, 409, 422)}}},
    "/api/runs/{run_id}/events": {"get": {
        "summary": "Server-Sent Events: 'run' (the run as JSON) on every change, heartbeats, 'end' when final; "
                   "with report=html, a COMPLETED run's sanitised report HTML as 'report' before 'end'",
        "parameters": [_uuid_param("run_id"),
                       {"name": "report", "in": "query", "schema": {"type": "string", "enum": ["html"]}}],
        "responses": {"200": {"description": "event stream", "content": {"text/event-stream": {}}},
                      **_errors(404, 422, 429)}}},
    "/api/runs/{run_id}/shares": {
        "post": {"summary": "A read-only share link to a COMPLETED run (editors); its url holds the token, "
                            "shown this once. Without a JSON body: send X-CSRF-Token",
                 "parameters": [_uuid_param("run_id"), _CSRF_HEADER],
                 "requestBody": {"required": False, "content": {"application/json": {"schema": {
                     "type": "object", "additionalProperties": False, "properties": {
                         "expires_days": {"type": "integer", "minimum": 1, "maximum": 3650, "nullable": True}}}}}},
                 "responses": {"201": _json(_SHARE, "created"), **_errors(400, 403, 404, 409, 413, 415, 422)}},
        "get": {"summary": "The run's share links (never their tokens)", "parameters": [_uuid_param("run_id")],
                "responses": {"200": _json({"type": "object", "properties": {
                    "shares": {"type": "array", "items": _SHARE}}}), **_errors(404)}},
    },
    "/api/shares/{share_id}": {"delete": {
        "summary": "Revoke a share link (its page and downloads answer 404 at once)",
        "parameters": [_uuid_param("share_id")],
        "responses": {"204": {"description": "revoked"}, **_errors(404)}}},
}

SCHEMAS: dict[str, Any] = {
    "Share": {"type": "object", "required": ["id", "run_id", "active"], "properties": {
        "id": {"type": "string", "format": "uuid"}, "run_id": {"type": "string", "format": "uuid"},
        "created_by": {"type": "string", "format": "uuid", "nullable": True},
        "created_at": {"type": "string"}, "expires_at": {"type": "string", "nullable": True},
        "revoked_at": {"type": "string", "nullable": True}, "active": {"type": "boolean"},
        "url": {"type": "string", "description": "create only: the link, with its token"},
        "path": {"type": "string", "description": "create only: /s/<token>"}, "links": {"type": "object"}}},
    "TemplateInput": {"type": "object", "required": ["name", "body"], "additionalProperties": False, "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "description": {"type": "string", "maxLength": 2000},
        "body": {"type": "string", "minLength": 1, "description": "Markdown with Jinja (docs/reports.md)"},
        "parameters": {"type": "array", "items": {"type": "object"}},
        "base_version": {"type": "integer", "minimum": 1, "description": "PUT: the version you edited"}}},
    "Template": {"type": "object", "required": ["id", "name", "current_version"], "properties": {
        "id": {"type": "string", "format": "uuid"}, "name": {"type": "string"},
        "description": {"type": "string"}, "current_version": {"type": "integer"},
        "body": {"type": "string"}, "parameters": {"type": "array", "items": {"type": "object"}}}},
    "Run": {"type": "object", "required": ["id", "status"], "properties": {
        "id": {"type": "string", "format": "uuid"}, "template_id": {"type": "string", "format": "uuid"},
        "template_version": {"type": "integer"},
        "status": {"type": "string", "enum": ["QUEUED", "IN_PROGRESS", "COMPLETED", "FAILED", "CANCELLED"]},
        "progress": {"type": "number"}, "parameters": {"type": "object"},
        "error": {"type": "object", "nullable": True, "properties": {
            "message": {"type": "string"}, "line": {"type": "integer", "nullable": True},
            "kind": {"type": "string"}}},
        "exports": {"type": "array", "items": {"type": "string"}}, "links": {"type": "object"}}},
}
