"""One render, in the current process: Jinja (sandboxed) → Markdown → sanitised HTML + tables.

This is what the render child process runs (``sandbox.py``); call it directly only for trusted
templates or in tests, because the Jinja sandbox alone bounds neither time nor memory.
Every failure becomes a ``RenderError`` with the template's line, never a traceback.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from jinja2 import TemplateSyntaxError, UndefinedError
from jinja2.exceptions import SecurityError, TemplateError

from common.reports.errors import RenderError
from common.reports.language import RenderState, build_environment, to_template_value
from common.reports.markdown import ReportTable, markdown_to_html, markdown_with_images

TEMPLATE_FILENAME = "<template>"


@dataclass
class RenderResult:
    """A finished report: sanitised HTML with charts, the Markdown download, and its tables."""

    html: str
    markdown: str
    tables: list[ReportTable] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, for the run row and the wire from the render process."""
        return {"html": self.html, "markdown": self.markdown, "tables": [t.to_dict() for t in self.tables]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RenderResult:
        tables = [ReportTable(columns=list(t["columns"]), rows=[list(r) for r in t["rows"]])
                  for t in data.get("tables", [])]
        return cls(html=str(data["html"]), markdown=str(data["markdown"]), tables=tables)


def render_in_process(body: str, parameters: Mapping[str, Any], *, max_output_chars: int) -> RenderResult:
    """Render ``body`` with validated ``parameters`` (names → values from ``validate_parameters``)."""
    state = RenderState()
    env = build_environment(state)
    try:
        template = env.from_string(body)
    except TemplateSyntaxError as exc:
        raise RenderError(exc.message or "syntax error", exc.lineno, "syntax") from None
    context = {name: to_template_value(value) for name, value in parameters.items()}
    context["params"] = dict(context)
    try:
        markdown = _generate(template.generate(context), max_output_chars)
    except RenderError as exc:
        raise RenderError(exc.message, exc.line or _template_line(exc.__traceback__), exc.kind) from None
    except Exception as exc:  # every template failure ends here, translated for its author
        raise _translate(exc) from None
    html, tables = markdown_to_html(markdown, state.charts)
    final_cap = max_output_chars * 4  # charts add SVG: each output is bounded in its final form
    if len(html) > final_cap:
        raise RenderError(f"the rendered report is larger than {final_cap:,} characters", None, "limit")
    download = markdown_with_images(markdown, state.charts)
    if len(download) > final_cap:
        raise RenderError(f"the Markdown download is larger than {final_cap:,} characters", None, "limit")
    return RenderResult(html=html, markdown=download, tables=tables)


def _generate(chunks: Any, max_output_chars: int) -> str:
    """Join the template's output, stopping as soon as it passes the output limit."""
    parts: list[str] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > max_output_chars:
            raise RenderError(f"the report is longer than {max_output_chars:,} characters", kind="limit")
        parts.append(chunk)
    return "".join(parts)


def _translate(exc: BaseException) -> RenderError:
    line = _template_line(exc.__traceback__)
    if isinstance(exc, UndefinedError):
        return RenderError(exc.message or "undefined value", line, "undefined")
    if isinstance(exc, SecurityError):
        return RenderError(f"not allowed: {exc.message}", line, "security")
    if isinstance(exc, TemplateError):
        return RenderError(exc.message or type(exc).__name__, line, "error")
    if isinstance(exc, RecursionError):
        return RenderError("macros or loops are nested too deeply", line, "recursion")
    if isinstance(exc, MemoryError):
        return RenderError("the report needed more memory than allowed", line, "memory")
    if isinstance(exc, OverflowError) and "range" in str(exc).lower():
        return RenderError(str(exc), line, "limit")
    return RenderError(f"{_describe(exc)}", line, "error")


def _describe(exc: BaseException) -> str:
    names = {ZeroDivisionError: "division by zero", OverflowError: "number too large"}
    for kind, text in names.items():
        if isinstance(exc, kind):
            return text
    message = str(exc)[:300]
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _template_line(tb: TracebackType | None) -> int | None:
    """The last template line in a traceback that Jinja rewrote to point into the template."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == TEMPLATE_FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
