"""Property tests for the parsers this project wrote: HTTP Range headers and page cursors."""

from __future__ import annotations

from datetime import UTC

import pytest
from bson import ObjectId
from hypothesis import given
from hypothesis import strategies as st

from app.blob_responses import parse_range
from app.errors import RangeNotSatisfiable, Unprocessable
from app.pagination import decode_cursor, encode_cursor

sizes = st.integers(min_value=1, max_value=10**12)


@given(header=st.text(max_size=40), size=sizes)
def test_any_range_header_is_ignored_refused_or_within_bounds(header: str, size: int) -> None:
    try:
        parsed = parse_range(header, size)
    except RangeNotSatisfiable:
        return
    if parsed is not None:
        start, end = parsed
        assert 0 <= start <= end < size


@given(size=sizes, data=st.data())
def test_well_formed_ranges_select_what_rfc_9110_says(size: int, data) -> None:  # type: ignore[no-untyped-def]
    start = data.draw(st.integers(min_value=0, max_value=size - 1))
    end = data.draw(st.integers(min_value=start, max_value=size * 2))
    assert parse_range(f"bytes={start}-{end}", size) == (start, min(end, size - 1))
    assert parse_range(f"bytes={start}-", size) == (start, size - 1)
    suffix = data.draw(st.integers(min_value=1, max_value=size * 2))
    assert parse_range(f"bytes=-{suffix}", size) == (max(0, size - suffix), size - 1)
    with pytest.raises(RangeNotSatisfiable):
        parse_range(f"bytes={size + data.draw(st.integers(0, 100))}-", size)


values = st.one_of(
    st.integers(min_value=-(2**53), max_value=2**53),
    st.text(max_size=50),
    st.datetimes(timezones=st.just(UTC)),
)


@given(value=values, oid=st.binary(min_size=12, max_size=12), pinned=st.booleans())
def test_cursors_round_trip(value, oid: bytes, pinned: bool) -> None:  # type: ignore[no-untyped-def]
    object_id = ObjectId(oid)
    decoded, decoded_id, was_pinned = decode_cursor(encode_cursor(value, object_id))
    assert (decoded, decoded_id, was_pinned) == (value, object_id, False)
    # A list with its pinned items first carries the pin; other lists refuse such a cursor.
    cursor = encode_cursor(value, object_id, pinned)
    assert decode_cursor(cursor, pinned_first=True) == (value, object_id, pinned)
    with pytest.raises(Unprocessable):
        decode_cursor(cursor)


@given(garbage=st.text(max_size=200))
def test_garbage_cursors_are_422_never_500(garbage: str) -> None:
    try:
        decode_cursor(garbage)
    except Unprocessable:
        pass
