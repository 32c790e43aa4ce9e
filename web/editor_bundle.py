"""The committed editor bundle (``web/static/editor.js``) and the sources it was built from.

``make editor`` runs ``npm ci`` and esbuild under ``web/editor/``, then ``python -m web.editor_bundle``
writes ``web/static/editor.js.sources``: a digest of ``package-lock.json`` and every file of
``web/editor/src/``, and a digest of the bundle itself. ``tests/unit/test_editor_bundle.py`` recomputes
both without Node.js, so a source or lock edit without a rebuild (or a hand-edited bundle) fails the suite.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

WEB = Path(__file__).resolve().parent
EDITOR = WEB / "editor"
BUNDLE = WEB / "static" / "editor.js"
STAMP = WEB / "static" / "editor.js.sources"


def inputs() -> list[Path]:
    return [EDITOR / "package.json", EDITOR / "package-lock.json", *sorted((EDITOR / "src").rglob("*.js"))]


def sources_digest() -> str:
    digest = hashlib.sha256()
    for path in inputs():
        digest.update(path.relative_to(EDITOR).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def bundle_digest() -> str:
    return hashlib.sha256(BUNDLE.read_bytes()).hexdigest()


def stamp_text() -> str:
    return f"sources sha256 {sources_digest()}\nbundle sha256 {bundle_digest()}\n"


def main() -> int:
    STAMP.write_text(stamp_text())
    print(f"wrote {STAMP.relative_to(WEB.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
