"""One dataset named by many parameters is parsed once and counted once against the render's cell cap."""

from __future__ import annotations

import asyncio

import pytest

from common import report_datasets
from common.reports import RenderError, parse_csv
from common.reports.sandbox import RenderLimits, render_report

CSV = ("n,v\n" + "".join(f"{i},{i * 2}\n" for i in range(500))).encode()  # 1,000 cells


def test_parse_many_parses_each_distinct_dataset_once_off_the_loop() -> None:
    parsed = asyncio.run(report_datasets.parse_many({"a": CSV, "b": CSV}))
    assert set(parsed) == {"a", "b"} and parsed["a"].cells == 1000


@pytest.mark.parametrize("names", [1, 5, 50])
def test_the_same_dataset_under_many_names_counts_once(names: int) -> None:
    data = parse_csv(CSV)
    params = {f"d{i}": data for i in range(names)}
    body = "".join(f"{{{{ d{i} | length }}}} " for i in range(names))
    result = render_report(body, params, RenderLimits(dataset_cells=1500))
    assert result.html.count("500") == names


def test_distinct_datasets_still_add_up() -> None:
    params = {"a": parse_csv(CSV), "b": parse_csv(CSV)}
    with pytest.raises(RenderError) as caught:
        render_report("x", params, RenderLimits(dataset_cells=1500))
    assert caught.value.kind == "limit"
