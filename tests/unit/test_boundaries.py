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


def test_the_worker_never_names_the_database_driver():
    """Every job write goes through common/queue.py, which translates driver errors (issue 10)."""
    offenders = {path: names & {"psycopg", "psycopg_pool"} for path, names in imported_packages("worker").items()
                 if names & {"psycopg", "psycopg_pool"}}
    mentions = [str(p.relative_to(ROOT)) for p in (ROOT / "worker").rglob("*.py") if "psycopg" in p.read_text()]
    assert offenders == {} and mentions == []


def test_one_listener_serves_the_worker_and_the_web():
    users = sorted(str(p.relative_to(ROOT)) for package in ("worker", "web") for p in (ROOT / package).rglob("*.py")
                   if "from common.listener import" in p.read_text())
    assert users == ["web/sse.py", "worker/runner.py"]
    statements = [str(p.relative_to(ROOT)) for package in ("worker", "web", "common")
                  for p in (ROOT / package).rglob("*.py")
                  if 'execute(f"LISTEN' in p.read_text() or "pg_notify(" in p.read_text()]
    assert statements == [], "LISTEN and pg_notify live in sql/queries/ as named queries"


def test_migrations_and_runtime_do_not_import_each_other_at_module_level():
    def top_level(path: Path) -> set[str]:
        tree = ast.parse(path.read_text())
        return {node.module for node in tree.body if isinstance(node, ast.ImportFrom) and node.module}

    assert "common.migrate" not in top_level(ROOT / "common" / "runtime.py")
    assert "common.runtime" not in top_level(ROOT / "common" / "migrate.py")
