"""Events' JSON read by msgspec gives what eventsourcing's own transcoder gives, for any value
its encoder writes and for JSON msgspec refuses."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, UUIDAsHex
from hypothesis import given, settings
from hypothesis import strategies as st

from commands.app import MemberAsDict
from commands.transcoding import MsgspecJSONTranscoder
from domain.team import Member


def registered(transcoder: JSONTranscoder) -> JSONTranscoder:
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO(), MemberAsDict()):
        transcoder.register(transcoding)
    return transcoder


STANDARD, FAST = registered(JSONTranscoder()), registered(MsgspecJSONTranscoder())

keys = st.one_of(st.text(max_size=8), st.sampled_from(["_type_", "_data_", 'x"_type_', "_type_ ", "timestamp"]))
typed = st.one_of(
    st.datetimes(timezones=st.just(UTC)),
    st.uuids(),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.builds(
        Member, user_id=st.text(max_size=5), display_name=st.text(max_size=5), role=st.just("agent"), phone=st.none() | st.text(max_size=5)
    ),
)
plain = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10),
    st.sampled_from(["_type_", '"_type_":', "datetime_iso"]),
)
values = st.recursive(
    st.one_of(plain, typed),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=20,
)
events = st.dictionaries(
    st.one_of(st.text(min_size=1, max_size=8), st.just("timestamp")), values, max_size=8
)  # an event's state: its fields


def same(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down (True == 1, but a bool is not an int here)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


def read_by(transcoder: JSONTranscoder, data: bytes) -> tuple[str, Any]:
    """What the transcoder reads, or that it refuses it: both refuse an object of the two keys
    `_type_` and `_data_` whose type is not registered, or whose data is not what the type's
    transcoding asserts it takes (the first such object each meets may differ, and with it the error)."""
    try:
        return "read", transcoder.decode(data)
    except (TypeError, ValueError, AssertionError):
        return "refused", None


@settings(max_examples=400)
@given(st.one_of(events, values))
def test_what_the_encoder_writes_reads_back_as_the_standard_library_reads_it(value):
    data = STANDARD.encode(value)
    (fast, read_fast), (standard, read_standard) = read_by(FAST, data), read_by(STANDARD, data)
    assert fast == standard and same(read_fast, read_standard)


def test_an_event_with_typed_fields_and_a_typed_value_nested_deeper():
    state = {
        "timestamp": datetime(2026, 11, 29, 12, 0, tzinfo=UTC),
        "reply_id": uuid.UUID(int=7),
        "members": [Member(user_id="u1", display_name="Ada", role="agent")],
        "fields": {"due": datetime(2026, 12, 1, tzinfo=UTC), "cost": Decimal("1.50")},
        "title": '{"_type_": "uuid_hex", "_data_": "0"}',  # text that looks typed stays text
    }
    data = STANDARD.encode(state)
    assert same(FAST.decode(data), state)


@pytest.mark.parametrize(
    "data",
    [b'{"x": NaN, "y": Infinity}', b'{"n": 1' + b"0" * 400 + b".5}", b'{"a": 1, "a": 2}', b'"\\ud800"'],
    ids=["nan", "past-a-float", "repeated-key", "lone-surrogate"],
)
def test_json_msgspec_refuses_or_reads_differently_reads_as_the_standard_library_reads_it(data):
    assert same(FAST.decode(data), STANDARD.decode(data))


def test_json_that_is_no_json_fails_as_it_did():
    with pytest.raises(ValueError):
        STANDARD.decode(b"{not json")
    with pytest.raises(ValueError):
        FAST.decode(b"{not json")
