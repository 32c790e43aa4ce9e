"""A DELIVER that never finishes: the worker that loads it is killed between a run's end and its delivery."""

from __future__ import annotations

import asyncio
from typing import Any


async def stall(ctx: Any) -> dict[str, Any]:
    await asyncio.Event().wait()
    return {}


HANDLERS = {"DELIVER": stall}
