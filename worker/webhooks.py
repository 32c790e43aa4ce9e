"""Webhook deliveries: a signed POST to an address that is checked before every connection.

The signature is Stripe's scheme, so existing verifiers work: ``X-Reportgen-Signature: t=<unix seconds>,
v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``. A 2xx answer means delivered; anything else (a 3xx
too: redirects are never followed, since a redirect could point anywhere) is a failed attempt.

Server-side request forgery: the host is resolved here and *every* address it resolves to must be public
(no private, loopback, link-local — Cloud Run's metadata server is 169.254.169.254 —, multicast, reserved
or unspecified address, IPv4-mapped ones included) unless ``WEBHOOK_ALLOW_PRIVATE=1``; the connection
then goes to the checked address itself (SNI and Host still name the host), so a second DNS answer
cannot swap it. 10 s timeout for connect and for each read; at most 64 KiB of the answer is read.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

TIMEOUT_SECONDS = 10.0
MAX_RESPONSE_BYTES = 64 * 1024
USER_AGENT = "report-generator-webhook/1"


class WebhookRefused(Exception):
    """The target may not be reached (a private address, a bad URL): retrying will not help."""


class WebhookFailed(Exception):
    """The attempt reached nothing, or the receiver answered other than 2xx."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes


def signature(secret: str, body: bytes, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(secret: str, body: bytes, header: str, tolerance_seconds: float = 300) -> bool:
    """What a receiver does (used by the tests; documented in docs/schedules.md)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(parts["t"])
    except (KeyError, ValueError):
        return False
    expected = signature(secret, body, t).split("v1=", 1)[1]
    return abs(time.time() - t) <= tolerance_seconds and hmac.compare_digest(expected, parts.get("v1", ""))


def _refused_reason(address: str) -> str | None:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for name in ("is_loopback", "is_link_local", "is_private", "is_multicast", "is_reserved", "is_unspecified"):
        if getattr(ip, name):
            return f"{address} is {name[3:].replace('_', '-')}"
    return None


def resolve_allowed(host: str, port: int, allow_private: bool) -> list[str]:
    """Every address of ``host``; WebhookRefused if any is private (and that is not allowed)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise WebhookFailed(f"cannot resolve {host}: {exc}") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not allow_private:
        for address in addresses:
            reason = _refused_reason(address)
            if reason:
                raise WebhookRefused(f"refused: {host} resolves to {reason} (set WEBHOOK_ALLOW_PRIVATE=1 "
                                     "to allow private targets)")
    return addresses


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def post(url: str, body: bytes, secret: str, *, allow_private: bool, timeout: float = TIMEOUT_SECONDS) -> Answer:
    """Blocking: run it in a thread. Raises WebhookRefused, or WebhookFailed for a non-2xx or no answer."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookRefused(f"not an http(s) URL: {url[:200]!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = resolve_allowed(parts.hostname, port, allow_private)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    kind = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    conn = kind(parts.hostname, port, addresses[0], timeout)
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
               "X-Reportgen-Signature": signature(secret, body)}
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read(MAX_RESPONSE_BYTES)
    except (OSError, http.client.HTTPException) as exc:
        raise WebhookFailed(f"POST {parts.hostname}: {type(exc).__name__}: {exc}") from None
    finally:
        conn.close()
    if not 200 <= response.status < 300:
        hint = " (redirects are not followed)" if 300 <= response.status < 400 else ""
        raise WebhookFailed(f"POST {parts.hostname}: HTTP {response.status}{hint}")
    return Answer(response.status, data)
