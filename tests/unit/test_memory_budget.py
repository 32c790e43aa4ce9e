"""The report slot count that fits a container: read from a cgroup tree laid out as the kernel does."""

from __future__ import annotations

from pathlib import Path

import pytest

from common import memory_budget
from common.config import Settings


def _tree(tmp_path: Path, files: dict[str, str], cgroup: str) -> tuple[Path, Path]:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text(cgroup)
    return tmp_path, proc


@pytest.mark.parametrize(("files", "cgroup", "expected"), [
    ({"memory.max": "1073741824\n"}, "0::/\n", 1 << 30),  # cgroup v2, namespaced (Cloud Run gen2, Docker)
    ({"svc/memory.max": "536870912\n"}, "0::/svc\n", 512 << 20),  # v2, a nested group
    ({"memory.max": "max\n"}, "0::/\n", None),
    ({"memory/job/memory.limit_in_bytes": "2147483648\n"}, "4:memory:/job\n1:cpu:/\n", 2 << 30),  # v1
    ({"memory/memory.limit_in_bytes": "9223372036854771712\n"}, "4:memory:/\n", None),  # v1 "no limit"
    ({}, "", None),
])
def test_the_container_limit_is_read_from_cgroup_v2_or_v1(tmp_path: Path, files: dict[str, str], cgroup: str,
                                                        expected: int | None) -> None:
    root, proc = _tree(tmp_path, files, cgroup)
    assert memory_budget.container_memory_bytes(root, proc) == expected


def test_slots_fit_the_memory_and_stay_within_bounds() -> None:
    per = memory_budget.WORKER_PER_SLOT_MB
    gib = 1 << 30
    assert memory_budget.fitting_slots(gib, 320, per, ceiling=4) == 2
    assert memory_budget.fitting_slots(2 * gib, 320, per, ceiling=4) == 4
    assert memory_budget.fitting_slots(2 * gib, 320, per, ceiling=3) == 3  # never above WORKER_CONCURRENCY
    assert memory_budget.fitting_slots(2 * gib, 320, per, ceiling=8, processes=2) == 2  # a share each
    assert memory_budget.fitting_slots(256 << 20, 320, per, ceiling=4) == 1  # at least one
    assert memory_budget.fitting_slots(None, 320, per, ceiling=4) == memory_budget.NO_LIMIT_SLOTS
    assert memory_budget.fitting_slots(2 * gib, 512, per, ceiling=8, pool=2) == 3  # deploy/'s worker
    assert memory_budget.fitting_slots(2 * gib, 512, per, ceiling=8, pool=8) == 2  # idle warm ones count
    for mb in (600, 1024, 1536, 4096):  # what fits, fits, and one more would not
        slots = memory_budget.fitting_slots(mb << 20, 320, per, ceiling=64)
        assert memory_budget.needed_mb(slots, 320, per) <= mb < memory_budget.needed_mb(slots + 1, 320, per)


def test_report_slots_set_wins_and_is_capped_by_concurrency() -> None:
    assert Settings.from_env({"REPORT_SLOTS": "3", "WORKER_CONCURRENCY": "8"}).report_slots == 3
    assert Settings.from_env({"REPORT_SLOTS": "9", "WORKER_CONCURRENCY": "4"}).report_slots == 4
    assert Settings.from_env({"PREVIEW_SLOTS": "5"}).preview_slots == 5
