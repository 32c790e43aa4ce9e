"""Acceptance fixtures: start real services and always stop them, keeping their logs on failure."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.processes import Service


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Callable[..., Service]]:
    started: list[Service] = []

    def start(module: str, database_url: str, *, wait_healthy: bool = True, **env: object) -> Service:
        service = Service(module, database_url, env={k: str(v) for k, v in env.items()}, log_dir=tmp_path)
        started.append(service)
        return service.start(wait_healthy=wait_healthy)

    yield start
    for service in started:
        if service.process is not None and service.process.poll() is None:
            service.process.kill()
            service.process.wait()
