"""The one home for the project's errors.

``web/`` and ``worker/`` never see a raw psycopg error: the database layer translates them into
``DatabaseUnavailable``; the API turns ``AppError`` subclasses into JSON 4xx answers.
"""

from __future__ import annotations


class ReportGenError(Exception):
    """Base class of every error the project raises on purpose."""


class ConfigError(ReportGenError):
    """Bad configuration: start-up stops with this one line."""


class DatabaseUnavailable(ReportGenError):
    """The database could not be reached or the connection broke; the caller may retry later."""


class LeaseLost(ReportGenError):
    """A fenced write matched no row: another attempt owns the job now (rescued, cancelled or given back)."""


class AppError(ReportGenError):
    """An error answered to an API client as ``{"error": {"code", "message"}}`` with ``status``."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: object = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details


class ValidationError(AppError):
    status = 422
    code = "validation_error"


class NotFound(AppError):
    status = 404
    code = "not_found"


class Conflict(AppError):
    status = 409
    code = "conflict"


class ExportRefusedError(AppError):
    """A download that broke its limits (a PDF over its pages, time or memory): answered with the reason."""

    status = 422
    code = "export_refused"


class PayloadTooLarge(AppError):
    status = 413
    code = "payload_too_large"


class Forbidden(AppError):
    status = 403
    code = "forbidden"


class RetryLater(AppError):
    """429 with ``Retry-After``: the one shape of every quota, rate limit and throttle (DESIGN.md)."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, details: object = None) -> None:
        super().__init__(message, details=details)
        self.retry_after = max(1, int(retry_after))


class QuotaExceeded(RetryLater):
    """A workspace (or user) is at one of its quotas (common/quotas.py); ``details`` name the limit
    (``limit``, its ``setting``, ``max``, ``current``)."""

    code = "quota_exceeded"


class QueueError(ReportGenError):
    """A queue statement failed for a reason other than an unreachable database (a bug, or data the
    database refused); the queue boundary (common/queue.py) raises it instead of the driver's error."""


class ResultNotStorable(ReportGenError):
    """A handler returned a result that PostgreSQL's jsonb cannot hold (NaN, infinity, a NUL character,
    a datetime, a Decimal, an object): that attempt fails with this error instead of stopping the worker."""
