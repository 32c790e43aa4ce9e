"""Install the competitors into the bench's own folders (never into the project's venv).

``bench/.work/venv``: procrastinate, pgqueuer, matplotlib and profilers, pinned in competitors/requirements.txt.
``bench/.work/node``: graphile-worker, pinned in competitors/package.json. Idempotent (a stamp per input).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
WORK_DIR = BENCH_DIR / ".work"
VENV_DIR = WORK_DIR / "venv"
NODE_DIR = WORK_DIR / "node"
COMPETITORS_DIR = BENCH_DIR / "competitors"
REQUIREMENTS = COMPETITORS_DIR / "requirements.txt"
PACKAGE_JSON = COMPETITORS_DIR / "package.json"


def venv_python() -> Path:
    return VENV_DIR / "bin" / "python"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _stamped(stamp: Path, source: Path) -> bool:
    return stamp.exists() and stamp.read_text() == _digest(source)


def ensure_python_venv() -> Path:
    stamp = VENV_DIR / ".bench-stamp"
    if not _stamped(stamp, REQUIREMENTS):
        if not venv_python().exists():
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV_DIR)], check=True)
        subprocess.run([str(venv_python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "-r", str(REQUIREMENTS)], check=True)
        stamp.write_text(_digest(REQUIREMENTS))
    return venv_python()


def ensure_node() -> Path:
    stamp = NODE_DIR / ".bench-stamp"
    if not _stamped(stamp, PACKAGE_JSON):
        if shutil.which("npm") is None:
            raise SystemExit("bench: npm not found (Node 20 is needed for graphile-worker)")
        NODE_DIR.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(PACKAGE_JSON, NODE_DIR / "package.json")
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=NODE_DIR,
                       check=True)
        stamp.write_text(_digest(PACKAGE_JSON))
    return NODE_DIR


def main() -> None:
    print(f"bench venv: {ensure_python_venv()}")
    print(f"bench node: {ensure_node()}")


if __name__ == "__main__":
    main()
