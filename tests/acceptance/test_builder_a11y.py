"""The parameter builder and the pages' accessibility, in Chromium.

A template is built with the builder alone (no JSON typed): two parameters added, described, given a
sample CSV, reordered from the keyboard; a rule broken as you type (min > max) shows its message beside
the field, the message the API gives; saved, run, and the run completes. Then axe-core (the engine of
Lighthouse's accessibility audit) finds no serious or critical violation on the dashboard, the editor
and a run page.
"""

from __future__ import annotations

import json
from typing import Any

from axe_playwright_python.sync_playwright import Axe

from common.reports import load_examples
from tests.acceptance.test_browser import browser  # noqa: F401  (the fixture: chromium or a skip)
from tests.acceptance.test_editor_browser import example_id
from tests.support.accounts import signed_in_page
from tests.support.processes import Service, wait_for

SALES_CSV = next(e for e in load_examples() if e.slug == "monthly_sales").datasets["sales"][1]
BODY = "# Sales for {{ region }}\n\nRows: {{ sales | count }}\n"


def card(page: Any, index: int) -> Any:
    return page.locator("#builder fieldset.param").nth(index)


def checked_after(page: Any, action: Any) -> None:
    """Do ``action`` and wait until the server's check of the builder's latest state has come back
    (``data-pending`` is set by the change itself and cleared only by the answer to the newest check)."""
    action()
    assert page.get_attribute("#builder", "data-pending") == "true"
    page.wait_for_selector("#builder:not([data-pending])", state="attached", timeout=10_000)


def test_a_template_built_with_the_builder_alone_saves_and_runs(database_url: str, services: Any,
                                                               browser: Any) -> None:  # noqa: F811
    web: Service = services("web", database_url)
    services("worker", database_url)
    context, page, problems = signed_in_page(browser, web)
    page.goto(web.base_url + "/templates/new")
    page.wait_for_selector("#builder fieldset.param")
    assert not page.locator("#builder").is_hidden() and not page.locator("#parameters-json").get_attribute("open")
    page.fill("#name", "Built with the builder")
    page.evaluate("body => { const v = window.reportgenEditor;"
                  " v.dispatch({changes: {from: 0, to: v.state.doc.length, insert: body}}); }", BODY)

    # The new template's two starter parameters go; two of ours come, through the forms only.
    while page.locator("#builder fieldset.param").count():
        page.get_by_role("button", name="Remove parameter", exact=False).first.click()
    assert json.loads(page.input_value("#parameters")) == []

    page.click("#builder-add")
    region = card(page, 0)
    region.get_by_label("Name", exact=True).fill("region")
    region.get_by_label("Type", exact=True).select_option("choice")
    region.get_by_label("Label", exact=True).fill("Region")
    region.get_by_label("Choices (one per line)").fill("North\nSouth")
    region.get_by_label("Default", exact=True).filter(visible=True).fill("North")

    page.click("#builder-add")
    sales = card(page, 1)
    sales.get_by_label("Name", exact=True).fill("sales")
    sales.get_by_label("Type", exact=True).select_option("dataset")
    sales.get_by_label("Required").check()
    sales.get_by_label("Sample CSV", exact=False).set_input_files(
        files=[{"name": "sales.csv", "mimeType": "text/csv", "buffer": SALES_CSV}])
    sales.locator("[data-sample]", has_text="36 rows").wait_for()
    page.locator("#preview", has_text="Sales for North").wait_for()
    page.locator("#preview", has_text="Rows: 36").wait_for()

    # Reorder from the keyboard: the focus stays on the button that moved, the JSON view follows.
    move_up = page.get_by_role("button", name="Move parameter sales up")
    move_up.focus()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Move parameter sales up"
    assert [p["name"] for p in json.loads(page.input_value("#parameters"))] == ["sales", "region"]
    assert json.loads(page.input_value("#parameters")) == [
        {"name": "sales", "type": "dataset", "required": True},
        {"name": "region", "type": "choice", "label": "Region", "default": "North", "choices": ["North", "South"]}]

    # A rule broken while typing: the API's own message appears beside the field, and goes when fixed.
    page.click("#builder-add")
    limit = card(page, 2)
    limit.get_by_label("Type", exact=True).select_option("number")
    limit.get_by_label("Maximum", exact=True).fill("1")
    checked_after(page, lambda: limit.get_by_label("Minimum", exact=True).fill("10"))
    min_error = limit.locator(".field-error[data-for=min]")
    assert min_error.inner_text() == "min is greater than max."
    assert limit.get_by_label("Minimum", exact=True).get_attribute("aria-invalid") == "true"
    checked_after(page, lambda: limit.get_by_label("Minimum", exact=True).fill("0"))
    assert min_error.is_hidden()
    checked_after(page, lambda: limit.get_by_role("button", name="Remove parameter", exact=False).click())
    assert page.locator("#builder .field-error:not([hidden])").count() == 0

    # The JSON view stays in step the other way too: an edit there rebuilds the forms.
    page.click("#parameters-json summary")
    decls = json.loads(page.input_value("#parameters"))
    decls[1]["help"] = "Where the sales were made"
    page.fill("#parameters", json.dumps(decls))
    assert card(page, 1).get_by_label("Help").input_value() == "Where the sales were made"

    # A name added in the builder is offered for completion; Escape closes the list, then Tab leaves
    # the code editor (it never inserts a tab), so the page works from the keyboard alone.
    page.locator(".cm-content").focus()
    page.keyboard.press("Control+End")
    page.keyboard.type("reg")
    page.keyboard.press("Control+Space")
    page.locator(".cm-tooltip-autocomplete", has_text="region").wait_for()
    page.keyboard.press("Escape")
    page.keyboard.press("Tab")
    assert page.evaluate("!document.activeElement.closest('.cm-editor')")
    assert page.locator(".cm-tooltip-autocomplete").count() == 0
    page.evaluate("body => { const v = window.reportgenEditor;"
                  " v.dispatch({changes: {from: 0, to: v.state.doc.length, insert: body}}); }", BODY)

    page.click("button[value=save]")
    page.wait_for_url("**/templates/*")
    with web.client() as api:
        saved = [t for t in api.get("/api/templates").json()["templates"] if t["name"] == "Built with the builder"]
        template = api.get(f"/api/templates/{saved[0]['id']}").json()
    assert [p["name"] for p in template["parameters"]] == ["sales", "region"]
    assert template["parameters"][1]["help"] == "Where the sales were made"
    assert set(template["sample_datasets"]) == {"sales"}  # the uploaded sample was kept with the template

    page.click("text=Run this template")
    page.get_by_label("Region").select_option("South")
    page.click("#run-button")
    page.wait_for_url("**/runs/*")
    page.wait_for_selector("#run-status.COMPLETED", timeout=60_000)
    page.wait_for_selector("#run[data-report=shown] #report h1", timeout=10_000)
    assert page.inner_text("#report h1") == "Sales for South"
    assert "Rows: 36" in page.inner_text("#report")
    assert not problems, problems  # no CSP violation, no script error
    context.close()


