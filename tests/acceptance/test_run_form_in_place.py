"""The Run form in Chromium: submitted by ``web/static/run_form.js`` without leaving the page.

Real web and worker processes, a real browser. The form's answer (the run page, or the form with its errors,
or a JSON error) replaces the page in the same document, the address bar follows, Back and Forward load the
page for the address shown, a double press makes one run, and without JavaScript the form works as before.
"""

from __future__ import annotations

from typing import Any

from tests.acceptance.test_browser import browser  # noqa: F401  (the fixture: chromium or a skip)
from tests.acceptance.test_editor_browser import example_id
from tests.support.accounts import signed_in_page
from tests.support.databases import connect
from tests.support.processes import Service
from tests.support.schedules import make_template

SHOWN = "#run[data-report=shown] #report svg"


def _runs_of(url: str, template_id: str) -> int:
    with connect(url) as conn:
        row = conn.execute("SELECT count(*) AS n FROM runs WHERE template_id = %s", (template_id,)).fetchone()
    assert row is not None
    return int(row["n"])


def test_run_shows_the_report_in_the_same_document_and_back_and_forward_load_their_pages(
        database_url: str, services: Any, browser: Any) -> None:  # noqa: F811
    web: Service = services("web", database_url)
    services("worker", database_url)
    ident = example_id(web)
    context, page, problems = signed_in_page(browser, web)
    form_url = f"{web.base_url}/templates/{ident}/run"
    page.goto(form_url)
    page.evaluate("window.__sameDocument = true")
    page.dblclick("#run-button")  # a double press is one run
    page.wait_for_selector(SHOWN, timeout=60_000)
    assert page.evaluate("window.__sameDocument === true"), "the page was loaded anew instead of swapped in place"
    run_id = page.get_attribute("#run", "data-run-id")
    assert page.url == f"{web.base_url}/runs/{run_id}"
    assert page.title().startswith("Run of Monthly sales summary")
    assert page.locator("nav[aria-label=Main] a[aria-current=page]").count() == 0  # the run page's header
    assert page.evaluate("document.activeElement.tagName") == "H1"
    assert _runs_of(database_url, ident) == 1
    page.wait_for_selector("#downloads:not([hidden])")

    page.go_back()
    page.wait_for_selector("#run-button")
    assert page.url == form_url and page.evaluate("window.__sameDocument") is None  # loaded anew
    page.go_forward()
    page.wait_for_selector(SHOWN)
    assert page.url == f"{web.base_url}/runs/{run_id}"
    assert not problems, problems
    context.close()


def test_a_slow_run_is_followed_live_after_the_swap(database_url: str, services: Any, browser: Any) -> None:  # noqa: F811
    # No worker yet: the form's answer is the run page of a QUEUED run; its run.js, added by the swap,
    # follows the run once a worker starts.
    web: Service = services("web", database_url, RUN_PAGE_WAIT_SECONDS=0)
    ident = example_id(web)
    context, page, problems = signed_in_page(browser, web)
    page.goto(f"{web.base_url}/templates/{ident}/run")
    page.evaluate("window.__sameDocument = true")
    page.click("#run-button")
    page.wait_for_selector('#run[data-status="QUEUED"][data-live="sse"]', timeout=20_000)
    services("worker", database_url)
    page.wait_for_selector(SHOWN, timeout=60_000)
    assert page.evaluate("window.__sameDocument === true")
    assert page.locator("script[src^='/static/run.js']").count() == 1
    assert not problems, problems
    context.close()


def test_the_forms_errors_and_refusals_are_shown_in_place_and_start_nothing(
        database_url: str, services: Any, browser: Any) -> None:  # noqa: F811
    web: Service = services("web", database_url)
    services("worker", database_url)
    ident = make_template(database_url, name="Counted", body="# {{ count }} items\n",
                          parameters=[{"name": "count", "type": "number", "min": 1, "max": 10, "default": 3}])
    context, page, problems = signed_in_page(browser, web)
    form_url = f"{web.base_url}/templates/{ident}/run"
    page.goto(form_url)
    page.evaluate("window.__sameDocument = true; document.querySelector('form.run-form').noValidate = true")
    page.fill("#p-count", "99")  # past the maximum: the server's 422 page, swapped in
    page.click("#run-button")
    page.wait_for_selector("#p-count-error")
    assert page.url == form_url and page.evaluate("window.__sameDocument === true")
    assert page.input_value("#p-count") == "99" and page.is_enabled("#run-button")
    assert _runs_of(database_url, ident) == 0

    # A refusal that is not a page (a forged CSRF token: 403, JSON) is said next to the button.
    page.evaluate("document.querySelector('form.run-form input[name=csrf_token]').value = 'forged'")
    page.fill("#p-count", "4")
    page.click("#run-button")
    page.wait_for_selector("#run-form-error:not([hidden])")
    assert "csrf" in page.inner_text("#run-form-error").lower()
    assert page.is_enabled("#run-button") and _runs_of(database_url, ident) == 0
    # The 422 and the 403 were the point: the browser logs each answer that is not a 2xx.
    problems[:] = [p for p in problems if "status of 422" not in p and "status of 403" not in p]

    # The web away: the press fails visibly, and Run works again once it is back.
    page.evaluate("document.querySelector('form.run-form input[name=csrf_token]').value = "
                  "document.querySelector('header input[name=csrf_token]').value")
    web.stop()
    page.click("#run-button")
    page.wait_for_selector("#run-form-error:has-text('No answer from the server')")
    problems[:] = [p for p in problems if "ERR_CONNECTION_REFUSED" not in p]
    web.start()
    page.click("#run-button")
    page.wait_for_selector("#run[data-status=COMPLETED] #report h1", timeout=60_000)
    assert page.inner_text("#report h1") == "4 items" and page.evaluate("window.__sameDocument === true")
    assert _runs_of(database_url, ident) == 1
    assert not problems, problems
    context.close()


def test_without_javascript_the_form_posts_and_navigates_as_before(
        database_url: str, services: Any, browser: Any) -> None:  # noqa: F811
    web: Service = services("web", database_url, RUN_PAGE_WAIT_SECONDS=10)
    services("worker", database_url)
    ident = example_id(web)
    context, page, _ = signed_in_page(browser, web, java_script_enabled=False)
    page.goto(f"{web.base_url}/templates/{ident}/run")
    page.click("#run-button")
    page.wait_for_url("**/runs/*")
    # The run finished within the form's wait, so its report is in the page as served.
    page.wait_for_selector(SHOWN, timeout=30_000)
    assert _runs_of(database_url, ident) == 1
    context.close()


def test_a_refused_form_keeps_the_upload_choice_instead_of_the_sample(database_url: str, services: Any) -> None:
    """Before: after a 422 the form showed "Use the sample file" checked again, so pressing Run a second
    time silently ran the sample instead of asking for the file."""
    import re

    from tests.acceptance.test_run_page_wait import _sales_form

    web: Service = services("web", database_url)
    with web.session_client() as client:
        path, data = _sales_form(client)
        dataset = next(k for k, v in data.items() if k.startswith("p.") and re.fullmatch(r"[0-9a-f-]{36}", v))
        refused = client.post(path, data={**data, dataset: ""})  # "the file I upload", and none uploaded
        assert refused.status_code == 422, refused.text[:500]
        radios = re.findall(rf'<input type="radio" name="{re.escape(dataset)}" value="([^"]*)"\s*(checked)?>',
                            refused.text)
        assert radios and dict(radios) == {data[dataset]: "", "": "checked"}, radios
