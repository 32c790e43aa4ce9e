"""Create the shipped example templates and their sample CSVs in the default workspace on first start.

Idempotent and race-free: each example is inserted with its ``example_slug``, and a unique index on
(workspace, example_slug) makes a second instance (or a restart) insert nothing, even when two web
processes seed at the same moment. An example a user archived stays archived: seeding never recreates it.
"""

from __future__ import annotations

import logging

from psycopg.types.json import Jsonb

from common import db, report_datasets, report_templates
from common.reports import load_examples, parse_csv
from common.sql import query

log = logging.getLogger(__name__)


async def seed_examples(url: str, workspace_id: str) -> list[str]:
    """Insert the examples missing from the workspace; returns the slugs created now."""
    created: list[str] = []
    conn = await db.connect_async(url, application_name="report-generator-seed")
    try:
        async with db.translate_errors_async():
            for example in load_examples():
                async with conn.transaction():
                    new = report_templates.TemplateInput(name=example.name, description=example.description,
                                                         body=example.body, parameters=example.parameters)
                    template_id = await report_templates.create(conn, workspace_id, new,
                                                                example_slug=example.slug)
                    if template_id is None:
                        continue  # seeded before (or by a concurrent instance): the transaction inserts nothing
                    samples = {}
                    for param, (filename, data) in example.datasets.items():
                        # the shipped samples are exempt from the dataset quota
                        row = await report_datasets.insert(conn, workspace_id, filename, data,
                                                         parse_csv(data, limits=report_datasets.LIMITS),
                                                         quotas=None)
                        samples[param] = str(row["id"])
                    await conn.execute(query("template_set_samples"), {
                        "id": template_id, "workspace_id": workspace_id, "sample_datasets": Jsonb(samples)})
                    created.append(example.slug)
    finally:
        await conn.close()
    if created:
        log.info("created example templates: %s", ", ".join(created))
    return created
