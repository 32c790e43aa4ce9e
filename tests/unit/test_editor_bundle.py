"""The committed editor bundle matches its lock file and sources (no Node.js needed to check)."""

from __future__ import annotations

from web import editor_bundle


def test_the_committed_bundle_was_built_from_the_committed_sources_and_lock_file() -> None:
    recorded = editor_bundle.STAMP.read_text()
    assert recorded == editor_bundle.stamp_text(), (
        "web/static/editor.js is stale or edited by hand: run `make editor` and commit the result")


def test_the_bundle_is_served_from_static_and_loads_nothing_from_elsewhere() -> None:
    text = editor_bundle.BUNDLE.read_text().replace("http://www.w3.org/2000/svg", "")  # SVG's namespace
    assert "https://" not in text and "http://" not in text  # no CDN, no remote import
    lock = (editor_bundle.EDITOR / "package-lock.json").read_text()
    assert '"lockfileVersion"' in lock
