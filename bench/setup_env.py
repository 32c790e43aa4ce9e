"""Install the competitors into the bench's own folders (never into the project's venv).

``bench/.work/venv``: procrastinate, pgqueuer, matplotlib and profilers, pinned in competitors/requirements.txt.
``bench/.work/node``: graphile-worker, pinned in competitors/package.json.
``bench/.work/venv-oban``: oban-py, pinned in competitors/requirements-oban.txt; oban needs Python >= 3.12, so
this venv is made from such an interpreter found on PATH or under pyenv (the project's own Python may be
older). Without one, oban-py is left out and the results say so. Idempotent (a stamp per input).
"""

from __future__ import annotations

import hashlib
import os
import re
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
OBAN_VENV_DIR = WORK_DIR / "venv-oban"
OBAN_REQUIREMENTS = COMPETITORS_DIR / "requirements-oban.txt"
OBAN_MIN_PYTHON = (3, 12)


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


def _python_version(path: Path) -> tuple[int, int] | None:
    try:
        out = subprocess.run([str(path), "-c", "import sys; print(*sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=20, check=True).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None  # a pyenv shim without that version selected fails here, which is why pyenv is read too
    return (int(out[0]), int(out[1])) if len(out) == 2 else None


def find_python(minimum: tuple[int, int] = OBAN_MIN_PYTHON) -> Path | None:
    """The oldest interpreter >= ``minimum`` (3.12 where there is one, as in issue 14's table), looked for as
    ``python3.N`` on PATH and among pyenv's installed versions."""
    candidates: list[Path] = [Path(sys.executable)]
    for minor in range(20, minimum[1] - 1, -1):
        found = shutil.which(f"python3.{minor}")
        if found:
            candidates.append(Path(found))
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    for installed in (pyenv_root / "versions").glob("3.*"):
        if re.fullmatch(r"3\.\d+\.\d+", installed.name):
            candidates.append(installed / "bin" / "python3")
    best: tuple[tuple[int, int], Path] | None = None
    for path in candidates:
        version = _python_version(path) if path.exists() else None
        if version and version >= minimum and (best is None or version < best[0]):
            best = (version, path)
    return best[1] if best else None


def oban_python() -> Path:
    return OBAN_VENV_DIR / "bin" / "python"


def ensure_oban_venv() -> Path | None:
    """The oban-py venv, or None (and a line saying why) when the machine has no Python >= 3.12."""
    stamp = OBAN_VENV_DIR / ".bench-stamp"
    if _stamped(stamp, OBAN_REQUIREMENTS) and oban_python().exists():
        return oban_python()
    python = find_python()
    if python is None:
        print("bench: oban-py not measured: no Python >= 3.12 on PATH or under pyenv")
        return None
    subprocess.run([str(python), "-m", "venv", "--clear", str(OBAN_VENV_DIR)], check=True)
    subprocess.run([str(oban_python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "-r", str(OBAN_REQUIREMENTS)], check=True)
    stamp.write_text(_digest(OBAN_REQUIREMENTS))
    return oban_python()


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
    print(f"bench oban venv: {ensure_oban_venv() or 'none (no Python >= 3.12)'}")


if __name__ == "__main__":
    main()
