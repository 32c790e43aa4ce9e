"""Merges the /metrics of several worker processes into one exposition, with correct counters.

Counters and histograms are summed over the children. A child that dies takes its counts with it, and
a sum that drops looks to Prometheus like a reset (``rate()`` would then count the survivors' totals
again), so the last values scraped from a child that exited are kept as a retired base and stay in the
sums: the merged counters only go up. Increments between a child's last scrape and its death are lost
(the supervisor scrapes every few seconds). Gauges: ``reportgen_listener_up`` is the minimum (1 only
when every child hears NOTIFY), ``reportgen_worker_in_flight`` the sum, and the gauges read from the
database at scrape time (the same in every child) are taken from one child.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from prometheus_client import Metric, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector, CollectorRegistry

SampleKey = tuple[str, tuple[tuple[str, str], ...]]  # (sample name, sorted labels)
SUMMED_TYPES = ("counter", "histogram", "summary")
GAUGE_RULES = {"reportgen_listener_up": "min", "reportgen_worker_in_flight": "sum"}


@dataclass
class Family:
    name: str
    documentation: str
    type: str
    values: dict[SampleKey, float] = field(default_factory=dict)


def parse(text: str) -> dict[str, Family]:
    families: dict[str, Family] = {}
    for fam in text_string_to_metric_families(text):
        found = families.setdefault(fam.name, Family(fam.name, fam.documentation, fam.type))
        for s in fam.samples:
            found.values[(s.name, tuple(sorted(s.labels.items())))] = float(s.value)
    return families


@dataclass
class MetricsMerger:
    """Holds the last scrape of each live child and the retired counts of the dead ones."""

    last: dict[int, dict[str, Family]] = field(default_factory=dict)  # child slot → its last scrape
    retired: dict[str, Family] = field(default_factory=dict)

    def update(self, slot: int, text: str) -> None:
        self.last[slot] = parse(text)

    def retire(self, slot: int) -> None:
        """The child in ``slot`` exited: keep what it counted."""
        for fam in self.last.pop(slot, {}).values():
            if fam.type not in SUMMED_TYPES:
                continue
            base = self.retired.setdefault(fam.name, Family(fam.name, fam.documentation, fam.type))
            for key, value in fam.values.items():
                base.values[key] = base.values.get(key, 0.0) + value

    def merged(self) -> dict[str, Family]:
        out: dict[str, Family] = {}
        scrapes = [self.last[slot] for slot in sorted(self.last)]
        for fam in [*self.retired.values(), *(f for scrape in scrapes for f in scrape.values())]:
            target = out.setdefault(fam.name, Family(fam.name, fam.documentation, fam.type))
            rule = "sum" if fam.type in SUMMED_TYPES else GAUGE_RULES.get(fam.name, "first")
            for key, value in fam.values.items():
                if key not in target.values:
                    target.values[key] = value
                elif rule == "sum":
                    target.values[key] += value
                elif rule == "min":
                    target.values[key] = min(target.values[key], value)
        return out

    def render(self, extra: Iterable[Metric] = ()) -> bytes:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Families(self.merged(), list(extra)))
        return generate_latest(registry)


class _Families(Collector):
    def __init__(self, families: dict[str, Family], extra: list[Metric]) -> None:
        self.families = families
        self.extra = extra

    def collect(self) -> Iterator[Metric]:
        for fam in self.families.values():
            metric = Metric(fam.name, fam.documentation, fam.type)
            for (name, labels), value in fam.values.items():  # keep the exposition order (buckets)
                metric.add_sample(name, dict(labels), value)
            yield metric
        yield from self.extra
