"""The layout is the architecture: web/ and worker/ never import each other; both use common/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported_packages(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


@pytest.mark.parametrize(("package", "forbidden"), [("web", {"worker", "reportgen"}),
                                                    ("worker", {"web", "reportgen"}),
                                                    ("common", {"web", "worker", "reportgen"})])
def test_layers_do_not_import_across(package, forbidden):
    offenders = {path: names & forbidden for path, names in imported_packages(package).items() if names & forbidden}
    assert offenders == {}


def test_the_check_sees_real_imports():
    assert "common" in imported_packages("web")["web/app.py"]
    assert "common" in imported_packages("worker")["worker/runner.py"]
