"""History in Chromium: open a template's history, compare two versions, restore the older one, and find
the editor holding the old body (issue 15, item 4)."""

from __future__ import annotations

from typing import Any

from tests.acceptance.test_browser import browser  # noqa: F401  (the fixture: chromium or a skip)
from tests.support.accounts import sign_in_browser
from tests.support.processes import Service

OLD = "# Quarterly\n\nThe OLD wording of the summary.\n"
NEW = "# Quarterly\n\nThe NEW wording of the summary.\n"


def test_compare_two_versions_and_restore_the_older_one(database_url: str, services: Any,
                                                        browser: Any) -> None:  # noqa: F811
    web: Service = services("web", database_url)
    with web.client() as api:
        ident = api.post("/api/templates", json={"name": "Quarterly", "body": OLD}).json()["id"]
        assert api.put(f"/api/templates/{ident}", json={"name": "Quarterly", "body": NEW}).status_code == 200
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    sign_in_browser(context, web.base_url, web.database_url, role="editor")
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))

    page.goto(f"{web.base_url}/templates")
    page.get_by_role("link", name="History of Quarterly (version 2)").click()
    page.get_by_role("heading", name="History: Quarterly").wait_for()
    page.get_by_role("link", name="Compare version 2 with version 1").click()
    page.get_by_role("heading", name="Quarterly: version 1 → version 2").wait_for()
    table = page.locator("#body-diff")
    assert "The OLD wording" in table.locator("tr.changed td.old").inner_text()
    assert "The NEW wording" in table.locator("tr.changed td.new").inner_text()
    assert table.locator("tr.same").count() >= 2  # the unchanged lines are shown on both sides

    page.get_by_role("button", name="Restore version 1").click()
    page.wait_for_url(f"{web.base_url}/templates/{ident}")
    page.wait_for_selector(".cm-editor .cm-content")
    assert page.evaluate("window.reportgenEditor.state.doc.toString()") == OLD
    assert page.locator("#body").input_value() == OLD
    assert "Version 3." in page.locator("main").inner_text()
    page.goto(f"{web.base_url}/templates/{ident}/versions")
    restored = page.locator("#version-3").inner_text()
    assert "restored from version 1" in restored and "editor@tests.invalid" in restored  # the signed-in author
    assert not problems, problems
    context.close()
