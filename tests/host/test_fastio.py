"""The host's TCP streams and framing (hopseal_host.fastio), on real loopback sockets.

ChunkReader: what is read comes out whole and in order for any read size, a peer that sends much
more than is read is held at a bounded amount (the transport stops reading), EOF and errors are
as asyncio's reader tells them. HostTCPFraming.frame_message: the bytes of frame(msg.encode()),
and a message over max_frame is refused as frame() refuses it."""
import asyncio
import os
import random

import pytest

from hopseal import compat
from hopseal.errors import FrameError
from hopseal.wire.message import Address, Message, route
from hopseal.wire.tcp_frame import TCPFraming
from hopseal_host import eventloop, fastio


def _run(coro):
    return eventloop.run(coro)


async def _pair(limit=fastio._LIMIT):
    """(server side reader, writer), (client side reader, writer) over loopback."""
    got = asyncio.get_running_loop().create_future()

    async def accepted(r, w):
        got.set_result((r, w))

    server = await fastio.start_server(accepted, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = await fastio.open_connection("127.0.0.1", port, limit=limit)
    return server, await got, client


def test_installed_into_the_runtime():
    assert compat._tcp_streams[0] == (fastio.open_connection, fastio.start_server)


@pytest.mark.parametrize("size", [1, 1000, 48 * 1024, 256 * 1024, 10 ** 6])
def test_reads_of_any_size_give_the_bytes_in_order(size):
    data = os.urandom(3 * 1024 * 1024 + 17)

    async def go():
        server, (sr, sw), (cr, cw) = await _pair()
        assert isinstance(cr, fastio.ChunkReader) and isinstance(sr, fastio.ChunkReader)
        sw.write(data)
        await sw.drain()
        sw.close()
        out = bytearray()
        rng = random.Random(size)
        while True:
            chunk = await cr.read(rng.randint(1, size))
            assert type(chunk) is bytes
            if not chunk:
                break
            out += chunk
        assert cr.at_eof()
        cw.close()
        server.close()
        return bytes(out)

    assert _run(go()) == data


def test_a_peer_sending_more_than_is_read_is_held_bounded():
    async def go():
        server, (sr, sw), (cr, cw) = await _pair(limit=64 * 1024)
        total = 8 * 1024 * 1024
        sent = asyncio.ensure_future(_send(sw, total))
        await asyncio.sleep(0.5)  # nothing is read meanwhile
        held = cr._held
        assert cr._paused
        assert not sent.done()  # the sender waits: its socket buffers are full
        n = 0
        while n < total:
            chunk = await cr.read(100000)
            assert chunk
            n += len(chunk)
        await sent
        cw.close()
        sw.close()
        server.close()
        return held

    held = _run(go())
    # twice the limit, plus at most one delivery of the transport (256 KiB reads)
    assert held <= 2 * 64 * 1024 + 256 * 1024


async def _send(w, total):
    block = b"x" * 65536
    for _ in range(total // len(block)):
        w.write(block)
        await w.drain()


def test_eof_and_reset():
    async def go():
        server, (sr, sw), (cr, cw) = await _pair()
        sw.write(b"abc")
        sw.close()
        assert await cr.read(10) == b"abc"
        assert await cr.read(10) == b""
        assert cr.at_eof()
        with pytest.raises(NotImplementedError):
            await cr.readexactly(1)
        cw.close()
        server.close()

    _run(go())


def _msg(payload, hops=3):
    onward = route(*["hop%d" % i for i in range(hops)], Address(1, "127.0.0.1:4000"))
    return Message(onward, route("back", Address.random()), payload)


@pytest.mark.parametrize("n", [0, 23, 24, 255, 256, 65535, 65536, 48 * 1024 + 100])
def test_frame_message_is_frame_of_encode(n):
    msg = _msg(os.urandom(n))
    assert bytes(fastio.HostTCPFraming().frame_message(msg)) == TCPFraming().frame(msg.encode())
    traced = _msg(b"p")
    traced.tracing = "00-abc-01"
    assert bytes(fastio.HostTCPFraming().frame_message(traced)) == TCPFraming().frame(traced.encode())


def test_frame_message_refuses_what_frame_refuses():
    msg = _msg(bytes(2000))
    with pytest.raises(FrameError):
        TCPFraming(1000).frame(msg.encode())
    with pytest.raises(FrameError):
        fastio.HostTCPFraming(1000).frame_message(msg)


def test_fastwire_route_cache_gives_fresh_lists_and_stays_bounded():
    """fastwire's cache of routes read before: each message gets its own route lists (a worker
    changes them: return routes grow, onward routes are stepped), equal to what the general
    decoder reads, and a stream of ever new routes does not grow it past its bound."""
    from hopseal.wire import cbor
    from hopseal.wire.message import decode_fields, decode_message
    from hopseal_host import fastwire

    m = _msg(b"payload")
    raw = m.encode()
    a, b = decode_message(raw), decode_message(raw)
    assert a.onward == b.onward == m.onward and a.return_ == m.return_
    assert a.onward is not b.onward and a.return_ is not b.return_
    a.return_.insert(0, Address.random())
    assert decode_message(raw).return_ == m.return_
    for i in range(3 * fastwire._CACHE_MAX):
        one = Message(route("x%d" % i, Address.random()), route("y"), b"p")
        got = decode_message(one.encode())
        assert got.onward == one.onward and got.onward == decode_fields(cbor.decode(one.encode())).onward
        assert len(fastwire._cache) <= fastwire._CACHE_MAX


def test_host_decryptor_reads_a_view_and_stays_transactional():
    """cipher.Decryptor hands a host's AEAD (takes_views) a view of the message, not a copy: the
    plaintext is right, a changed byte is refused and leaves the decryptor as it was (the genuine
    message still opens), a replay is refused."""
    from hopseal.errors import ChannelError, CryptoError
    from hopseal.secure.cipher import Decryptor, Encryptor
    from hopseal_host.crypto_host import HostCrypto

    crypto = HostCrypto()
    key = os.urandom(32)
    enc, dec = Encryptor(crypto, key), Decryptor(crypto, key)
    assert crypto.aead(key).takes_views
    msgs = [enc.encrypt(os.urandom(48 * 1024 + i)) for i in range(40)]  # past a rekey (32)
    for i, ct in enumerate(msgs):
        bad = bytearray(ct)
        bad[len(bad) // 2] ^= 1
        with pytest.raises(CryptoError):
            dec.decrypt(bytes(bad))
        n, pt = dec.decrypt(ct)
        assert n == i and len(pt) == 48 * 1024 + i
        with pytest.raises(ChannelError):
            dec.decrypt(ct)


def test_host_framing_hands_out_views_that_decode_as_bytes_do():
    """HostTCPFraming's decoder: the bodies of frames fed whole, one byte at a time or in odd
    pieces are the same bytes as the runtime decoder's (views of a bytes read, or the bytearray
    a body was gathered in), and decode_message reads them, fast path or general decoder (a
    message with a tracing context), to the same Message with bytes fields."""
    from hopseal.wire.message import decode_message

    msgs = [_msg(os.urandom(n)) for n in (0, 5, 300, 48 * 1024)]
    traced = _msg(b"with tracing")
    traced.tracing = "00-abc-01"
    msgs.append(traced)
    wire = b"\x01" + b"".join(TCPFraming().frame(m.encode()) for m in msgs)
    rng = random.Random(7)
    for pieces in ([wire], [wire[i:i + 1] for i in range(len(wire))], _cut(wire, rng)):
        f = fastio.HostTCPFraming()
        ref = TCPFraming()
        bodies = [b for p in pieces for b in f.feed(p)]
        assert [bytes(b) for b in bodies] == [b for p in pieces for b in ref.feed(p)]
        for body, m in zip(bodies, msgs):
            got = decode_message(body)
            assert type(got.payload) is bytes and got.payload == m.payload
            assert got.onward == m.onward and got.return_ == m.return_ and got.tracing == m.tracing
    # a bytearray read (not bytes) is never handed out as a view of itself
    f = fastio.HostTCPFraming()
    buf = bytearray(wire)
    bodies = f.feed(buf)
    assert all(type(b) is not memoryview for b in bodies)


def _cut(data, rng):
    out, i = [], 0
    while i < len(data):
        n = rng.randint(1, 70000)
        out.append(data[i:i + n])
        i += n
    return out
