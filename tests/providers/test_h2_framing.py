"""The client's own HTTP/2 framing against scripted servers that bend or break the rules."""

from __future__ import annotations

import asyncio
import random

import hpack
import pytest
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    PushPromiseFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

from clarion.providers import h2_frames
from clarion.providers.h2_connection import Http2Connection
from clarion.providers.h2_errors import ConnectionLostError, StreamResetError
from clarion.providers.h2_headers import clean_headers
from clarion.providers.h2_hpack import RequestEncoder
from clarion.providers.h2_hpack_decode import HpackDecodingError, ResponseDecoder
from clarion.providers.h2_pool import Http2Pool
from tests.providers.raw_h2_server import Peer, RawH2Server

HEADERS = clean_headers([("apns-topic", "com.example"), ("authorization", "bearer " + "t" * 200)])


async def _connect(server: RawH2Server) -> Http2Connection:
    return await Http2Connection.open("127.0.0.1", server.port, None, connect_timeout=5)


def _ok(peer: Peer, stream_id: int, body: bytes = b"") -> None:
    headers = HeadersFrame(stream_id, peer.block([(":status", "200"), ("apns-id", "abc")]))
    headers.flags.add("END_HEADERS")
    if not body:
        headers.flags.add("END_STREAM")
        peer.send(headers)
        return
    data = DataFrame(stream_id, body)
    data.flags.add("END_STREAM")
    peer.send(headers, data)


# -- request HPACK ---------------------------------------------------------
def test_shared_headers_are_indexed_once_and_then_sent_as_indexes() -> None:
    encoder = RequestEncoder()
    decoder = hpack.Decoder()
    blocks = [
        encoder.encode(b"POST", b"api.example", f"/3/device/{i}".encode(), HEADERS, 42)
        for i in range(3)
    ]
    for index, block in enumerate(blocks):
        assert dict(decoder.decode(block)) == {
            ":method": "POST",
            ":scheme": "https",
            ":authority": "api.example",
            ":path": f"/3/device/{index}",
            "apns-topic": "com.example",
            "authorization": "bearer " + "t" * 200,
            "content-length": "42",
        }
    assert len(blocks[1]) < 40 < 250 < len(blocks[0])
    # Later blocks leave the table as it was: the same bytes but for the path.
    assert blocks[1].replace(b"/1", b"/2") == blocks[2]


def test_a_new_shared_set_empties_the_table_first() -> None:
    encoder = RequestEncoder()
    decoder = hpack.Decoder()
    other = clean_headers([("apns-topic", "org.other")])
    for shared, topic in ((HEADERS, "com.example"), (other, "org.other")) * 2:
        for _ in range(2):
            headers = dict(decoder.decode(encoder.encode(b"POST", b"a", b"/p", shared, None)))
            assert headers["apns-topic"] == topic
            assert "content-length" not in headers
    # Only the newest set's entries (authority and topic) remain.
    assert len(decoder.header_table.dynamic_entries) == 2
    # Only the newest set's entries remain.
    assert len(decoder.header_table.dynamic_entries) == 2


def test_headers_too_big_for_the_table_are_sent_as_literals() -> None:
    encoder = RequestEncoder()
    encoder.set_table_limit(0)
    decoder = hpack.Decoder()
    decoder.max_allowed_table_size = 0
    big = clean_headers([("x-big", "v" * 5000)])
    for _ in range(2):
        block = encoder.encode(b"PUT", b"a", b"/p", big, 1)
        headers = dict(decoder.decode(block))
        assert headers["x-big"] == "v" * 5000 and headers[":method"] == "PUT"
    assert not decoder.header_table.dynamic_entries


def test_frame_reader_waits_for_whole_frames_and_refuses_oversized_ones() -> None:
    reader = h2_frames.FrameReader()
    ping = h2_frames.frame(h2_frames.PING, 0, 0, b"12345678")
    assert reader.feed(ping[:5]) == []
    assert reader.feed(ping[5:] + ping[:3]) == [(h2_frames.PING, 0, 0, b"12345678")]
    assert reader.feed(ping[3:]) == [(h2_frames.PING, 0, 0, b"12345678")]
    with pytest.raises(h2_frames.FrameError):
        reader.feed(b"\x01\x00\x00\x00\x00\x00\x00\x00\x01")


# -- responses the client must understand ------------------------------------
async def test_response_headers_split_over_continuation_frames_and_padded_data() -> None:
    async def script(peer: Peer) -> None:
        await peer.handshake()
        request = await peer.read_until(HeadersFrame)
        block = peer.block([(":status", "410"), ("apns-id", "x" * 40), ("retry-after", "5")])
        first = HeadersFrame(request.stream_id, block[:5], pad_length=3)
        first.flags.add("PADDED")
        middle = ContinuationFrame(request.stream_id, block[5:10])
        last = ContinuationFrame(request.stream_id, block[10:])
        last.flags.add("END_HEADERS")
        data = DataFrame(request.stream_id, b'{"reason":"Unregistered"}', pad_length=7)
        data.flags.add("PADDED")
        data.flags.add("END_STREAM")
        peer.send(first, middle, last, data)

    async with RawH2Server(script) as server:
        connection = await _connect(server)
        response = await connection.request("POST", "/3/device/a", HEADERS, b"{}")
        connection.close()
    assert response.status == 410
    assert response.headers["apns-id"] == "x" * 40
    assert response.headers["retry-after"] == "5"
    assert response.body == b'{"reason":"Unregistered"}'


