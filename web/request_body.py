"""Reading request bodies with a size cap, and JSON that must be JSON."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from common.errors import AppError, PayloadTooLarge

MAX_DEPTH = 64


class UnsupportedMediaType(AppError):
    status = 415
    code = "unsupported_media_type"


async def read_capped(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, limit: int) -> Any:
    """The body as JSON. Requires a JSON content type, which a cross-site HTML form cannot send."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType("send the body as JSON with Content-Type: application/json")
    raw = await read_capped(request, limit)
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise AppError(f"malformed JSON: {str(exc)[:200]}", code="invalid_json") from None
    _check_storable(value, depth=0)
    return value


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def _check_storable(value: Any, depth: int) -> None:
    """PostgreSQL's jsonb refuses NUL characters and lone surrogates; refuse them here with a 400."""
    if depth > MAX_DEPTH:
        raise AppError(f"JSON nested deeper than {MAX_DEPTH} levels", code="invalid_json")
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            bad = True
        else:
            bad = "\x00" in value
        if bad:
            raise AppError("JSON strings must not contain NUL characters or unpaired surrogates",
                           code="invalid_json")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_storable(key, depth + 1)
            _check_storable(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_storable(item, depth + 1)
