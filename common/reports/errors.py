"""Errors of the report engine.

``RenderError`` lives here rather than in ``common/errors.py`` because only the engine raises it; it
still derives from ``ReportGenError`` so callers can catch every project error with one class. Bad
input (parameters, CSV uploads, template declarations) raises ``common.errors.ValidationError``
instead, because the API answers those with a 422.
"""

from __future__ import annotations

from common.errors import ReportGenError

#: The kinds a ``RenderError`` can have; the worker may store the kind next to the message.
RENDER_ERROR_KINDS = frozenset(
    {
        "syntax",  # the template does not parse
        "undefined",  # the template used a name that is not defined
        "security",  # the sandbox refused an operation (attribute escape, mutation, ...)
        "limit",  # a size limit inside the render (range, string, output, chart points, ...)
        "timeout",  # wall-clock deadline passed; the render process was killed
        "cpu",  # CPU-time limit reached (RLIMIT_CPU)
        "memory",  # memory limit reached (RLIMIT_AS)
        "recursion",  # macros or loops nested too deep
        "error",  # any other failure of the template (division by zero, bad filter argument, ...)
        "internal",  # the render process failed for a reason that is not the template's fault
    }
)


class RenderError(ReportGenError):
    """A template failed to render: a message for the template's author and, when known, its line.

    Never carries a Python traceback: the message is what the run page shows.
    """

    def __init__(self, message: str, line: int | None = None, kind: str = "error") -> None:
        if kind not in RENDER_ERROR_KINDS:
            raise ValueError(f"unknown render error kind {kind!r}")
        super().__init__(message)
        self.message = message
        self.line = line
        self.kind = kind

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message

    def to_dict(self) -> dict[str, object]:
        """JSON-safe form, for the job's ``error`` column and the wire from the render process."""
        return {"message": self.message, "line": self.line, "kind": self.kind}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> RenderError:
        line = data.get("line")
        kind = data.get("kind")
        return cls(
            str(data.get("message", "render failed")),
            line if isinstance(line, int) else None,
            kind if isinstance(kind, str) and kind in RENDER_ERROR_KINDS else "internal",
        )


class ExportRefused(ReportGenError):
    """A download could not be made within its limits (pages, bytes, time, memory).

    Deterministic for a given report, so the export is not retried: the reason is stored per run and
    format and shown on the run page, and the download answers 422 ``export_refused`` with it."""

    def __init__(self, message: str, kind: str = "limit") -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind

    def to_dict(self) -> dict[str, object]:
        return {"message": self.message, "kind": self.kind}
