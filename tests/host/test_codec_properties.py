"""Property tests (CPython, hypothesis) for the runtime codecs.

Round trips hold for arbitrary values, and arbitrary or mutated bytes make the decoders raise only
the project's own error types (reliability goals `codec_roundtrip` and `codec_fuzz`).

The decoder-fuzz tests come in two variants: `quick` (in `make test`) and `soak`, marked `soak` and
run only with HOPSEAL_SOAK=1 (`make soak`), with HOPSEAL_FUZZ_EXAMPLES examples (default 20000)
and longer inputs.
"""
import os
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hopseal.wire import bare, cbor, message_v1
from hopseal.errors import HopsealError
from hopseal.wire.message import MAX_ADDRESS, Address, Message, decode_message
from hopseal.wire.tcp_frame import TCPFrameDecoder, encode_frame

addresses = st.builds(Address, st.integers(0, 255), st.binary(max_size=40))
routes = st.lists(addresses, max_size=8)
messages = st.builds(Message, routes, routes, st.binary(max_size=300), st.one_of(st.none(), st.text(max_size=20)))

cbor_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**64), 2**64 - 1) | st.binary(max_size=40) | st.text(max_size=20),
    lambda kids: st.lists(kids, max_size=5) | st.dictionaries(st.integers(0, 100) | st.text(max_size=5), kids, max_size=5),
    max_leaves=30,
)


def same_message(a, b):
    return a.onward == b.onward and a.return_ == b.return_ and a.payload == b.payload and a.tracing == b.tracing


@settings(max_examples=400)
@given(messages)
def test_message_round_trip(m):
    got = decode_message(m.encode())
    assert same_message(got, m)


@settings(max_examples=300)
@given(messages)
def test_bare_v1_round_trip(m):
    m.tracing = None
    assert same_message(message_v1.decode(message_v1.encode(m)), m)


@settings(max_examples=400)
@given(cbor_values)
def test_cbor_round_trip(v):
    assert cbor.decode(cbor.encode(v)) == v


@settings(max_examples=200)
@given(st.text(max_size=200))
def test_bare_string_round_trip(s):
    assert bare.decode_string(bare.encode_string(s)) == s


@settings(max_examples=200)
@given(st.lists(st.binary(max_size=200), max_size=6), st.integers(1, 17))
def test_frame_stream_any_chunking(bodies, chunk):
    stream = b"\x01" + b"".join(encode_frame(b) for b in bodies)
    d = TCPFrameDecoder()
    got = []
    for i in range(0, len(stream), chunk):
        got.extend(d.feed(stream[i : i + chunk]))
    assert got == bodies


def only_project_errors(fn, data):
    try:
        fn(data)
    except HopsealError:
        pass


SOAK = os.environ.get("HOPSEAL_SOAK") == "1"
SOAK_EXAMPLES = int(os.environ.get("HOPSEAL_FUZZ_EXAMPLES", "20000"))
FUZZ = [
    pytest.param(False, id="quick"),
    pytest.param(True, id="soak", marks=[
        pytest.mark.soak, pytest.mark.skipif(not SOAK, reason="soak variant: set HOPSEAL_SOAK=1 (make soak)")]),
]


def fuzz(long, quick_examples, *strategies):
    """Run the property below with `quick_examples` examples, or SOAK_EXAMPLES in the soak variant
    (no deadline: a long run must not fail on one slow example)."""

    def run(body):
        n = SOAK_EXAMPLES if long else quick_examples
        t0 = time.monotonic()
        settings(max_examples=n, deadline=None if long else settings.default.deadline)(given(*strategies)(body))()
        if long:
            print("\n%s: %d examples in %.1f s" % (body.__qualname__.split(".")[0], n, time.monotonic() - t0),
                  flush=True)

    return run


@pytest.mark.parametrize("long", FUZZ)
def test_random_bytes_into_every_decoder(long):
    @fuzz(long, 1500, st.binary(max_size=2000 if long else 200))
    def _(data):
        for fn in (decode_message, cbor.decode, bare.decode_string, message_v1.decode):
            only_project_errors(fn, data)
        only_project_errors(TCPFrameDecoder(max_frame=64).feed, data)


@pytest.mark.parametrize("long", FUZZ)
def test_mutated_messages(long):
    @fuzz(long, 800, messages, st.integers(0, 10_000), st.integers(0, 255))
    def _(m, where, value):
        raw = bytearray(m.encode())
        raw[where % len(raw)] = value
        only_project_errors(decode_message, bytes(raw))
        # truncations too
        only_project_errors(decode_message, bytes(raw[: where % len(raw)]))


@pytest.mark.parametrize("long", FUZZ)
def test_frame_stream_with_garbage_in_any_chunking(long):
    """A TCP stream of good frames with random bytes spliced in, fed in random chunks: the framing
    and the message decoder raise only the project's errors, and never hold more than a frame."""

    @fuzz(long, 300, st.lists(st.binary(max_size=100), max_size=4), st.binary(max_size=64), st.integers(0, 400),
          st.integers(1, 37))
    def _(bodies, junk, at, chunk):
        stream = bytearray(b"\x01" + b"".join(encode_frame(b) for b in bodies))
        stream[at % (len(stream) + 1):at % (len(stream) + 1)] = junk
        d = TCPFrameDecoder(max_frame=256)
        try:
            for i in range(0, len(stream), chunk):
                for body in d.feed(bytes(stream[i : i + chunk])):
                    only_project_errors(decode_message, body)
                assert d.pending() <= 4 + 256
        except HopsealError:
            pass


def test_address_length_limit_matches_codec():
    long = Message([Address(0, b"a" * (MAX_ADDRESS + 1))], [], b"")
    try:
        decode_message(long.encode())
    except HopsealError:
        return
    raise AssertionError("over-long address accepted")
