"""Frame splitting that lifts GOAWAY out of the inbound byte stream."""

from __future__ import annotations

from hyperframe.frame import DataFrame, GoAwayFrame, PingFrame, SettingsFrame

from clarion.providers.h2_goaway import Goaway, GoawaySplitter


def test_passes_ordinary_frames_through_whole() -> None:
    wire = SettingsFrame(0).serialize() + PingFrame(0, opaque_data=b"12345678").serialize()
    assert GoawaySplitter().feed(wire) == [wire]


def test_lifts_goaway_out_in_order() -> None:
    before = DataFrame(1, data=b"abc").serialize()
    goaway = GoAwayFrame(0, last_stream_id=7, error_code=2).serialize()
    after = DataFrame(3, data=b"def").serialize()
    assert GoawaySplitter().feed(before + goaway + after) == [before, Goaway(7, 2), after]


def test_waits_for_partial_frames_across_reads() -> None:
    wire = DataFrame(1, data=b"x" * 100).serialize() + GoAwayFrame(0, last_stream_id=1).serialize()
    splitter = GoawaySplitter()
    parts: list[bytes | Goaway] = []
    for offset in range(0, len(wire), 7):
        parts.extend(splitter.feed(wire[offset : offset + 7]))
    assert b"".join(p for p in parts if isinstance(p, bytes)) == wire[:109]
    assert parts[-1] == Goaway(1, 0)
