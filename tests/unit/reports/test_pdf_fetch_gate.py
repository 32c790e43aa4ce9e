"""The PDF layout fetches nothing but our fonts, from any working directory.

Every HTML and CSS hook that could make xhtml2pdf read a URL or a file points at a real HTTP server on
127.0.0.1, at /etc/passwd and at a README.md beside the process. Two gates are shown separately: the
link callback alone (under a permissive policy that would allow all of them) and the resource policy
alone (with a callback that hands every URI back unchanged). A spy on xhtml2pdf's fetcher records what
reaches it: only data: URIs and the bundled fonts, by absolute path.
"""

from __future__ import annotations

import http.server
import io
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pypdf
import pytest

from common.reports import export

SECRET = "TOP-SECRET-README-LINE"
LIMIT = 5  # the first five targets cover every scheme; each costs seconds of layout


class _Counting(http.server.BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        body = b"body { color: red }" if self.path.endswith(".css") else b"GIF89a"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Counting.hits = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory that is not the repository, holding a README.md the PDF must not read."""
    (tmp_path / "README.md").write_text(SECRET)
    (tmp_path / "x.css").write_text(f'h1:after {{ content: "{SECRET}" }}')
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def reached(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every URI that reaches xhtml2pdf's fetcher, after the link callback."""
    from xhtml2pdf import files

    seen: list[str] = []
    original = files.FileNetworkManager.get_manager

    def spy(uri: object, *args: object, **kwargs: object) -> object:
        seen.append(str(uri))
        return original(uri, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(files.FileNetworkManager, "get_manager", staticmethod(spy))
    return seen


def _hooks(base: str) -> str:
    targets = [f"{base}/x", f"{base}/x.css", "file:///etc/passwd", "./README.md", "README.md", "x.css",
               "http://169.254.169.254/latest/meta-data"][:LIMIT]
    parts = []
    for n, t in enumerate(targets):
        parts += [f'<img src="{t}">', f'<link rel="stylesheet" href="{t}">',
                  f'<style>@import url("{t}"); @font-face {{ font-family: f{n}; src: url("{t}"); }} '
                  f'p.b{n} {{ background-image: url("{t}"); font-family: f{n} }}</style>',
                  f'<p class="b{n}" style="background-image: url({t})">x</p>',
                  f'<pdf:img src="{t}"/>', f'<div style="-pdf-frame-content: x; background: url({t})">y</div>']
    return "<h1>Łódź Αθήνα Москва</h1>" + "".join(parts)


def _text(pdf: bytes) -> str:
    return "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)


def _fonts(pdf: bytes) -> set[str]:
    names = set()
    for page in pypdf.PdfReader(io.BytesIO(pdf)).pages:
        for font in page["/Resources"].get("/Font", {}).values():
            names.add(str(font.get_object()["/BaseFont"]))
    return names


def _only_ours(seen: list[str]) -> None:
    ours = {str(export.FONT_REGULAR), str(export.FONT_BOLD)}
    assert seen, "the spy saw no fetch at all (fonts are fetched): it is not wired"
    assert all(uri.startswith("data:") or uri in ours for uri in seen), seen


def test_the_link_callback_alone_lets_nothing_out(server: str, elsewhere: Path, reached: list[str]) -> None:
    from xhtml2pdf.config.resources import ResourceAccessPolicy

    permissive = ResourceAccessPolicy(allow_private_networks=True, allow_local_outside_base=True)
    pdf = export.html_to_pdf(_hooks(server), "t", policy=permissive)
    assert _Counting.hits == []
    _only_ours(reached)
    assert SECRET not in _text(pdf) and "root:" not in _text(pdf)


def test_the_resource_policy_alone_lets_nothing_out(server: str, elsewhere: Path, reached: list[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export, "_link_callback", lambda uri, rel: uri)  # the gate in front is gone
    pdf = export.html_to_pdf(_hooks(server), "t")
    assert _Counting.hits == []
    assert SECRET not in _text(pdf) and "root:" not in _text(pdf)


def test_fonts_resolve_from_any_working_directory(elsewhere: Path) -> None:
    pdf = export.html_to_pdf("<h1>Łódź € Αθήνα</h1><p>Москва <b>Ελλάδα</b></p>", "t")
    text = _text(pdf)
    assert "Łódź € Αθήνα" in text and "Москва" in text and "Ελλάδα" in text
    assert any("DejaVuSans" in f for f in _fonts(pdf)) and any("DejaVuSans-Bold" in f for f in _fonts(pdf))