def serious(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the page, one line each."""
    results = Axe().run(page, options={"resultTypes": ["violations"]}).response
    return [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:5]}"
            for v in results["violations"] if v["impact"] in ("serious", "critical")]


def test_axe_finds_no_serious_violation_on_the_dashboard_editor_and_run_page(
        database_url: str, services: Any, browser: Any) -> None:  # noqa: F811
    web: Service = services("web", database_url)
    services("worker", database_url)
    ident = example_id(web)
    with web.client() as api:
        template = api.get(f"/api/templates/{ident}").json()
        run = api.post("/api/runs", json={"template_id": ident, "parameters": template["sample_datasets"]}).json()
        wait_for(lambda: api.get(f"/api/runs/{run['id']}").json()["status"] == "COMPLETED", timeout=60,
                 interval=0.2, message="the example's run to complete")
    context, page, problems = signed_in_page(browser, web)
    found: dict[str, list[str]] = {}
    page.goto(web.base_url + "/")
    page.wait_for_selector("text=Recent runs")
    found["dashboard"] = serious(page)
    page.goto(web.base_url + f"/templates/{ident}")
    page.wait_for_selector("#preview[data-sequence]")
    page.wait_for_selector("#builder fieldset.param")
    found["editor"] = serious(page)
    page.goto(web.base_url + f"/runs/{run['id']}")
    page.wait_for_selector("#run[data-report=shown] #report svg", timeout=30_000)
    found["run page"] = serious(page)
    assert found == {"dashboard": [], "editor": [], "run page": []}, json.dumps(found, indent=1)
    assert not problems, problems
    context.close()
