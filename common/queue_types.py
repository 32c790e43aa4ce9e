"""What travels across the queue boundary (common/queue.py): frozen rows, never driver dicts.

The fencing is visible in the types: every write after a claim takes a ``Lease`` (job id + attempt), and
``Lease`` is what a heartbeat renews, a completion records and a give-back returns.
"""

from __future__ import annotations

import json
import re
import traceback
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from common.errors import ResultNotStorable

ERROR_TEXT_MAX_CHARS = 4000
ERROR_FRAMES = 8
# A job's result is a summary (ids, counts, statuses); reports and exports live in their own tables. Far
# larger results blocked the worker: a 300 MB one took 26 s of its event loop to encode and send (no
# heartbeats meanwhile, so the lease ran out and the job ran twice) before PostgreSQL refused it anyway.
RESULT_MAX_BYTES = 1024 * 1024
# A NUL escaped by json.dumps: "\u0000" preceded by an even number of backslashes (an odd number would
# mean the text held a literal backslash followed by "u0000", which is fine).
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


@dataclass(frozen=True)
class Lease:
    """One attempt of one job, as the worker that claimed it holds it."""

    id: str
    attempts: int


@dataclass(frozen=True)
class ClaimedJob:
    id: str
    workspace_id: str
    type: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    timeout_seconds: float | None
    created_at: datetime
    run_at: datetime
    started_at: datetime

    @property
    def lease(self) -> Lease:
        return Lease(self.id, self.attempts)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ClaimedJob:
        return cls(id=str(row["id"]), workspace_id=str(row["workspace_id"]), type=row["type"],
                   payload=row["payload"] or {}, attempts=row["attempts"], max_attempts=row["max_attempts"],
                   timeout_seconds=row["timeout_seconds"], created_at=row["created_at"], run_at=row["run_at"],
                   started_at=row["started_at"])


@dataclass(frozen=True)
class Finished:
    """A completed attempt waiting to be recorded; ``result_json`` was checked by ``encode_result``."""

    id: str
    attempts: int
    result_json: str

    @property
    def lease(self) -> Lease:
        return Lease(self.id, self.attempts)


@dataclass(frozen=True)
class Renewal:
    """A heartbeat's answer: leases still held (with whether a cancel was asked), and jobs locked by this
    worker that it did not list (a claim whose reply never arrived)."""

    kept: dict[str, bool]
    unknown: tuple[Lease, ...]


@dataclass(frozen=True)
class Rescued:
    id: str
    status: str
    was_locked_by: str | None


@dataclass(frozen=True)
class Pruned:
    """One prune round: rows deleted; ``behind`` when it stopped at its time budget with a full last batch
    (old jobs are left: the next round should come at once); how long it took."""

    deleted: int
    behind: bool
    seconds: float


@dataclass(frozen=True)
class AttemptError:
    """Why an attempt failed: kept as text on the job and as JSON in its attempt history."""

    type: str
    message: str
    frames: tuple[str, ...] = ()

    @classmethod
    def from_exception(cls, exc: BaseException) -> AttemptError:
        summary = traceback.extract_tb(exc.__traceback__)[-ERROR_FRAMES:]
        frames = tuple(f"{frame.filename}:{frame.lineno} in {frame.name}" for frame in summary)
        return cls(type(exc).__name__, str(exc), frames)

    def text(self) -> str:
        """``Type: message`` and the last frames, trimmed to fit the job's error column."""
        lines = [f"{self.type}: {self.message}"] + [f"  at {frame}" for frame in self.frames]
        return "\n".join(lines)[:ERROR_TEXT_MAX_CHARS]

    def as_json(self) -> str:
        return json.dumps({"type": self.type, "message": self.message[:ERROR_TEXT_MAX_CHARS],
                           "frames": list(self.frames)})


def encode_result(value: object) -> str:
    """A handler's result as JSON text that jsonb accepts, or ``ResultNotStorable`` saying why not.

    Checked in the worker, per job, before the result joins a batch: one unstorable result would
    otherwise fail the whole batch's statement (and, before issue 10, stop the worker).
    """
    result = value if isinstance(value, dict) else {"value": value}
    try:
        text = json.dumps(result, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ResultNotStorable(f"the handler's result cannot be stored as JSON: {exc}") from None
    if len(text) > RESULT_MAX_BYTES:  # json.dumps escapes to ASCII: characters are bytes
        raise ResultNotStorable(f"the handler's result is {len(text):,} bytes of JSON; at most "
                                f"{RESULT_MAX_BYTES:,} are kept (store large output elsewhere)")
    if _NUL_ESCAPE.search(text):
        raise ResultNotStorable("the handler's result contains a NUL character (\\u0000), which "
                                "PostgreSQL's jsonb cannot hold")
    return text


def batch_json(batch: list[Finished]) -> str:
    """The completions of a batch as one JSON array (results are already JSON text: no second encoding)."""
    return "[" + ",".join(f'{{"id":"{f.id}","attempts":{f.attempts},"result":{f.result_json}}}'
                          for f in batch) + "]"


def leases_json(leases: list[Lease]) -> str:
    return json.dumps([{"id": lease.id, "attempts": lease.attempts} for lease in leases])
