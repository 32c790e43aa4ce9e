"""Report templates: create, read, list, edit (a new version each time) and archive, per workspace.

A template's versions are immutable: editing inserts version n+1 and moves ``current_version``, so a run
keeps rendering the exact body and declarations it was started with. Input is checked here, once, for the
JSON API and the HTML forms alike, with every problem named per field (``ValidationError.details``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateSyntaxError
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from common import report_datasets
from common.errors import Conflict, NotFound, ValidationError
from common.reports import DEFAULT_LIMITS, validate_declarations
from common.reports.language import RenderState, build_environment
from common.rows import row_to_json
from common.sql import query

MAX_NAME = 200
MAX_DESCRIPTION = 2_000
FIELDS = frozenset({"name", "description", "body", "parameters", "base_version"})


@dataclass(frozen=True)
class TemplateInput:
    """A checked create or edit request."""

    name: str
    description: str
    body: str
    parameters: list[dict[str, Any]]
    base_version: int | None = None

    @classmethod
    def from_json(cls, data: object) -> TemplateInput:
        if not isinstance(data, Mapping):
            raise ValidationError("The request body must be a JSON object.")
        errors: dict[str, str] = {name: "Unknown field." for name in sorted(set(data) - FIELDS)}
        name = data.get("name")
        if not isinstance(name, str) or not name.strip() or len(name.strip()) > MAX_NAME:
            errors["name"] = f"Required: a name of 1 to {MAX_NAME} characters."
        description = data.get("description", "")
        if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
            errors["description"] = f"Text of at most {MAX_DESCRIPTION} characters."
        body = data.get("body")
        if not isinstance(body, str) or not body.strip():
            errors["body"] = "Required: the template text (Markdown with Jinja)."
        elif len(body) > DEFAULT_LIMITS.template_chars:
            errors["body"] = f"At most {DEFAULT_LIMITS.template_chars:,} characters."
        else:
            problem = syntax_problem(body)
            if problem:
                errors["body"] = problem
        parameters: list[dict[str, Any]] = []
        try:
            parameters = [p.to_dict() for p in validate_declarations(data.get("parameters", []))]
        except ValidationError as exc:
            errors.update(exc.details if isinstance(exc.details, dict) else {"parameters": exc.message})
        base = data.get("base_version")
        if base is not None and (isinstance(base, bool) or not isinstance(base, int) or not 1 <= base <= 2**31 - 1):
            errors["base_version"] = "A version number (the one you edited), or leave it out."
        if errors:
            raise ValidationError("The template is invalid: " + "; ".join(f"{k}: {v}" for k, v in errors.items()),
                                  details=errors)
        assert isinstance(name, str) and isinstance(body, str) and isinstance(description, str)
        return cls(name.strip(), description, body, parameters, base)


def parse_id(raw: object) -> str | None:
    """The canonical text of a template id, or None when ``raw`` is not a UUID."""
    if not isinstance(raw, str):
        return None
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        return None


def syntax_problem(body: str) -> str | None:
    """A syntax error found by parsing (never running) the body, so authors learn it at save time."""
    try:
        build_environment(RenderState()).parse(body)
    except TemplateSyntaxError as exc:
        return f"Line {exc.lineno}: {exc.message}"
    except RecursionError:
        return "The template is nested too deeply."
    return None


async def create(conn: AsyncConnection, workspace_id: str, new: TemplateInput, *,
                 example_slug: str | None = None, author_id: str | None = None) -> str | None:
    """Insert a template and its version 1 (saved by ``author_id``); returns its id (None: that example
    exists already)."""
    async with conn.transaction():
        cur = await conn.execute(query("template_insert"), {
            "workspace_id": workspace_id, "name": new.name, "description": new.description,
            "example_slug": example_slug})
        row = await cur.fetchone()
        if row is None:
            return None
        template_id = str(row["id"])  # type: ignore[call-overload]
        await conn.execute(query("template_version_insert"), {
            "template_id": template_id, "version": 1, "body": new.body, "parameters": Jsonb(new.parameters),
            "author_id": author_id})
    return template_id


async def new_version(conn: AsyncConnection, workspace_id: str, template_id: str, edit: TemplateInput, *,
                      author_id: str | None = None) -> int:
    """Save an edit (by ``author_id``) as the next version; 404 for unknown/archived, 409 when
    ``base_version`` is stale."""
    cur = await conn.execute(query("template_new_version"), {
        "id": template_id, "workspace_id": workspace_id, "name": edit.name, "description": edit.description,
        "body": edit.body, "parameters": Jsonb(edit.parameters), "base_version": edit.base_version,
        "author_id": author_id})
    row = await cur.fetchone()
    if row is not None:
        return int(row["version"])  # type: ignore[call-overload]
    current = await get(conn, workspace_id, template_id)
    if current["archived_at"] is not None:
        raise NotFound(f"template {template_id} is archived")
    raise Conflict(f"the template was edited meanwhile: you edited version {edit.base_version}, "
                   f"the current one is {current['current_version']}")


async def get(conn: AsyncConnection, workspace_id: str, template_id: str,
              version: int | None = None) -> dict[str, Any]:
    cur = await conn.execute(query("template_get"), {"id": template_id, "workspace_id": workspace_id,
                                                     "version": version})
    row = await cur.fetchone()
    if row is None:
        what = f"version {version} of template" if version else "template"
        raise NotFound(f"no {what} {template_id} in this workspace")
    return row  # type: ignore[return-value]


async def list_templates(conn: AsyncConnection, workspace_id: str, limit: int = 200) -> list[dict[str, Any]]:
    cur = await conn.execute(query("template_list"), {"workspace_id": workspace_id, "limit": limit})
    return await cur.fetchall()  # type: ignore[return-value]


async def versions(conn: AsyncConnection, workspace_id: str, template_id: str) -> list[dict[str, Any]]:
    cur = await conn.execute(query("template_versions_list"), {"id": template_id, "workspace_id": workspace_id})
    return await cur.fetchall()  # type: ignore[return-value]


async def check_samples(conn: AsyncConnection, workspace_id: str, parameters: list[dict[str, Any]],
                        samples: object) -> dict[str, str]:
    """The sample datasets to keep for these declarations: parameter name → dataset id of this workspace.

    Entries for names that are not dataset parameters (a parameter renamed or removed) are dropped; an id
    this workspace does not hold is a field error (``samples.<name>``)."""
    if not isinstance(samples, Mapping) or not all(isinstance(k, str) for k in samples):
        raise ValidationError("samples: an object of parameter name → dataset id",
                              details={"samples": "An object of parameter name → dataset id."})
    datasets = {p["name"] for p in parameters if p["type"] == "dataset"}
    wanted = {name: report_datasets.dataset_id(ident) for name, ident in samples.items() if name in datasets}
    known = await report_datasets.describe(conn, workspace_id, [i for i in wanted.values() if i])
    errors = {f"samples.{name}": "No such dataset in this workspace; upload the sample again."
              for name, ident in wanted.items() if ident not in known}
    if errors:
        raise ValidationError("The sample datasets are invalid.", details=errors)
    return {name: str(ident) for name, ident in wanted.items()}


async def set_samples(conn: AsyncConnection, workspace_id: str, template_id: str, samples: Mapping[str, str]) -> None:
    """Replace the template's sample datasets (checked first with ``check_samples``)."""
    await conn.execute(query("template_set_samples"), {
        "id": template_id, "workspace_id": workspace_id, "sample_datasets": Jsonb(dict(samples))})


async def archive(conn: AsyncConnection, workspace_id: str, template_id: str) -> None:
    cur = await conn.execute(query("template_archive"), {"id": template_id, "workspace_id": workspace_id})
    if await cur.fetchone() is None:
        await get(conn, workspace_id, template_id)  # 404 when it does not exist
        raise NotFound(f"template {template_id} is archived already")


def to_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """The API's view of a template row (ids as text, dates as ISO 8601)."""
    return row_to_json(row)
