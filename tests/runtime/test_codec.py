"""BARE, CBOR and routing-message codecs: vectors, round trips, and malformed input.

Every decoder is fed the whole input, every strict prefix (one byte at a time), and the input with
trailing garbage; only the project's own error types may come out.
"""
from hopseal.errors import DecodeError, EncodeError, HopsealError
from hopseal.wire import bare, cbor, message_v1
from hopseal.wire.message import Address, Message, decode_message, encode_message, route, route_from_cbor
from hopseal.wire.tcp_frame import encode_frame
from rt import raises
from vectors import load, unhex

ENC = load("encodings.json")


def check_prefixes(decode, data):
    """Every strict prefix of a valid encoding is rejected with DecodeError."""
    for i in range(len(data)):
        raises(DecodeError, decode, data[:i])


def check_trailing(decode, data):
    for junk in (b"\x00", b"\xff", b"\x83\x80\x80\x40"):
        raises(DecodeError, decode, data + junk)


def test_tcp_frame_vector_is_byte_exact():
    v = ENC["tcp_frame_current"]
    body = encode_message(route(*v["onward"]), route(*v["return"]), unhex(v["payload_hex"]))
    assert encode_frame(body) == unhex(v["hex"])
    assert unhex(v["payload_hex"]) == bare.encode_string("Hello Ockam!")


def test_tcp_frame_vector_decodes():
    v = ENC["tcp_frame_current"]
    body = unhex(v["hex"])[4:]
    m = decode_message(body)
    assert m.onward == route("echoer") and m.return_ == route("app")
    assert bare.decode_string(m.payload) == "Hello Ockam!"
    assert m.encode() == body
    check_prefixes(decode_message, body)
    check_trailing(decode_message, body)


def test_tracing_context_element_accepted_and_kept():
    body = encode_message(route("echoer"), route("app"), b"x", tracing="{}")
    assert body[0] == 0x84 and body.endswith(b"\x62{}")
    m = decode_message(body)
    assert m.tracing == "{}" and m.payload == b"x"
    # a 4th element of another type (and a 5th) are skipped, not fatal
    odd = cbor.encode([[[0, b"a"]], [], b"p", 7, [1, {"k": b"v"}]])
    m = decode_message(odd)
    assert m.onward == route("a") and m.tracing is None


def test_bare_v1_2021_vector_round_trips():
    v = ENC["bare_transport_message_v1_2021"]
    raw = unhex(v["hex"])
    m = message_v1.decode(raw)
    assert m.onward == route(*v["onward"]) and m.return_ == route(*v["return"])
    assert m.payload == v["payload_utf8"].encode()
    assert message_v1.encode(m) == raw
    check_prefixes(message_v1.decode, raw)
    check_trailing(message_v1.decode, raw)
    raises(DecodeError, message_v1.decode, b"\x02" + raw[1:])


def test_secure_channel_plaintexts_round_trip():
    v = ENC["secure_channel_payload_plaintext"]
    raw = unhex(v["hex"])
    obj = cbor.decode(raw)
    # [[0, [[onward, return, payload]]], padding]
    assert obj[0][0] == 0 and obj[1] == b""
    inner = obj[0][1][0]
    assert route_from_cbor(inner[0]) == route(*v["onward"])
    assert route_from_cbor(inner[1]) == route(*v["return"])
    assert inner[2] == v["payload_utf8"].encode()
    built = cbor.encode([[0, [[route(*v["onward"]), route(*v["return"]), b"hi"]]], b""])
    assert built == raw
    close = unhex(ENC["secure_channel_close_plaintext_hex"])
    assert cbor.decode(close) == [[2, []], b""]
    assert cbor.encode([[2, []], b""]) == close
    check_prefixes(cbor.decode, raw)
    check_trailing(cbor.decode, raw)


def test_portal_and_register_vectors():
    portal = unhex(ENC["portal_payload_hello_hex"])
    assert portal == b"\x03" + bare.encode_data(b"hello")
    data, pos = bare.read_data(portal, 1)
    assert data == b"hello" and pos == len(portal)
    reg = unhex(ENC["bare_string_register_hex"])
    assert bare.encode_string("register") == reg
    assert bare.decode_string(reg) == "register"
    check_prefixes(bare.decode_string, reg)
    check_trailing(bare.decode_string, reg)


def test_uleb128_edges():
    for n in (0, 1, 127, 128, 300, 16383, 16384, (1 << 32) - 1, (1 << 64) - 1):
        buf = bytearray()
        bare.write_uleb128(buf, n)
        assert bare.read_uleb128(buf, 0) == (n, len(buf))
    assert bytes(_uleb(300)) == b"\xac\x02"
    # a 10th byte other than 0x01 overflows u64
    raises(DecodeError, bare.read_uleb128, b"\xff" * 9 + b"\x02", 0)
    raises(DecodeError, bare.read_uleb128, b"\xff" * 12, 0)
    raises(EncodeError, bare.write_uleb128, bytearray(), 1 << 64)
    raises(DecodeError, bare.decode_string, b"\x02\xff\xfe")  # not UTF-8


