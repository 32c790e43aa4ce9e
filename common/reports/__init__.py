"""The report engine: a pure library (no database, no web) that the worker and web call.

- at template save: ``validate_declarations(raw) -> list[Parameter]``
- at run creation: ``parse_csv(bytes)`` for uploads, ``validate_parameters(decls, values) -> dict``
- in ``START_RUN``: ``await render_report_async(body, values)`` (or ``render_report`` in a thread)
  → ``RenderResult`` (store ``result.to_dict()``), or ``RenderError`` (store ``error.to_dict()``)
- in ``EXPORT``: ``export_report(RenderResult.from_dict(stored), fmt, title)`` in a thread
- at first start: ``load_examples()``
"""

from common.reports.datasets import Dataset, DatasetLimits, parse_csv
from common.reports.errors import RenderError
from common.reports.examples import ExampleTemplate, load_examples
from common.reports.export import FORMATS, ExportFile, export_report, standalone_html, stylesheet
from common.reports.parameters import PARAMETER_TYPES, Parameter, validate_declarations, validate_parameters
from common.reports.render import RenderResult
from common.reports.sandbox import DEFAULT_LIMITS, RenderLimits, render_report, render_report_async

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
