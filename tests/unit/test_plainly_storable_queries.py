"""The request hook skips decoding a query string it can tell holds only storable text: whatever
such a string decodes to must be storable, and one that could decode to a NUL or a lone surrogate
is never skipped."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.storable import is_storable, plainly_storable


@given(st.binary(max_size=200))
def test_what_a_plainly_storable_query_decodes_to_is_storable(query):
    if plainly_storable(query):
        decoded = parse_qsl(query.decode("latin-1"), keep_blank_values=True, errors="surrogateescape")
        assert all(is_storable(name) and is_storable(value) for name, value in decoded)


@pytest.mark.parametrize("query", [b"q=%00", b"%00=1", b"q=%ED%A0%80", b"q=\x00", b"q=\xff", b"q=caf%C3%A9"])
def test_a_query_that_may_hold_what_cannot_be_stored_is_decoded_and_checked(query):
    assert not plainly_storable(query)
