"""A process decodes an event once for all its readers, and keeps only the last few."""

from __future__ import annotations

from uuid import uuid4

from commands.recent_events import RecentEvents


def test_an_event_is_decoded_once_for_every_reader_and_the_oldest_is_let_go():
    recent, decoded = RecentEvents(size=2), []
    aggregate = uuid4()

    def decode(version: int):
        return lambda: decoded.append(version) or {"version": version}

    first = recent.get((aggregate, 1, "Opened"), decode(1))
    assert recent.get((aggregate, 1, "Opened"), decode(1)) is first
    recent.get((aggregate, 2, "Edited"), decode(2))
    recent.get((aggregate, 3, "Edited"), decode(3))
    assert recent.get((aggregate, 1, "Opened"), decode(1)) is not first  # let go when the third came
    assert decoded == [1, 2, 3, 1]


def test_kept_none_every_read_decodes():
    recent, decoded = RecentEvents(size=0), []
    key = (uuid4(), 1, "Opened")
    recent.get(key, lambda: decoded.append(1))
    recent.get(key, lambda: decoded.append(2))
    assert decoded == [1, 2]
