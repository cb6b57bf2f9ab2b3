"""The recorder: totals always count, and `max_records` keeps only the newest records."""

from __future__ import annotations

from clarion.emulators.records import Delivery, Recorder, decode_payload


def _delivery(n: int) -> Delivery:
    return Delivery(target=f"t{n}", headers={}, body=b"{}", payload={})


def test_unbounded_by_default() -> None:
    recorder = Recorder()
    for n in range(500):
        recorder.accept(_delivery(n))
    assert len(recorder.deliveries) == recorder.accepted_total == 500


def test_bounded_keeps_the_newest_and_counts_all() -> None:
    recorder = Recorder(max_records=100)
    for n in range(1000):
        recorder.accept(_delivery(n))
        recorder.reject(f"t{n}", 503, "ServiceUnavailable")
    assert 100 <= len(recorder.deliveries) <= 110
    assert recorder.deliveries[-1].target == "t999"
    assert [d.target for d in recorder.deliveries] == [
        f"t{n}" for n in range(1000 - len(recorder.deliveries), 1000)
    ]
    assert 100 <= len(recorder.rejections) <= 110
    assert (recorder.accepted_total, recorder.rejected_total) == (1000, 1000)
    recorder.clear()
    assert (recorder.accepted_total, recorder.deliveries) == (0, [])


def test_payload_decoding() -> None:
    assert decode_payload(b'{"a": 1}') == {"a": 1}
    assert decode_payload(b"plain") == "plain"
    assert decode_payload(b"\xff") is None