async def test_ping_is_answered_and_settings_acknowledged() -> None:
    seen: list[object] = []

    async def script(peer: Peer) -> None:
        await peer.handshake()
        peer.send(PingFrame(0, b"pingpong"))
        await peer.read_until(PingFrame)
        seen.extend(peer.received)

    async with RawH2Server(script) as server:
        connection = await _connect(server)
        await asyncio.sleep(0.2)
        connection.close()
    ping = seen[-1]
    assert isinstance(ping, PingFrame) and "ACK" in ping.flags and ping.opaque_data == b"pingpong"
    assert any(isinstance(f, SettingsFrame) and "ACK" in f.flags for f in seen)


@pytest.mark.parametrize(
    ("name", "frame"),
    [
        ("push promise", PushPromiseFrame(1, promised_stream_id=2, data=b"")),
        ("data on stream 0", b"\x00\x00\x01\x00\x00\x00\x00\x00\x00x"),
        ("oversized frame", b"\x00\x80\x00\x00\x00\x00\x00\x00\x01" + b"x" * 32768),
        ("headers on a stream never opened", b"\x00\x00\x01\x01\x04\x00\x00\x00\x63\x88"),
        ("garbage header block", b"\x00\x00\x01\x01\x04\x00\x00\x00\x01\xff"),
        ("bad settings length", b"\x00\x00\x05\x04\x00\x00\x00\x00\x00" + b"x" * 5),
        ("window overflow", WindowUpdateFrame(0, 2**31 - 1)),
    ],
)
async def test_protocol_errors_fail_the_connection_with_goaway(name: str, frame: object) -> None:
    goaways: list[GoAwayFrame] = []

    async def script(peer: Peer) -> None:
        await peer.handshake()
        await peer.read_until(HeadersFrame)
        peer.send(frame)  # type: ignore[arg-type]
        goaway = await peer.read_until(GoAwayFrame)
        assert isinstance(goaway, GoAwayFrame)
        goaways.append(goaway)

    async with RawH2Server(script) as server:
        connection = await _connect(server)
        with pytest.raises(ConnectionLostError):
            await asyncio.wait_for(connection.request("POST", "/p", HEADERS, b""), 5)
        await asyncio.wait_for(connection.wait_closed(), 5)
    assert goaways and goaways[0].error_code != 0, name
    assert not connection.usable


async def test_malformed_status_resets_only_that_stream() -> None:
    async def script(peer: Peer) -> None:
        await peer.handshake()
        bad = await peer.read_until(HeadersFrame)
        good = await peer.read_until(HeadersFrame)
        frame = HeadersFrame(bad.stream_id, peer.block([("apns-id", "no-status")]))
        frame.flags.add("END_HEADERS")
        frame.flags.add("END_STREAM")
        peer.send(frame)
        _ok(peer, good.stream_id)

    async with RawH2Server(script) as server:
        connection = await _connect(server)
        bad = asyncio.ensure_future(connection.request("POST", "/bad", HEADERS, b""))
        await asyncio.sleep(0.05)
        good = await connection.request("POST", "/good", HEADERS, b"")
        with pytest.raises(StreamResetError):
            await bad
        connection.close()
    assert good.status == 200


# -- flow control and stream limits -----------------------------------------
async def test_request_bodies_wait_for_window_updates() -> None:
    sent: list[bytes] = []

    async def script(peer: Peer) -> None:
        await peer.handshake({SettingsFrame.INITIAL_WINDOW_SIZE: 10})
        request = await peer.read_until(HeadersFrame)
        first = await peer.read_until(DataFrame)
        sent.append(first.data)
        # Nothing more may come until the window opens.
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(peer.read_until(DataFrame), 0.2)
        peer.send(WindowUpdateFrame(request.stream_id, 100))
        while True:
            frame = await peer.read_until(DataFrame)
            sent.append(frame.data)
            if "END_STREAM" in frame.flags:
                break
        _ok(peer, request.stream_id)

    async with RawH2Server(script) as server:
        connection = await _connect(server)
        body = bytes(range(50))
        response = await asyncio.wait_for(connection.request("POST", "/p", HEADERS, body), 5)
        connection.close()
    assert response.status == 200
    assert sent[0] == body[:10] and b"".join(sent) == body


