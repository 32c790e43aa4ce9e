"""CSRF tokens and the SSE hub's fan-out, without a database or a server."""

from __future__ import annotations

import asyncio
import json

from web import csrf
from web.sse import EventHub, wait_for_change

SECRET = b"k" * 32


def test_a_token_is_valid_only_with_its_signature() -> None:
    token = "nonce." + csrf._sign(SECRET, "nonce")
    assert csrf._valid(SECRET, token)
    assert not csrf._valid(b"other" * 8, token)
    assert not csrf._valid(SECRET, "nonce.forged")
    assert not csrf._valid(SECRET, None) and not csrf._valid(SECRET, "a.b.c")


def test_events_reach_only_the_subscribers_of_their_run_in_this_workspace() -> None:
    async def scenario() -> tuple[bool, bool, bool, int]:
        hub = EventHub("postgresql://unused", "ws-1")
        hub.connected.set()
        mine, other = hub.subscribe("run-1"), hub.subscribe("run-2")
        hub._dispatch(json.dumps({"run_id": "run-1", "workspace_id": "ws-1", "status": "COMPLETED"}))
        hub._dispatch(json.dumps({"run_id": "run-2", "workspace_id": "ws-other"}))
        hub._dispatch("not json")
        got_mine = await wait_for_change(hub, mine, 0.5)
        got_other = await wait_for_change(hub, other, 0.05)
        hub.publish(None)  # after a reconnect everyone re-reads
        got_after_reconnect = await wait_for_change(hub, other, 0.5)
        hub.unsubscribe("run-1", mine)
        hub.unsubscribe("run-2", other)
        return got_mine, got_other, got_after_reconnect, hub.subscriber_count

    assert asyncio.run(scenario()) == (True, False, True, 0)


def test_many_events_before_a_reread_collapse_into_one() -> None:
    async def scenario() -> int:
        hub = EventHub("postgresql://unused", "ws")
        queue = hub.subscribe("r")
        for _ in range(5):
            hub.publish("r")
        return queue.qsize()

    assert asyncio.run(scenario()) == 1
