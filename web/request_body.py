"""Reading request bodies with a size cap, and JSON that must be JSON.

Every body is capped while it streams in, not only by its ``Content-Length``: a chunked request has
none, and would otherwise reach the JSON decoder or the form parser (which spools files) uncapped.
``read_form`` gives Starlette's form parser a request whose ``receive`` raises ``PayloadTooLarge``
(413) as soon as more than ``limit`` bytes arrived.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import Message

from common.errors import AppError, PayloadTooLarge, ValidationError

MAX_DEPTH = 64


class UnsupportedMediaType(AppError):
    status = 415
    code = "unsupported_media_type"


async def read_capped(request: Request, limit: int) -> bytes:
    """The whole body, at most ``limit`` bytes (chunked or not)."""
    chunks: list[bytes] = []
    async for chunk in capped(request, limit).stream():
        chunks.append(chunk)
    return b"".join(chunks)


def capped(request: Request, limit: int) -> Request:
    """The same request (scope, state), whose body raises ``PayloadTooLarge`` past ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body is larger than {limit} bytes")
    received = 0

    async def receive() -> Message:
        nonlocal received
        message = await request.receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise PayloadTooLarge(f"request body is larger than {limit} bytes")
        return message

    return Request(request.scope, receive)


async def read_form(request: Request, limit: int, *, max_files: int, max_fields: int,
                    max_part_size: int = 1024 * 1024) -> FormData:
    """An urlencoded or multipart form of at most ``limit`` bytes, chunked or not. Check CSRF first
    (``web.csrf.precheck_form`` or ``check_header``): this reads the body."""
    try:
        return await capped(request, limit).form(max_files=max_files, max_fields=max_fields,
                                                 max_part_size=max_part_size)
    except PayloadTooLarge:
        raise
    except HTTPException as exc:  # Starlette's parsers: 400 with a message
        if "maximum size" in str(exc.detail):  # one field over max_part_size
            raise PayloadTooLarge(f"a form field is larger than {max_part_size} bytes") from None
        raise ValidationError(f"malformed form body: {str(exc.detail)[:200]}") from None
    except Exception as exc:  # the multipart parser's own errors
        raise ValidationError(f"malformed form body: {str(exc)[:200]}") from None


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
