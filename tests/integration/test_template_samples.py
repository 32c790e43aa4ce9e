"""A template's sample datasets as the editor's builder saves them (``check_samples`` then ``set_samples``)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from common import db, report_datasets, report_templates
from common.errors import ValidationError
from common.report_templates import TemplateInput
from tests.support.databases import WORKSPACE

PARAMETERS = [{"name": "sales", "type": "dataset", "required": True}, {"name": "title", "type": "text"}]


def run(url: str, work: Any) -> Any:
    async def go() -> Any:
        async with await db.connect_async(url) as conn:
            return await work(conn)
    return asyncio.run(go())


def test_samples_are_kept_for_dataset_parameters_only_and_must_exist_in_the_workspace(database_url: str) -> None:
    async def work(conn: Any) -> tuple[dict[str, str], dict[str, Any], Any]:
        new = TemplateInput.from_json({"name": "samples", "body": "{{ sales | count }}", "parameters": PARAMETERS})
        ident = await report_templates.create(conn, WORKSPACE, new)
        assert ident is not None
        dataset = await report_datasets.insert(conn, WORKSPACE, "s.csv", b"a,b\n1,2\n", quotas=None)
        kept = await report_templates.check_samples(conn, WORKSPACE, new.parameters, {
            "sales": str(dataset["id"]), "title": str(dataset["id"]), "gone": str(dataset["id"])})
        await report_templates.set_samples(conn, WORKSPACE, ident, kept)
        stored = await report_templates.get(conn, WORKSPACE, ident)
        with pytest.raises(ValidationError) as unknown:
            await report_templates.check_samples(conn, WORKSPACE, new.parameters, {"sales": str(uuid.uuid4())})
        return kept, stored["sample_datasets"], unknown.value.details

    kept, stored, details = run(database_url, work)
    assert kept == stored and list(kept) == ["sales"]  # a text or a removed parameter keeps no sample
    assert details == {"samples.sales": "No such dataset in this workspace; upload the sample again."}
