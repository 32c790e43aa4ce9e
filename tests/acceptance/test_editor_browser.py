"""The template editor in Chromium: type, see the preview follow; make a mistake, see its line marked."""

from __future__ import annotations

from typing import Any

from tests.acceptance.test_browser import browser  # noqa: F401  (the fixture: chromium or a skip)
from tests.support.accounts import sign_in_browser
from tests.support.processes import Service, wait_for


def example_id(web: Service, name: str = "Monthly sales summary") -> str:
    with web.client() as api:
        def seeded() -> str | None:
            rows = [t for t in api.get("/api/templates").json()["templates"] if t["name"] == name]
            return str(rows[0]["id"]) if rows else None
        return wait_for(seeded, timeout=30, interval=0.2, message="the examples to be seeded")


def open_editor(chromium: Any, web: Service, path: str) -> tuple[Any, list[str]]:
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    sign_in_browser(context, web.base_url, web.database_url, role="editor")
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(web.base_url + path)
    page.wait_for_selector(".cm-editor .cm-content")
    page.wait_for_selector("#preview[data-sequence]")  # the first preview answered (no eval: the CSP forbids it)
    return page, problems


def test_typing_updates_the_preview_and_an_error_marks_its_line(database_url: str, services: Any,
                                                                browser: Any) -> None:  # noqa: F811
    web: Service = services("web", database_url)
    page, problems = open_editor(browser, web, f"/templates/{example_id(web)}")
    assert page.locator("#preview svg").count() >= 1  # the sample data reached the render
    content = page.locator(".cm-content")
    content.click()
    page.keyboard.press("Control+End")
    page.keyboard.type("\n\nTyped in the browser: {{ sales | count }} rows\n")
    page.locator("#preview", has_text="Typed in the browser: 36 rows").wait_for()
    assert page.locator("#body").input_value().endswith("{{ sales | count }} rows\n")  # the form saves this

    lines = page.evaluate("window.reportgenEditor.state.doc.lines")
    page.keyboard.type('{{ sales | sum("nope") }}')
    error = page.locator("#preview-error")
    error.wait_for(state="visible")
    assert f"at template line {lines}" in error.inner_text() and "nope" in error.inner_text()
    marked = page.locator(".cm-lintRange-error")
    marked.first.wait_for()
    assert page.locator(".cm-gutter-lint .cm-lint-marker-error").count() == 1
    assert not problems, problems  # no CSP violation, no script error


def test_the_help_panel_inserts_an_example_at_the_cursor(database_url: str, services: Any,
                                                         browser: Any) -> None:  # noqa: F811
    web: Service = services("web", database_url)
    page, problems = open_editor(browser, web, f"/templates/{example_id(web)}")
    page.locator(".cm-content").click()
    page.keyboard.press("Control+End")
    page.get_by_role("button", name="Insert the percent example").click()
    page.locator("#preview", has_text="15.3%").wait_for()
    assert "{{ 0.153 | percent }}" in page.locator("#body").input_value()
    assert not problems, problems
