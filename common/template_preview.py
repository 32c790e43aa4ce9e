"""Live preview of a template being edited: render it on its sample data, in the runs' sandbox.

The body and declarations come from the editor (unsaved); the values are the template's samples: each
dataset parameter takes its sample CSV (the template's ``sample_datasets``, or ``samples`` sent with the
request, both scoped to the workspace), every other parameter its default, or a stand-in that passes its
own rules (the label for text, ``min`` or 0 for numbers, the first choice, ...). The render goes through
``render_report_async`` with the runs' limits: the same child process, rlimits and deadline as a run,
so a preview can never do what a run could not.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from common import report_datasets, report_templates
from common.errors import ValidationError
from common.reports import (
    DEFAULT_LIMITS,
    Parameter,
    RenderError,
    RenderLimits,
    render_report_async,
    validate_parameters,
)
from common.reports.datasets import parse_csv
from common.reports.parameters import validate_declarations


@dataclass(frozen=True)
class PreviewRequest:
    body: str
    parameters: list[dict[str, Any]]
    template_id: str | None
    samples: dict[str, str]

    @classmethod
    def from_json(cls, data: object) -> PreviewRequest:
        if not isinstance(data, Mapping):
            raise ValidationError("The request body must be a JSON object.")
        errors: dict[str, str] = {}
        body = data.get("body")
        if not isinstance(body, str):
            errors["body"] = "Required: the template text."
        parameters = data.get("parameters", [])
        if not isinstance(parameters, list):
            errors["parameters"] = "Must be a list."
        raw_id = data.get("template_id")
        template_id = report_templates.parse_id(raw_id) if raw_id is not None else None
        if raw_id is not None and template_id is None:
            errors["template_id"] = "A template id (UUID), or leave it out."
        samples = data.get("samples") or {}
        if not isinstance(samples, Mapping) or not all(
                isinstance(k, str) and report_datasets.dataset_id(v) for k, v in samples.items()):
            errors["samples"] = "An object of parameter name → dataset id."
            samples = {}
        if errors:
            raise ValidationError("The preview request is invalid: " +
                                  "; ".join(f"{k}: {v}" for k, v in errors.items()), details=errors)
        assert isinstance(body, str) and isinstance(parameters, list)
        return cls(body.replace("\r\n", "\n"), parameters, template_id,
                   {k: str(report_datasets.dataset_id(v)) for k, v in samples.items()})


def stand_in(param: Parameter) -> Any:
    """A value for a parameter without a sample: its default, else one its own rules accept."""
    if param.default is not None:
        return param.default
    if param.type == "number":
        return param.min if param.min is not None else 0
    if param.type == "date":
        return param.min if param.min is not None else dt.date.today()
    if param.type == "choice":
        return param.choices[0] if param.choices else None
    if param.type == "boolean":
        return False
    if param.type == "text":
        text = param.label or param.name
        return text[: param.max_length] if param.max_length else text
    return None


async def preview(conn: AsyncConnection, workspace_id: str, request: PreviewRequest,
                  limits: RenderLimits = DEFAULT_LIMITS) -> dict[str, Any]:
    """``{"html", "elapsed_ms"}`` or ``{"error": {"message", "line", "kind"}}`` (the run page's words).

    Invalid declarations raise ``ValidationError`` (the API's 422, the same details as a save)."""
    declarations = validate_declarations(request.parameters)
    samples: dict[str, str] = {}
    if request.template_id is not None:
        template = await report_templates.get(conn, workspace_id, request.template_id)
        samples.update({k: str(v) for k, v in (template.get("sample_datasets") or {}).items()})
    samples.update(request.samples)
    wanted = [samples[p.name] for p in declarations if p.type == "dataset" and p.name in samples]
    contents = await report_datasets.load(conn, workspace_id, wanted)
    values: dict[str, Any] = {}
    for param in declarations:
        if param.type == "dataset":
            data = contents.get(samples.get(param.name, ""))
            if data is None:
                return {"error": {"message": f"{param.name}: upload a sample CSV for this dataset to preview "
                                  "the report", "line": None, "kind": "parameters"}}
            values[param.name] = data
        else:
            values[param.name] = stand_in(param)
    try:
        typed = validate_parameters(declarations, values, dataset_limits=report_datasets.LIMITS)
    except ValidationError as exc:
        message = "; ".join(f"{k}: {v}" for k, v in exc.details.items()) \
            if isinstance(exc.details, dict) else exc.message
        return {"error": {"message": f"invalid parameters: {message}", "line": None, "kind": "parameters"}}
    started = time.perf_counter()
    try:
        result = await render_report_async(request.body, typed, limits)
    except RenderError as exc:
        return {"error": exc.to_dict()}
    return {"html": result.html, "elapsed_ms": round((time.perf_counter() - started) * 1000, 1)}


async def sample_columns(conn: AsyncConnection, workspace_id: str, samples: Mapping[str, str]
                         ) -> dict[str, list[str]]:
    """Column names of each sample dataset (parameter name → columns), offered for completion."""
    contents = await report_datasets.load(conn, workspace_id, [str(v) for v in samples.values()])
    out: dict[str, list[str]] = {}
    for name, ident in samples.items():
        data = contents.get(str(ident))
        if data is None:
            continue
        try:
            out[name] = list(parse_csv(data, limits=report_datasets.LIMITS).columns)
        except ValidationError:
            continue
    return out
