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


def _general(fn, data):
    """('ok', value) or ('error', type) of `fn(data)`."""
    try:
        return "ok", fn(data)
    except HopsealError as e:
        return "error", type(e)


def _same_outcome(fast, general):
    if fast[0] != general[0]:
        return False
    if fast[0] == "error":
        return fast[1] is general[1]
    a, b = fast[1], general[1]
    if isinstance(a, tuple):  # decode_plaintext: (kind, Message or None)
        if a[0] != b[0] or (a[1] is None) != (b[1] is None):
            return False
        a, b = a[1], b[1]
        if a is None:
            return True
    return same_message(a, b) and type(a.payload) is type(b.payload)


# on a host the routing message and the secure-channel plaintext have a fast path
# (hopseal_host.fastwire) for the form every sender writes; whatever it takes, the general decoder
# gives the same Message, and whatever it does not take goes to the general decoder: the outcome is
# the same for any bytes
short_addresses = st.builds(Address, st.integers(0, 30), st.binary(max_size=260))
short_messages = st.builds(Message, st.lists(short_addresses, max_size=26), st.lists(short_addresses, max_size=26),
                           st.binary(max_size=70000) | st.binary(max_size=300))


def _general_message(data):
    from hopseal.wire.message import decode_fields

    return decode_fields(cbor.decode(data))


def _general_plaintext(data):
    from hopseal.secure import payload

    v = cbor.decode(data)
    if not isinstance(v, list) or len(v) < 1 or not isinstance(v[0], list) or len(v[0]) < 2:
        raise payload.DecodeError("not a SecureChannelPaddedMessage")
    kind, fields = v[0][0], v[0][1]
    if kind == payload.PAYLOAD:
        if not isinstance(fields, list) or len(fields) != 1:
            raise payload.DecodeError("malformed secure-channel Payload")
        from hopseal.wire.message import decode_fields

        return kind, decode_fields(fields[0], "secure-channel Payload")
    if kind in (payload.REFRESH, payload.CLOSE):
        return kind, None
    raise payload.DecodeError("unknown secure-channel message type %r" % (kind,))


@settings(max_examples=300, deadline=None)
@given(short_messages, st.integers(0, 100_000), st.integers(0, 255), st.integers(0, 3))
def test_fast_decoders_agree_with_the_general_ones(m, where, value, how):
    from hopseal.secure.payload import decode_plaintext, encode_payload
    from hopseal.wire import message
    from hopseal_host import fastwire

    assert message.fast_fields is fastwire.fields_at  # importing hopseal_host installed it

    for raw, fast, general in ((m.encode(), decode_message, _general_message),
                               (encode_payload(m.onward, m.return_, m.payload), decode_plaintext, _general_plaintext)):
        raw = bytearray(raw)
        if how == 1:
            raw[where % len(raw)] = value  # a byte changed
        elif how == 2:
            del raw[where % len(raw):]  # cut short
        elif how == 3:
            raw.append(value)  # a byte too many
        raw = bytes(raw)
        assert _same_outcome(_general(fast, raw), _general(general, raw)), (how, raw[:80].hex())
