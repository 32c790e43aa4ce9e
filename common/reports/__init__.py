"""The report engine: a pure library (no database, no web) that the worker and web call.

- at template save: ``validate_declarations(raw) -> list[Parameter]``
- at run creation: ``parse_csv(bytes)`` for uploads, ``validate_parameters(decls, values) -> dict``
- in ``START_RUN``: ``await render_report_async(body, values)`` (or ``render_report`` in a thread)
  → ``RenderResult`` (store ``result.to_dict()``), or ``RenderError`` (store ``error.to_dict()``)
- in ``EXPORT``: ``export_report(RenderResult.from_dict(stored), fmt, title)`` in a thread
- at first start: ``load_examples()``
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from common.reports.datasets import Dataset, DatasetLimits, parse_csv
    from common.reports.errors import RenderError
    from common.reports.examples import ExampleTemplate, load_examples
    from common.reports.export import FORMATS, ExportFile, export_report, standalone_html, stylesheet
    from common.reports.parameters import PARAMETER_TYPES, Parameter, validate_declarations, validate_parameters
    from common.reports.render import RenderResult
    from common.reports.sandbox import DEFAULT_LIMITS, RenderLimits, render_report, render_report_async

# Where each name lives. Resolved on first use (PEP 562), not at import: the render and PDF children import
# ``common.reports.child`` and one engine module each, and must not pay for the rest of the package at every
# start (they are one-use processes, so every report pays their imports: Jinja2 and Markdown were ~100 ms of a
# PDF child's 627 ms of CPU; bench/child_start.py).
_WHERE = {
    "Dataset": "common.reports.datasets",
    "DatasetLimits": "common.reports.datasets",
    "parse_csv": "common.reports.datasets",
    "RenderError": "common.reports.errors",
    "ExampleTemplate": "common.reports.examples",
    "load_examples": "common.reports.examples",
    "FORMATS": "common.reports.export",
    "ExportFile": "common.reports.export",
    "export_report": "common.reports.export",
    "standalone_html": "common.reports.export",
    "stylesheet": "common.reports.export",
    "PARAMETER_TYPES": "common.reports.parameters",
    "Parameter": "common.reports.parameters",
    "validate_declarations": "common.reports.parameters",
    "validate_parameters": "common.reports.parameters",
    "RenderResult": "common.reports.render",
    "DEFAULT_LIMITS": "common.reports.sandbox",
    "RenderLimits": "common.reports.sandbox",
    "render_report": "common.reports.sandbox",
    "render_report_async": "common.reports.sandbox",
}


def __getattr__(name: str) -> Any:
    """A name of ``__all__`` from its module, or a submodule (``common.reports.sandbox``) as before."""
    where = _WHERE.get(name)
    if where is not None:
        value = getattr(importlib.import_module(where), name)
    else:
        try:
            value = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_LIMITS",
    "FORMATS",
    "PARAMETER_TYPES",
    "Dataset",
    "DatasetLimits",
    "ExampleTemplate",
    "ExportFile",
    "Parameter",
    "RenderError",
    "RenderLimits",
    "RenderResult",
    "export_report",
    "load_examples",
    "parse_csv",
    "render_report",
    "render_report_async",
    "standalone_html",
    "stylesheet",
    "validate_declarations",
    "validate_parameters",
]
