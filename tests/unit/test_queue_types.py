"""What crosses the queue boundary: results checked before they are batched, errors kept structured."""

from __future__ import annotations

import datetime as dt
import decimal
import json

import pytest

from common.errors import ResultNotStorable
from common.queue_types import RESULT_MAX_BYTES, AttemptError, Finished, batch_json, encode_result


@pytest.mark.parametrize("result", [
    {"ratio": float("nan")},
    {"ratio": float("inf")},
    {"text": "a\x00b"},
    {"\x00key": 1},
    {"when": dt.datetime(2026, 12, 1, tzinfo=dt.UTC)},
    {"amount": decimal.Decimal("1.5")},
    {"items": {1, 2}},
    object(),
], ids=["nan", "inf", "nul-in-text", "nul-in-key", "datetime", "decimal", "set", "object"])
def test_results_jsonb_cannot_hold_are_refused_with_a_clear_reason(result):
    with pytest.raises(ResultNotStorable, match=r"cannot be stored as JSON|NUL character"):
        encode_result(result)


def test_a_result_over_the_cap_is_refused_and_one_at_the_cap_is_stored():
    """A 300 MB result used to block the worker's event loop for 26 s while it was encoded and sent (no
    heartbeats: the lease ran out and the job ran a second time), then PostgreSQL refused it anyway."""
    room = RESULT_MAX_BYTES - len('{"text":""}')
    assert len(encode_result({"text": "x" * room})) == RESULT_MAX_BYTES
    with pytest.raises(ResultNotStorable, match=r"result is 1,048,577 bytes of JSON; at most 1,048,576"):
        encode_result({"text": "x" * (room + 1)})


def test_storable_results_round_trip_and_non_dicts_are_wrapped():
    assert json.loads(encode_result({"pong": True, "n": 1.5})) == {"pong": True, "n": 1.5}
    assert json.loads(encode_result([1, 2])) == {"value": [1, 2]}
    assert json.loads(encode_result(None)) == {"value": None}
    # A literal backslash followed by "u0000" is text, not a NUL: it is stored.
    assert json.loads(encode_result({"path": "C:\\u0000"})) == {"path": "C:\\u0000"}


def test_a_batch_is_one_json_array_without_encoding_results_twice():
    batch = [Finished("a", 1, '{"x":1}'), Finished("b", 2, '{"value":null}')]
    assert json.loads(batch_json(batch)) == [{"id": "a", "attempts": 1, "result": {"x": 1}},
                                             {"id": "b", "attempts": 2, "result": {"value": None}}]
    assert batch_json([]) == "[]"


def test_errors_keep_type_message_and_trimmed_frames():
    def inner() -> None:
        raise KeyError("missing thing")

    try:
        inner()
    except KeyError as exc:
        error = AttemptError.from_exception(exc)
    assert error.type == "KeyError" and error.message == "'missing thing'"
    assert error.frames and error.frames[-1].endswith("in inner")
    text = error.text()
    assert text.startswith("KeyError: 'missing thing'\n") and "in inner" in text and len(text) <= 4000
    assert "Traceback" not in text
    assert json.loads(error.as_json())["frames"] == list(error.frames)
