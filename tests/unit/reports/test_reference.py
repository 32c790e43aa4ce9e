"""Every registered filter and helper is documented in the in-page help, with an example that renders."""

from __future__ import annotations

from common.reports import load_examples, render_report
from common.reports.datasets import parse_csv
from common.reports.filters import FILTERS
from common.reports.reference import EXAMPLES, our_helpers, reference


def test_every_filter_and_helper_of_the_language_is_in_the_help() -> None:
    documented = {e.name: e for e in reference() if e.kind in ("filter", "helper")}
    registered = set(FILTERS) | set(our_helpers())
    assert registered == set(documented), "document new filters/helpers in common/reports/reference.py"
    for entry in documented.values():
        assert entry.summary and entry.example, entry.name


def test_every_example_renders_on_the_sales_sample() -> None:
    sales = next(e for e in load_examples() if e.slug == "monthly_sales")
    dataset = parse_csv(sales.datasets["sales"][1])
    body = "\n\n".join(EXAMPLES.values())
    result = render_report(body, {"sales": dataset})
    assert "<svg" in result.html


def test_jinja_filters_are_listed_after_ours_with_their_own_summary() -> None:
    kinds = [e.kind for e in reference()]
    assert kinds.index("jinja filter") > kinds.index("helper")
    upper = next(e for e in reference() if e.name == "upper")
    assert "uppercase" in upper.summary.lower()
