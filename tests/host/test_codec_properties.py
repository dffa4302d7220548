"""Property tests (CPython, hypothesis) for the runtime codecs.

Round trips hold for arbitrary values, and arbitrary or mutated bytes make the decoders raise only
the project's own error types (reliability goals `codec_roundtrip` and `codec_fuzz`).
"""
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


@settings(max_examples=1500)
@given(st.binary(max_size=200))
def test_random_bytes_into_every_decoder(data):
    for fn in (decode_message, cbor.decode, bare.decode_string, message_v1.decode):
        only_project_errors(fn, data)
    only_project_errors(TCPFrameDecoder(max_frame=64).feed, data)


@settings(max_examples=800)
@given(messages, st.integers(0, 10_000), st.integers(0, 255))
def test_mutated_messages(m, where, value):
    raw = bytearray(m.encode())
    raw[where % len(raw)] = value
    only_project_errors(decode_message, bytes(raw))
    # truncations too
    only_project_errors(decode_message, bytes(raw[: where % len(raw)]))


def test_address_length_limit_matches_codec():
    long = Message([Address(0, b"a" * (MAX_ADDRESS + 1))], [], b"")
    try:
        decode_message(long.encode())
    except HopsealError:
        return
    raise AssertionError("over-long address accepted")