def _uleb(n):
    b = bytearray()
    bare.write_uleb128(b, n)
    return b


def test_cbor_known_encodings():
    cases = [
        (0, "00"), (23, "17"), (24, "1818"), (255, "18ff"), (256, "190100"), (65536, "1a00010000"),
        ((1 << 32), "1b0000000100000000"), (-1, "20"), (-500, "3901f3"), (b"", "40"), (b"\x01\x02", "420102"),
        ("", "60"), ("app", "63617070"), ([], "80"), ([1, [2, 3]], "8201820203"), ({}, "a0"),
        ({"a": 1}, "a1616101"), (None, "f6"), (True, "f5"), (False, "f4"),
    ]
    for value, hx in cases:
        assert cbor.encode(value) == unhex(hx), hx
        assert cbor.decode(unhex(hx)) == value, hx


def test_cbor_skips_what_it_does_not_use():
    # tags, floats, indefinite lengths, simple values all decode (so unknown fields can be skipped)
    assert cbor.decode(unhex("c249010000000000000000")) == b"\x01" + b"\x00" * 8
    assert cbor.decode(unhex("f93c00")) == 1.0
    assert cbor.decode(unhex("fa47c35000")) == 100000.0
    assert cbor.decode(unhex("fb3ff199999999999a")) == 1.1
    assert cbor.decode(unhex("9f018202039f0405ffff")) == [1, [2, 3], [4, 5]]
    assert cbor.decode(unhex("5f42010243030405ff")) == b"\x01\x02\x03\x04\x05"
    assert cbor.decode(unhex("7f657374726561646d696e67ff")) == "streaming"
    assert cbor.decode(unhex("bf6346756ef563416d7421ff")) == {"Fun": True, "Amt": -2}


def test_cbor_malformed_inputs():
    bad = [
        "", "18", "1901", "1a000000", "1b00000000000000", "1c", "5f01ff", "5f4101", "62ff",
        "9b00000000ffffffff00", "bb00000000ffffffff00", "9a7fffffff", "81", "a101", "ff", "9fff01",
        "6280ff", "a18080", "bf01ff", "c0", "f8", "fc",
    ]
    for hx in bad:
        raises(DecodeError, cbor.decode, unhex(hx))


def test_cbor_nesting_is_bounded():
    deep = b"\x81" * 100 + b"\x00"
    e = raises(DecodeError, cbor.decode, deep)
    assert "nesting" in str(e)
    ok = b"\x81" * 10 + b"\x00"
    assert cbor.decode(ok) is not None
    raises(EncodeError, cbor.encode, _nested(40))
    raises(EncodeError, cbor.encode, object())


def _nested(n):
    v = 0
    for _ in range(n):
        v = [v]
    return v


def test_routing_message_validation():
    good = Message(route("a", "1#127.0.0.1:4000"), route("b"), b"p")
    assert decode_message(good.encode()).onward[1] == Address(1, "127.0.0.1:4000")
    bad = [
        cbor.encode([[], []]),  # two elements
        cbor.encode("x"),  # not an array
        cbor.encode([[[0, b"a"]], [], "text payload"]),
        cbor.encode([[[0, "a"]], [], b""]),  # address value as text
        cbor.encode([[[256, b"a"]], [], b""]),  # transport type not u8
        cbor.encode([[[-1, b"a"]], [], b""]),
        cbor.encode([[{1: 0, 2: [97]}], [], b""]),  # the pre-0.128 map address
        cbor.encode([[[0]], [], b""]),
        cbor.encode([[[0, b"a"]] * 40, [], b""]),  # too many hops
        cbor.encode([[[0, b"a" * 300]], [], b""]),  # address too long
        cbor.encode([[[True, b"a"]], [], b""]),
    ]
    for b in bad:
        raises(DecodeError, decode_message, b)


def test_random_bytes_raise_only_project_errors():
    import os

    for i in range(400):
        data = os.urandom(i % 40)
        for dec in (decode_message, cbor.decode, bare.decode_string, message_v1.decode):
            try:
                dec(data)
            except HopsealError:
                pass


def test_address_text_forms():
    assert repr(Address.parse("echo")) == "0#echo"
    assert Address.parse("1#10.0.0.1:4000") == Address(1, b"10.0.0.1:4000")
    assert Address.parse("x#y") == Address(0, "x#y")
    r = Address.random()
    assert r.tt == 0 and len(r.value) == 32
    assert r != Address.random()
    d = {Address.parse("a"): 1}
    assert d[Address(0, b"a")] == 1
