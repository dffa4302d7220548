"""A board's message path without message-sized copies (issue 10, the ESP32 heap budget).

Runs under pytest and under `micropython tests/mp_run.py test_inplace`. The reliable serial link
delivers each message as a view of its reassembly buffer; the decoders keep a large payload as a
view of it; a secure channel decrypts it in place and seals what it sends in one buffer. Each of
these must give exactly the bytes and errors of the copying path it replaces.
"""
from hopseal.crypto import gcm
from hopseal.errors import CryptoError
from hopseal.secure.cipher import KEY_RENEWAL_INTERVAL, Decryptor, Encryptor
from hopseal.secure.payload import PADDING_TAIL, PAYLOAD, decode_plaintext, encode_payload, payload_head
from hopseal.wire import message
from hopseal.wire.message import VIEW_MIN, Message, decode_message, route
from hopseal.wire.serial_arq import FLAG_END, RX_BUF_FIRST, Arq
from hs_backends import backends

KEY = bytes(range(32))


def _soft():
    for c in backends():
        if hasattr(c.aead(KEY), "open_into"):  # SoftCrypto (a host AEAD may seal in place too)
            return c
    return None


def test_seal_and_open_in_place_match_the_copying_aead():
    c = _soft()
    if c is None:
        return
    ref = gcm.AESGCM(KEY)
    aead = c.aead(KEY)  # fastgcm where the port has viper, else gcm
    nonce = bytes(4) + b"\x00\x00\x00\x00\x00\x00\x00\x07"
    for n in (0, 1, 16, 17, 600, 1100):
        pt = bytes((i * 7 + n) & 0xFF for i in range(n))
        ct = ref.encrypt(nonce, b"", pt)
        buf = bytearray(3) + bytearray(pt) + bytearray(16)
        aead.seal_into(nonce, b"", buf, 3, n)
        assert bytes(buf[3:]) == ct, n
        got = aead.open_into(nonce, b"", memoryview(buf)[3:])
        assert bytes(got) == pt, n
        bad = bytearray(ct)
        bad[n // 2] ^= 1
        before = bytes(bad)
        try:
            aead.open_into(nonce, b"", memoryview(bad))
            raise AssertionError("tampered input decrypted")
        except CryptoError:
            pass
        assert bytes(bad) == before  # nothing decrypted when the tag fails


def test_encrypt_parts_is_encrypt_across_rekeys_and_decrypts_in_place():
    for c in backends():
        a = Encryptor(c, KEY)
        b = Encryptor(c, KEY)
        d = Decryptor(c, KEY)
        for i in range(2 * KEY_RENEWAL_INTERVAL + 3):
            body = bytes([i & 0xFF]) * (i * 9)
            x = a.encrypt(b"hd" + body + b"t")
            y = b.encrypt_parts(b"hd", body, b"t")
            assert bytes(x) == bytes(y), i
            n, pt = d.decrypt(memoryview(bytearray(y)))  # in place where the AEAD can
            assert n == i and bytes(pt) == b"hd" + body + b"t"


def test_payload_head_and_tail_are_encode_payload():
    on = route("0#a", "0#outlet")
    ret = route("0#bb")
    for n in (0, 23, 24, 255, 256, 1024, 70000):
        p = bytes(n)
        assert bytes(payload_head(on, ret, n)) + p + PADDING_TAIL == encode_payload(on, ret, p)


def test_large_payloads_are_views_of_a_bytearray_small_ones_bytes():
    if message.fast_fields is not None:
        return  # a host reads messages with its own fast path (hopseal_host.fastwire)
    on = route("0#x", "0#y")
    ret = route("0#z")
    for n in (0, VIEW_MIN - 1, VIEW_MIN, 3000):
        wire = Message(on, ret, bytes((i & 0xFF for i in range(n)))).encode()
        general = decode_message(bytes(wire))
        m = decode_message(bytearray(wire))
        assert (type(m.payload) is memoryview) == (n >= VIEW_MIN), n
        assert bytes(m.payload) == general.payload and m.onward == general.onward and m.return_ == general.return_
        m = decode_message(memoryview(bytearray(wire)))
        assert bytes(m.payload) == general.payload
        # a plaintext decrypted in place: its inner payload stays a view too
        pt = bytearray(encode_payload(on, ret, general.payload))
        kind, inner = decode_plaintext(memoryview(pt))
        assert kind == PAYLOAD and bytes(inner.payload) == general.payload
        assert (type(inner.payload) is memoryview) == (n >= VIEW_MIN)
    # with a tracing context, or trailing bytes: the general decoder's answer and errors
    wire = bytearray(Message(on, ret, bytes(VIEW_MIN), "trace").encode())
    assert decode_message(wire).tracing == "trace"
    try:
        decode_message(bytearray(Message(on, ret, bytes(VIEW_MIN)).encode()) + b"\x00")
        raise AssertionError("trailing byte accepted")
    except Exception as e:
        assert type(e).__name__ == "DecodeError"


def test_arq_delivers_views_and_copies_one_still_undelivered():
    # no reassembly buffer yet: a one-fragment message is a bytearray of its own
    out = []
    Arq(100, 1000, 1000).on_rdata(b"\x00\x00" + bytes((FLAG_END,)) + b"alone", out)
    assert type(out[0]) is bytearray and out[0] == b"alone"
    a = Arq(100, 1000, 1000, rx_buf=bytearray(1000))
    out = []
    a.on_rdata(b"\x00\x00" + bytes((FLAG_END,)) + b"first", out)
    assert type(out[0]) is memoryview and bytes(out[0]) == b"first"
    # a second message in the same feed reuses the buffer: the first becomes a copy of its own
    a.on_rdata(b"\x00\x05\x00" + b"sec", out)
    a.on_rdata(b"\x00\x08" + bytes((FLAG_END,)) + b"ond", out)
    assert [bytes(m) for m in out] == [b"first", b"second"]
    assert type(out[0]) is bytearray and type(out[1]) is memoryview
    # delivered: the next feed may reuse the buffer
    out = []
    a.on_rdata(b"\x00\x0b" + bytes((FLAG_END,)) + b"third", out)
    assert [bytes(m) for m in out] == [b"third"]


def test_arq_reassembly_buffer_grows_as_messages_need():
    a = Arq(1000, 10000, 10000)
    out = []
    a.on_rdata(b"\x00\x00\x00" + b"x" * 10, out)  # a first fragment: the buffer's first size
    assert len(a.rx_buf) == RX_BUF_FIRST
    data = bytes(i & 0xFF for i in range(5000))
    pos = 10
    a.on_rdata(b"\x00\x0a\x00" + data[:1000], out)
    for off in range(1000, 5000, 1000):
        flags = FLAG_END if off + 1000 == 5000 else 0
        at = pos + off
        a.on_rdata(bytes(((at >> 8) & 0xFF, at & 0xFF, flags)) + data[off:off + 1000], out)
    assert len(out) == 1 and bytes(out[0]) == b"x" * 10 + data
    assert len(a.rx_buf) == 4 * RX_BUF_FIRST and type(out[0]) is memoryview
    # never more than max_message
    b = Arq(1000, 3000, 3000)
    out = []
    b.on_rdata(b"\x00\x00\x00" + bytes(1000), out)
    b.on_rdata(b"\x03\xe8\x00" + bytes(1000), out)
    b.on_rdata(b"\x07\xd0" + bytes((FLAG_END,)) + bytes(1000), out)
    assert len(b.rx_buf) == 3000 and len(out) == 1 and len(out[0]) == 3000


def test_arq_lends_one_message_at_a_time_after_a_gap():
    a = Arq(100, 1000, 1000, rx_buf=bytearray(1000))
    out = []
    # message A = "aaaa" + "AAAA", message B = "bbbb"; A's first fragment is late
    a.on_rdata(b"\x00\x04\x01AAAA", out, True)
    a.on_rdata(b"\x00\x08\x01bbbb", out, True)
    assert out == [] and a.held
    a.on_rdata(b"\x00\x00\x00aaaa", out, True)  # fills the gap: A completes, B waits
    assert len(out) == 1 and type(out[0]) is memoryview and bytes(out[0]) == b"aaaaAAAA"
    assert a.ready()
    out = []  # A delivered
    a.more(out)
    assert [bytes(m) for m in out] == [b"bbbb"] and not a.ready() and not a.held
    # without lending (SerialLink.feed), both at once: A copied out before B reuses the buffer
    a = Arq(100, 1000, 1000, rx_buf=bytearray(1000))
    out = []
    a.on_rdata(b"\x00\x04\x01AAAA", out)
    a.on_rdata(b"\x00\x08\x01bbbb", out)
    a.on_rdata(b"\x00\x00\x00aaaa", out)
    assert [bytes(m) for m in out] == [b"aaaaAAAA", b"bbbb"] and type(out[0]) is bytearray


def test_a_send_tried_again_after_a_failure_does_not_rekey_twice():
    for c in backends():
        a = Encryptor(c, KEY)
        b = Encryptor(c, KEY)
        d = Decryptor(c, KEY)
        for i in range(3 * KEY_RENEWAL_INTERVAL):
            if i % KEY_RENEWAL_INTERVAL == 0:
                b._next()  # a send that failed after choosing its nonce (and rekeying)
            x = a.encrypt(b"m%d" % i)
            y = b.encrypt_parts(b"m", b"%d" % i, b"")
            assert bytes(x) == bytes(y), i
            assert bytes(d.decrypt(memoryview(bytearray(y)))[1]) == b"m%d" % i
    e = Encryptor(backends()[0], KEY, nonce=KEY_RENEWAL_INTERVAL)  # resumed at a window's first nonce
    f = Encryptor(backends()[0], KEY)
    for i in range(KEY_RENEWAL_INTERVAL):
        f.encrypt(b"")
    assert e.encrypt(b"x") == f.encrypt(b"x")
