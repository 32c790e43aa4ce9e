"""Real worker and web processes for acceptance tests, and bounded waiting without bare sleeps."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from common.process_guard import drop_capabilities

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], T], *, timeout: float, message: str, interval: float = 0.02) -> T:
    """Poll ``predicate`` until it returns something truthy; fail with ``message`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s: {message} (last value: {last!r})")


@dataclass
class Service:
    """One ``python -m web`` or ``python -m worker`` process with its own port and log file."""

    module: str
    database_url: str
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    log_dir: Path = field(default_factory=lambda: Path(os.environ.get("TMPDIR", "/tmp")))
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    tokens: dict[str, str] = field(default_factory=dict)
    # Start it without capabilities, as the container's user runs (tests may run as root, whose
    # CAP_SYS_PTRACE would hide what a same-uid process can and cannot read: test_child_secrets).
    unprivileged: bool = False

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.module}-{self.port}.log"

    def start(self, *, wait_healthy: bool = True) -> Service:
        env = {**os.environ, "DATABASE_URL": self.database_url, "PORT": str(self.port), "LOG_LEVEL": "INFO",
               "REPORTGEN_HANDLER_MODULES": "tests.support.handlers", "PYTHONPATH": str(ROOT), **self.env}
        env.pop("TEST_DATABASE_URL", None)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen([sys.executable, "-m", self.module, *self.args], cwd=ROOT, env=env,
                                            stdout=log, stderr=subprocess.STDOUT,
                                            preexec_fn=drop_capabilities if self.unprivileged else None)
        if wait_healthy:
            wait_for(self.healthy, timeout=30, message=f"{self.module} on port {self.port} to answer /healthz; "
                     f"log: {self.log_path}")
        return self

    def client(self, *, timeout: float = 30, role: str | None = "admin", token: str | None = None) -> httpx.Client:
        """An HTTP client for this service's API. Every test that calls the web's API goes through here,
        so credentials are added in one place: an API token of a ``role`` member of the default workspace
        (made once per service and role), or ``token``; ``role=None`` for an anonymous client."""
        headers = {}
        if token is None and role is not None:
            from tests.support.accounts import api_token

            token = self.tokens.get(role) or self.tokens.setdefault(role, api_token(self.database_url, role))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.Client(base_url=self.base_url, timeout=timeout, headers=headers)

    def session_client(self, *, role: str = "admin", timeout: float = 30) -> httpx.Client:
        """An HTTP client that acts like a signed-in browser: the ``rg_session`` cookie, no token (so the
        CSRF rules for cookie-authenticated requests apply to it)."""
        from tests.support.accounts import session_cookie

        client = httpx.Client(base_url=self.base_url, timeout=timeout)
        client.cookies.set("rg_session", session_cookie(self.database_url, role), domain="127.0.0.1")
        return client

    def healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"{self.module} exited with {self.process.returncode}:\n{self.log()}")
        try:
            return httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.base_url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        """The value of one sample on /metrics (0 when absent)."""
        from prometheus_client.parser import text_string_to_metric_families

        text = httpx.get(f"{self.base_url}/metrics", timeout=5).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in (labels or {}).items()):
                    return float(sample.value)
        return 0.0

    def signal(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def wait_exit(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except OSError:
            return ""
