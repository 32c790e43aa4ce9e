"""Security headers on every response: no framing, no sniffing, and a strict Content-Security-Policy.

Pages load scripts and styles only from this origin (no inline script), so rendered reports, even if
a sanitiser missed something, cannot run script in a viewer's browser.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")



def csp_with_style_nonce(nonce: str) -> str:
    """The CSP for a page whose script injects styles (the editor: CodeMirror writes its theme into a
    ``<style>`` element). Only a ``<style>`` carrying this response's random nonce is allowed; scripts
    stay ``'self'`` only and no ``'unsafe-inline'`` appears anywhere."""
    return CSP.replace("style-src 'self'", f"style-src 'self' 'nonce-{nonce}'")


HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                existing = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (k, v) for k, v in HEADERS if k not in existing]
            await send(message)

        await self.app(scope, receive, send_with_headers)
