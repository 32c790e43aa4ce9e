"""The one-use children import only what their job needs: each report pays a render child's and a PDF child's
start-up in CPU (bench/child_start.py: Jinja2 and Markdown were ~100 ms of every PDF child's 627 ms)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import common.reports
from common.reports.child import ROOT

LOADED = "import json, sys; {imports}; print(json.dumps(sorted(sys.modules)))"


def modules_after(imports: str) -> set[str]:
    out = subprocess.run([sys.executable, "-E", "-s", "-c", LOADED.format(imports=imports)], capture_output=True,
                         text=True, check=True, timeout=60, cwd=ROOT).stdout
    return set(json.loads(out))


def test_the_pdf_child_does_not_import_the_template_engine() -> None:
    # What pdf_child.main imports, in its order.
    loaded = modules_after("import common.reports.pdf_child; from common.reports.child import READY, apply_limits; "
                           "from common.reports.export import html_to_pdf, resource_policy")
    assert "common.reports.export" in loaded
    assert not loaded & {"jinja2", "markdown_it", "common.reports.render", "common.reports.examples", "asyncio"}


def test_the_render_child_does_not_import_the_rest_of_the_package() -> None:
    loaded = modules_after("import common.reports.render_child")
    assert {"jinja2", "markdown_it", "common.reports.render"} <= loaded
    assert not loaded & {"common.reports.examples", "common.reports.sandbox", "common.reports.export",
                         "common.reports.pool", "asyncio"}


def test_the_package_names_still_resolve_on_first_use() -> None:
    from common.reports import FORMATS, RenderResult, load_examples, validate_declarations

    assert "pdf" in FORMATS and callable(load_examples) and callable(validate_declarations)
    assert RenderResult.__module__ == "common.reports.render"
    assert common.reports.sandbox.__name__ == "common.reports.sandbox"  # submodules too, as when imported eagerly
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        common.reports.nothing_here  # noqa: B018
