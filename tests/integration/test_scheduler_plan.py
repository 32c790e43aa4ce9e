"""10,000 schedules cost one indexed query per tick: the claim reads a range of schedules_due_idx.

(Its time at 10,000 and 100,000 schedules: bench/scheduler_tick.py.)
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from common.sql import query
from tests.support.databases import WORKSPACE, connect
from tests.support.schedules import make_template

SCHEDULES = 10_000
POPULATE = """
INSERT INTO schedules (workspace_id, template_id, cron, timezone, emails, webhook_secret, next_fire_at, enabled)
SELECT %(ws)s, %(template)s, '* * * * *', 'UTC', '{a@example.com}', 'whsec_x',
       now() + make_interval(secs => i * 9), i %% 10 <> 0
FROM generate_series(1, %(n)s) AS i
"""


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(node for child in plan.get("Plans", []) for node in _nodes(child))]


def test_the_tick_reads_the_due_index_not_the_table(database_url):
    template = make_template(database_url)
    with connect(database_url) as conn:
        conn.execute(POPULATE, {"ws": WORKSPACE, "template": template, "n": SCHEDULES})
        conn.execute("VACUUM ANALYZE schedules")
        row = conn.execute("EXPLAIN (FORMAT JSON) " + query("schedule_claim_due"),
                           {"now": datetime.now(UTC), "limit": 100}).fetchone()
    plan = row["QUERY PLAN"] if isinstance(row["QUERY PLAN"], list) else json.loads(row["QUERY PLAN"])
    nodes = _nodes(plan[0]["Plan"])
    assert not [n for n in nodes if n["Node Type"] == "Seq Scan"], nodes
    assert {n.get("Index Name") for n in nodes} >= {"schedules_due_idx"}, nodes
