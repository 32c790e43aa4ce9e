"""A real SMTP server (aiosmtpd) and a real HTTP receiver that checks webhook signatures, for tests."""

from __future__ import annotations

import email
import email.policy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.processes import free_port
from worker.webhooks import verify


class _Collect:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))  # type: ignore[arg-type]
        return "250 OK"


@contextmanager
def smtp_server() -> Iterator[tuple[str, list[EmailMessage]]]:
    """``(smtp_url, messages)``: every message the server accepted, parsed."""
    handler = _Collect()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}", handler.messages
    finally:
        controller.stop()


@dataclass
class Hook:
    secret: str
    fail_first: int = 0  # answer 500 to this many requests, then 200
    received: list[dict[str, Any]] = field(default_factory=list)  # {"body", "signature_ok", "status"}
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def webhook_receiver(hook: Hook) -> Iterator[str]:
    """An HTTP server on loopback; yields its URL. Each POST is recorded with whether its signature verifies."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            ok = verify(hook.secret, body, self.headers.get("X-Reportgen-Signature", ""))
            with hook.lock:
                status = 500 if len(hook.received) < hook.fail_first else (200 if ok else 400)
                hook.received.append({"body": body, "signature_ok": ok, "status": status})
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()
