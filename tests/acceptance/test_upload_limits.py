"""Upload limits hold for chunked bodies, and CSRF is checked before a body is read (issue 11, item 8).

Real web process, real HTTP. Chunked bodies are sent by httpx from a generator (no Content-Length);
"before the body is read" is shown on a raw socket: the request's headers and no body at all, and the
answer comes anyway, which it could not if the server were waiting for the form.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from common.reports import load_examples
from tests.support.accounts import session_cookie
from tests.support.processes import Service, wait_for

BOUNDARY = "ceilingboundary"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
MiB = 1024 * 1024


@pytest.fixture
def web(database_url: str, services: Any) -> Service:
    return services("web", database_url)  # type: ignore[no-any-return]


def _multipart(size: int, chunk: int = 64 * 1024) -> Iterator[bytes]:
    """A multipart body with one CSV file part of ``size`` bytes, produced piece by piece."""
    yield (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\n"
           "Content-Type: text/csv\r\n\r\na,b\r\n").encode()
    sent = 0
    while sent < size:
        piece = b"1,2\n" * (chunk // 4)
        sent += len(piece)
        yield piece
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def _browser(web: Service, database_url: str) -> tuple[httpx.Client, str]:
    """A signed-in browser (session cookie, no token) with the CSRF cookie and token of a page."""
    client = web.client(role=None)
    client.cookies.set("rg_session", session_cookie(database_url, "admin"))
    page = client.get("/templates/new")
    assert page.status_code == 200, page.text
    match = TOKEN.search(page.text)
    assert match is not None and client.cookies.get("rg_csrf")
    return client, match.group(1)


MULTIPART = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


@pytest.mark.parametrize(("case", "size", "status"), [("small", 1024, 201), ("over the cap", 8 * MiB, 413)])
def test_a_chunked_dataset_upload_is_capped_while_it_streams(web: Service, case: str, size: int,
                                                             status: int) -> None:
    with web.client(timeout=60) as api:
        answer = api.post("/api/datasets", content=_multipart(size), headers=MULTIPART)
    assert answer.status_code == status, answer.text
    if status == 413:
        assert answer.json()["error"]["code"] == "payload_too_large"
        assert "larger than" in answer.json()["error"]["message"]
    else:
        assert answer.json()["rows"] > 0


def _fields(token: str, fields: int, size: int) -> Iterator[bytes]:
    yield f"csrf_token={token}&name=Big".encode()
    for n in range(fields):
        yield f"&f{n}=".encode()
        for _ in range(size // (32 * 1024)):
            yield b"x" * (32 * 1024)


@pytest.mark.parametrize(("case", "fields", "size"), [("one huge field", 1, 6 * MiB),
                                                      ("many fields, each under its cap", 12, 480 * 1024)])
def test_a_chunked_page_form_is_capped_too(web: Service, database_url: str, case: str, fields: int,
                                           size: int) -> None:
    browser, token = _browser(web, database_url)
    try:
        answer = browser.post("/templates", content=_fields(token, fields, size),
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert answer.status_code == 413, answer.text[:500]
        fine = browser.post("/templates", data={"csrf_token": token, "name": "Small", "body": "# hi",
                                                "parameters": "[]"}, follow_redirects=False)
        assert fine.status_code == 303, fine.text[:500]
    finally:
        browser.close()


def _headers_only(web: Service, path: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """POST ``path`` with a chunked body that never comes: the status and JSON the server answers."""
    host = urlsplit(web.base_url)
    lines = [f"POST {path} HTTP/1.1", f"Host: {host.netloc}", "Transfer-Encoding: chunked",
             *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    with socket.create_connection((host.hostname, host.port), timeout=10) as sock:
        sock.sendall("\r\n".join(lines).encode())
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < 2:
            more = sock.recv(65536)  # a server that waits for the body times out here (10 s)
            if not more:
                break
            data += more
    head, _, rest = data.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    payload = rest.split(b"\r\n", 1)[1] if b"transfer-encoding: chunked" in head.lower() else rest
    try:
        return status, json.loads(payload.split(b"\r\n")[0])
    except ValueError:
        return status, {}


@pytest.mark.parametrize(("case", "path", "credential"), [
    ("API upload without X-CSRF-Token", "/api/datasets", "session"),
    ("page form without the CSRF cookie", "/templates", "session"),
    ("page form posted from another site", "/templates", "session+csrf cookie, cross-site"),
])
def test_csrf_is_refused_before_the_body_is_read(web: Service, database_url: str, case: str, path: str,
                                                 credential: str) -> None:
    browser, _ = _browser(web, database_url)
    cookies = f"rg_session={browser.cookies.get('rg_session')}"
    headers = {**MULTIPART}
    if "csrf cookie" in credential:
        cookies += f"; rg_csrf={browser.cookies.get('rg_csrf')}"
        headers["Sec-Fetch-Site"] = "cross-site"
    browser.close()
    status, answer = _headers_only(web, path, {**headers, "Cookie": cookies})
    assert status == 403, (status, answer)
    if path.startswith("/api/"):
        assert answer["error"]["code"] == "csrf_rejected"


@pytest.mark.parametrize("content", [b"a\x00,b\n1,2\n", b"a,b\n1\x00,2\n"], ids=["in-a-column-name", "in-a-value"])
def test_a_csv_with_a_nul_character_is_refused_and_nothing_is_stored(web: Service, content: bytes) -> None:
    """Before: a NUL in a column name reached PostgreSQL (which cannot store it in text): a 500."""
    with web.client() as api:
        # The web seeds the examples' sample datasets as it starts: compare with the list once they are all in.
        seeded = sum(len(example.datasets) for example in load_examples())

        def all_seeded() -> dict[str, Any] | None:
            listed: dict[str, Any] = api.get("/api/datasets").json()
            return listed if len(listed["datasets"]) >= seeded else None
        before = wait_for(all_seeded, timeout=30, interval=0.2, message="the examples' datasets seeded")
        answer = api.post("/api/datasets", files={"file": ("nul.csv", content, "text/csv")})
        assert answer.status_code == 422, answer.text
        assert "NUL character" in answer.json()["error"]["message"]
        assert api.get("/api/datasets").json() == before
