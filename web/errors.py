"""Every error leaves the API as JSON ``{"error": {"code", "message"[, "details"]}}`` with a 4xx status.

A 5xx is a bug (logged with its traceback) or the database being away (503, retry later).
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from common.errors import AppError, DatabaseUnavailable, RetryLater

log = logging.getLogger(__name__)

_HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large",
               415: "unsupported_media_type"}


def error_response(status: int, code: str, message: str, details: object = None) -> JSONResponse:
    body: dict[str, object] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status)


async def app_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    response = error_response(exc.status, exc.code, exc.message, exc.details)
    if isinstance(exc, RetryLater):  # quotas, rate limits, throttles (429)
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, _HTTP_CODES.get(exc.status_code, "http_error"), str(exc.detail),
                          None)


async def database_unavailable(request: Request, exc: Exception) -> Response:
    log.warning("database unavailable while serving %s: %s", request.url.path, exc)
    response = error_response(503, "database_unavailable", "the database is not reachable; try again shortly")
    response.headers["Retry-After"] = "2"
    return response


async def unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error serving %s %s", request.method, request.url.path)
    return error_response(500, "internal_error", "an unexpected error occurred; it has been logged")


EXCEPTION_HANDLERS = {AppError: app_error, HTTPException: http_error, DatabaseUnavailable: database_unavailable,
                      Exception: unexpected}