async def test_stream_limit_follows_the_servers_settings_at_any_time() -> None:
    open_at_once: list[int] = []

    async def script(peer: Peer) -> None:
        await peer.handshake({SettingsFrame.MAX_CONCURRENT_STREAMS: 1})
        first = await peer.read_until(HeadersFrame)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(peer.read_until(HeadersFrame), 0.2)
        peer.send(SettingsFrame(0, settings={SettingsFrame.MAX_CONCURRENT_STREAMS: 5}))
        streams = [first.stream_id]
        while len(streams) < 5:
            streams.append((await peer.read_until(HeadersFrame)).stream_id)
        open_at_once.append(len(streams))
        for stream_id in streams:
            _ok(peer, stream_id)
        for _ in range(3):
            _ok(peer, (await peer.read_until(HeadersFrame)).stream_id)

    async with RawH2Server(script) as server:
        pool = Http2Pool("127.0.0.1", server.port, None, max_connections=1)
        answers = await asyncio.wait_for(
            pool.request_many("POST", [(f"/{i}", HEADERS, b"") for i in range(8)]), 5
        )
        await pool.close()
    assert open_at_once == [5]
    assert [a.status for a in answers] == [200] * 8  # type: ignore[union-attr]


# -- batches ------------------------------------------------------------------
async def test_batch_resends_refused_and_goaway_streams_on_a_fresh_connection() -> None:
    async def script(peer: Peer) -> None:
        await peer.handshake()
        if len(server.peers) == 1:
            first = await peer.read_until(HeadersFrame)
            second = await peer.read_until(HeadersFrame)
            await peer.read_until(HeadersFrame)
            peer.send(RstStreamFrame(first.stream_id, error_code=h2_frames.REFUSED_STREAM))
            _ok(peer, second.stream_id)
            peer.send(GoAwayFrame(0, last_stream_id=second.stream_id))
            return
        while True:
            _ok(peer, (await peer.read_until(HeadersFrame)).stream_id)

    async with RawH2Server(script) as server:
        pool = Http2Pool("127.0.0.1", server.port, None, max_connections=1)
        answers = await asyncio.wait_for(
            pool.request_many("POST", [(f"/{i}", HEADERS, b"") for i in range(3)]), 5
        )
        await pool.close()
    assert [getattr(a, "status", a) for a in answers] == [200, 200, 200]
    assert pool.connections_opened == 2


async def test_batch_attempt_timeout_ends_unanswered_requests_and_probes_the_peer() -> None:
    pings: list[PingFrame] = []

    async def script(peer: Peer) -> None:
        await peer.handshake()
        answered = await peer.read_until(HeadersFrame)
        await peer.read_until(HeadersFrame)
        _ok(peer, answered.stream_id)
        pings.append(await peer.read_until(PingFrame))  # type: ignore[arg-type]

    async with RawH2Server(script) as server:
        pool = Http2Pool("127.0.0.1", server.port, None, max_connections=1)
        answers = await asyncio.wait_for(
            pool.request_many(
                "POST", [("/a", HEADERS, b""), ("/b", HEADERS, b"")], attempt_timeout=0.3
            ),
            5,
        )
        await asyncio.sleep(0.1)
        await pool.close()
    assert getattr(answers[0], "status", None) == 200
    assert isinstance(answers[1], TimeoutError)
    assert pings and "ACK" not in pings[0].flags


# -- response HPACK -------------------------------------------------------------
def test_response_decoder_reads_what_an_independent_encoder_writes() -> None:
    rng = random.Random(7)
    for _ in range(40):
        encoder, decoder = hpack.Encoder(), ResponseDecoder()
        for _ in range(30):
            headers: list[tuple[str, str]] = [(":status", rng.choice(["200", "410", "429"]))]
            for _ in range(rng.randint(0, 5)):
                name = rng.choice(["apns-id", "retry-after", "server", f"x-{rng.randint(0, 40)}"])
                value = "".join(chr(rng.randint(32, 126)) for _ in range(rng.randint(0, 300)))
                headers.append(
                    hpack.NeverIndexedHeaderTuple(name, value)
                    if rng.random() < 0.1
                    else hpack.HeaderTuple(name, value)
                )
            if rng.random() < 0.05:
                encoder.header_table_size = rng.choice([0, 100, 2048, 4096])
            block = bytes(encoder.encode(headers, huffman=rng.random() < 0.7))
            expected = [(n.encode(), v.encode()) for n, v in headers]
            assert decoder.decode(block) == expected


@pytest.mark.parametrize(
    ("name", "block"),
    [
        ("index beyond the table", b"\xbf\x20"),
        ("index 0", b"\x80"),
        ("size update above our limit", b"\x3f\xe1\x3f"),
        ("size update after a field", b"\x88\x20"),
        ("string past the end", b"\x40\x0aabc"),
        ("integer past the end", b"\xff"),
        ("huffman with EOS padding too long", b"\x00\x81\xff\x81\xff"),
    ],
)
def test_response_decoder_refuses_broken_blocks(name: str, block: bytes) -> None:
    with pytest.raises(HpackDecodingError):
        ResponseDecoder().decode(block)
