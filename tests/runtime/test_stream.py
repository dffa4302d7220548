"""Streams (ockam-wire §7): the codec against tests/vectors/stream.json, the stream service over
a MemoryStore, producer and consumer, and a secure channel over a pair of streams as in Ockam's
Alice and Bob, over real loopback TCP, on both runtimes. Bad input gets the `error` reply."""
import asyncio

from hopseal.errors import DecodeError
from hopseal.node import Node
from hopseal.secure import resume
from hopseal.secure.channel import SecureChannelListener, create_secure_channel
from hopseal.secure.trust import channel_only
from hopseal.services.basic import Echo
from hopseal.services import stream_service as svcmod
from hopseal.services.stream import StreamConsumer, StreamPair, StreamProducer
from hopseal.transport.tcp import TCPTransport
from hopseal.wire import message_v1
from hopseal.wire import stream as sp
from hopseal.wire.message import Message, route
from rt import listen_anywhere, quiet, raises, run
from vectors import load, unhex

V = load("stream.json")


def _encode(v):
    n = v["name"]
    if n == "create":
        return sp.create(v["stream_name"])
    if n == "init":
        return sp.init(v["stream_name"])
    if n == "push":
        return sp.push(v["request_id"], unhex(v["data_hex"]))
    if n == "push_confirm":
        return sp.push_confirm(v["request_id"], v["ok"], v["index"])
    if n == "pull":
        return sp.pull(v["request_id"], v["index"], v["limit"])
    if n == "pull_response":
        return sp.pull_response(v["request_id"], [(i, unhex(d)) for i, d in v["messages"]])
    if n == "index_get":
        return sp.index_get(v["client_id"], v["stream_name"])
    if n == "index_save":
        return sp.index_save(v["client_id"], v["stream_name"], v["index"])
    if n == "index_reply":
        return sp.index_reply(v["client_id"], v["stream_name"], v["index"])
    if n == "error":
        return sp.error(v["reason"])
    raise AssertionError(n)


REQUEST = {"create": sp.CREATE, "init": sp.CREATE, "push": sp.PUSH, "push_confirm": sp.PUSH, "pull": sp.PULL,
           "pull_response": sp.PULL, "index_get": sp.INDEX, "index_save": sp.INDEX, "index_reply": sp.INDEX,
           "error": sp.ERROR}


def _decode(name, body):
    if name == "create":
        return sp.decode_create(body)
    if name == "init":
        return sp.decode_init(body)
    if name == "push":
        return sp.decode_push(body)
    if name == "push_confirm":
        return sp.decode_push_confirm(body)
    if name == "pull":
        return sp.decode_pull(body)
    if name == "pull_response":
        return sp.decode_pull_response(body)
    if name in ("index_get", "index_save", "index_request"):
        return sp.decode_index_request(body)
    if name == "index_reply":
        return sp.decode_index_reply(body)
    if name == "error":
        return sp.decode_error(body)
    if name == "payload":
        return sp.decode_payload(body)
    raise AssertionError(name)


def _expected(v):
    n = v["name"]
    if n in ("create", "init"):
        return v["stream_name"]
    if n == "push":
        return (v["request_id"], unhex(v["data_hex"]))
    if n == "push_confirm":
        return (v["request_id"], v["ok"], v["index"])
    if n == "pull":
        return (v["request_id"], v["index"], v["limit"])
    if n == "pull_response":
        return (v["request_id"], [(i, unhex(d)) for i, d in v["messages"]])
    if n == "index_get":
        return (sp.GET, v["client_id"], v["stream_name"], None)
    if n == "index_save":
        return (sp.SAVE, v["client_id"], v["stream_name"], v["index"])
    if n == "index_reply":
        return (v["client_id"], v["stream_name"], v["index"])
    return v["reason"]


def _norm(x):
    if isinstance(x, tuple):
        return tuple(_norm(i) for i in x)
    if isinstance(x, list):
        return [_norm(i) for i in x]
    if isinstance(x, (bytes, bytearray, memoryview)):
        return bytes(x)
    return x


def test_encodings_match_the_hand_derived_vectors():
    for v in V["encode"]:
        assert bytes(_encode(v)) == unhex(v["hex"]), v


def test_vectors_decode_whole_and_refuse_every_prefix_and_trailing_byte():
    for v in V["encode"]:
        whole = unhex(v["hex"])
        protocol, body = sp.decode_payload(whole)
        assert protocol == REQUEST[v["name"]]
        assert _norm(_decode(v["name"], body)) == _expected(v), v
        # fed one byte more at a time: every proper prefix of the envelope is refused
        for i in range(len(whole)):
            raises(DecodeError, sp.decode_payload, whole[:i])
        raises(DecodeError, sp.decode_payload, whole + b"\x00")
        # and every proper prefix of the body, and the body with a trailing byte
        for i in range(len(body)):
            try:
                got = _decode(v["name"], body[:i])
            except DecodeError:
                continue
            raise AssertionError("%s prefix %d decoded to %r" % (v["name"], i, got))
        raises(DecodeError, _decode, v["name"], bytes(body) + b"\x00")


def test_invalid_bodies_are_refused():
    for v in V["invalid_bodies"]:
        raises(DecodeError, _decode, v["decoder"], unhex(v["hex"]))


def test_round_trips_at_the_edges():
    big = (1 << 64) - 1
    assert sp.decode_pull(sp.decode_payload(sp.pull(big, big, big))[1]) == (big, big, big)
    p, body = sp.decode_payload(sp.push(0, b"\x00" * 300))
    assert _norm(sp.decode_push(body)) == (0, b"\x00" * 300)
    raises(DecodeError, sp.decode_push, body, 299)
    # a reason longer than 255 bytes is cut at a character boundary
    r = sp.decode_error(sp.decode_payload(sp.error("é" * 200))[1])
    assert r == "é" * 127


# -- the service and its clients, in process and over loopback TCP -----------------------------

class _Tiny:
    max_streams = 3
    max_message = 64
    max_stream_bytes = 0
    max_pull = 10
    max_pull_bytes = 150
    max_name = 20
    max_indexes = 4


async def hub(limits=None, store=None):
    h = Node("hub")
    tcp = TCPTransport(h)
    store = store or svcmod.MemoryStore()
    svc = svcmod.StreamService(h, store, limits)
    await svc.start()
    lst = await listen_anywhere(tcp)
    return h, svc, store, "1#127.0.0.1:%d" % lst.port


async def ask(node, to, payload, timeout=5):
    r = await node.send_and_receive(to, payload, timeout)
    return sp.decode_payload(r.payload) + (r.return_,)


def test_create_push_pull_index_over_tcp():
    quiet()

    async def main():
        h, svc, store, hop = await hub()
        c = Node("client")
        TCPTransport(c)
        protocol, body, ret = await ask(c, [hop, "stream"], sp.create("s1"))
        assert protocol == sp.CREATE and sp.decode_init(body) == "s1"
        assert ret[-1].value == b"stream.s1"  # the stream's own worker: pushes and pulls go there
        sroute = [hop, "stream.s1"]
        for i in range(5):
            protocol, body, _ = await ask(c, sroute, sp.push(10 + i, b"rec%d" % i))
            assert protocol == sp.PUSH and sp.decode_push_confirm(body) == (10 + i, True, i)
        protocol, body, _ = await ask(c, sroute, sp.pull(7, 2, 2))
        assert _norm(sp.decode_pull_response(body)) == (7, [(2, b"rec2"), (3, b"rec3")])
        protocol, body, _ = await ask(c, [hop, "stream_index"], sp.index_get("c1", "s1"))
        assert sp.decode_index_reply(body) == ("c1", "s1", None)
        await c.send([hop, "stream_index"], sp.index_save("c1", "s1", 4), ["nobody"])
        await asyncio.sleep(0.1)
        protocol, body, _ = await ask(c, [hop, "stream_index"], sp.index_get("c1", "s1"))
        assert sp.decode_index_reply(body) == ("c1", "s1", 4)
        # create without a name: a random one
        protocol, body, ret = await ask(c, [hop, "stream"], sp.create(None))
        assert len(sp.decode_init(body)) == 16
        await c.stop()
        await h.stop()

    run(main())


def test_bad_requests_get_the_error_reply_and_change_nothing():
    quiet()

    async def main():
        h, svc, store, hop = await hub(_Tiny())
        c = Node("client")
        TCPTransport(c)
        await ask(c, [hop, "stream"], sp.create("ok"))
        sroute = [hop, "stream.ok"]

        async def refused(to, payload, why):
            protocol, body, _ = await ask(c, to, payload)
            assert protocol == sp.ERROR, (payload, protocol)
            reason = sp.decode_error(body)
            assert why in reason, (why, reason)

        await refused([hop, "stream"], b"\xff\xff", "malformed")  # not BARE at all
        await refused([hop, "stream"], sp.encode_payload("stream_create", b"\x02"), "malformed")  # bad option tag
        await refused([hop, "stream"], sp.encode_payload("stream_destroy", b"\x00"), "expects stream_create")
        await refused([hop, "stream"], sp.create("bad name!"), "only letters")
        await refused([hop, "stream"], sp.create("x" * 21), "longer than 20")
        await refused(sroute, sp.push(1, b"x" * 65), "more than 64 bytes")
        await refused(sroute, sp.pull(1, 0, 0), "pull limit 0")
        await refused(sroute, sp.pull(1, 0, 11), "pull limit 11")
        await refused(sroute, sp.pull(1, 0, (1 << 64) - 1), "pull limit")
        await refused(sroute, sp.encode_payload("stream_pull", b"\x01\x00"), "malformed")
        await refused(sroute, sp.index_get("c", "ok"), "takes stream_push or stream_pull")
        await refused([hop, "stream_index"], sp.index_get("c", "nope"), "unknown stream")
        await refused([hop, "stream_index"], sp.index_get("I" + "0" * 64 + "/c", "ok"), "not yours")
        await refused([hop, "stream_index"], sp.index_save("a/b", "ok", 3), "not yours")
        await refused([hop, "stream_index"], sp.encode_payload("stream_index", b"\x02\x01a\x02ok"), "malformed")
        for i in range(4):
            await c.send([hop, "stream_index"], sp.index_save("c%d" % i, "ok", 1), ["nobody"])
        await asyncio.sleep(0.1)
        await refused([hop, "stream_index"], sp.index_save("c9", "ok", 1), "consumer indexes")
        await ask(c, [hop, "stream"], sp.create("two"))
        await ask(c, [hop, "stream"], sp.create("three"))
        await refused([hop, "stream"], sp.create("four"), "3 streams")
        # nothing was stored by any of it; the service still serves
        assert await store.read("ok", 0, 100) == []
        assert sorted(store.logs) == ["ok", "three", "two"]
        protocol, body, _ = await ask(c, sroute, sp.push(5, b"fine"))
        assert sp.decode_push_confirm(body) == (5, True, 0)
        assert h.counters["stream_refused"] == svc.refused == 17
        # a pull response is cut at max_pull_bytes (at least one record)
        for i in range(5):
            await ask(c, sroute, sp.push(6 + i, b"y" * 60))
        protocol, body, _ = await ask(c, sroute, sp.pull(1, 0, 10))
        assert [i for i, _ in sp.decode_pull_response(body)[1]] == [0, 1]
        await c.stop()
        await h.stop()

    run(main())


def test_retention_drops_the_oldest_records():
    quiet()

    class L(svcmod.Limits):
        max_stream_bytes = 100

    async def main():
        h, svc, store, hop = await hub(L())
        c = Node("client")
        TCPTransport(c)
        await ask(c, [hop, "stream"], sp.create("r"))
        for i in range(svcmod.TRIM_EVERY):
            await ask(c, [hop, "stream.r"], sp.push(i, b"z" * 10))
        protocol, body, _ = await ask(c, [hop, "stream.r"], sp.pull(1, 0, 100))
        got = [i for i, _ in sp.decode_pull_response(body)[1]]
        assert got == list(range(svcmod.TRIM_EVERY - 10, svcmod.TRIM_EVERY)), got
        await c.stop()
        await h.stop()

    run(main())


def test_producer_and_consumer_deliver_in_order_and_save_the_index():
    quiet()

    async def main():
        h, svc, store, hop = await hub()
        a = Node("a")
        TCPTransport(a)
        b = Node("b")
        TCPTransport(b)
        inbox = b.mailbox("inbox")
        prod = StreamProducer(a, [hop], "a_to_b").start()
        for i in range(20):
            await a.send([prod.address, "inbox"], b"m%d" % i, ["reply_here"])
        cons = StreamConsumer(b, [hop], "a_to_b", "b-client", producer="b_prod", interval=0.02).start()
        got = []
        for i in range(20):
            m = await inbox.receive(10)
            got.append(m.payload)
            assert m.return_[0].value == b"b_prod" and m.return_[1].value == b"reply_here"
            assert m.origin is cons
        assert got == [b"m%d" % i for i in range(20)]
        await prod.flush(10)
        assert prod.pushed == 20
        await asyncio.sleep(0.1)
        assert await store.get_index("b-client", "a_to_b") == 20
        await cons.close()
        # a new consumer with the same client id starts after what was read: nothing repeats
        await a.send([prod.address, "inbox"], b"later", [])
        cons2 = StreamConsumer(b, [hop], "a_to_b", "b-client", interval=0.02).start()
        m = await inbox.receive(10)
        assert m.payload == b"later"
        await asyncio.sleep(0.2)
        assert not inbox.queue
        await cons2.close()
        await prod.close()
        for n in (a, b, h):
            await n.stop()

    run(main())


def test_a_consumer_never_makes_its_node_dial_out():
    quiet()

    async def main():
        h, svc, store, hop = await hub()
        a = Node("a")
        TCPTransport(a)
        # a record whose onward route starts with a TCP hop: forwarded by the consumer, refused
        await ask(a, [hop, "stream"], sp.create("evil"))
        rec = message_v1.encode(Message(route("1#127.0.0.1:9", "x"), [], b"dial"))
        await ask(a, [hop, "stream.evil"], sp.push(1, rec))
        await ask(a, [hop, "stream.evil"], sp.push(2, b"not a transport message"))
        cons = StreamConsumer(a, [hop], "evil", "c", interval=0.02).start()
        for _ in range(100):
            if cons.records >= 2:
                break
            await asyncio.sleep(0.02)
        assert a.counters.get("non_local_from_network") == 1
        assert a.counters.get("stream_forward_failed") == 1
        assert a.counters.get("stream_undecodable") == 1
        await cons.close()
        await a.stop()
        await h.stop()

    run(main())


def test_producer_pushes_again_after_the_hub_restarts():
    quiet()

    async def main():
        store = svcmod.MemoryStore()
        h, svc, _, hop = await hub(store=store)
        a = Node("a")
        TCPTransport(a)
        prod = StreamProducer(a, [hop], "s", timeout=0.5).start()
        await a.send([prod.address, "x"], b"one", [])
        await prod.flush(10)
        await h.stop()
        port = int(hop.split(":")[-1])
        await asyncio.sleep(0.1)
        await a.send([prod.address, "x"], b"two", [])
        await asyncio.sleep(0.5)
        h2 = Node("hub2")
        tcp = TCPTransport(h2)
        svc2 = svcmod.StreamService(h2, store)
        await svc2.start()
        await tcp.listen("127.0.0.1", port)
        await prod.flush(20)
        assert [d for _, d in await store.read("s", 0, 10)][:1] == [message_v1.encode(Message(route("x"), [], b"one"))]
        assert len(await store.read("s", 0, 10)) >= 2
        await prod.close()
        await a.stop()
        await h2.stop()

    run(main())


def test_secure_channel_over_two_streams_like_alice_and_bob():
    quiet()
    from test_channel import CRYPTO, vaults

    async def main():
        h, svc, store, hop = await hub()
        bob = Node("bob", crypto=CRYPTO)
        TCPTransport(bob)
        SecureChannelListener(bob, vaults()[1], "listener")
        bob.start_worker("echoer", Echo(), access=channel_only())
        bob_streams = StreamPair(bob, [hop], "bob_to_alice", "alice_to_bob", "bob", interval=0.02).start()
        alice = Node("alice", crypto=CRYPTO)
        TCPTransport(alice)
        alice_streams = StreamPair(alice, [hop], "alice_to_bob", "bob_to_alice", "alice", interval=0.02).start()
        await bob_streams.wait_ready()
        await alice_streams.wait_ready()
        ch = await create_secure_channel(alice, vaults()[0], [alice_streams.address, "listener"], timeout=30)
        assert ch.peer_identifier == vaults()[1].identifier
        mb = alice.mailbox()
        for i in range(40):  # past a rekey (every 32 messages)
            await alice.send([ch.encryptor_address, "echoer"], b"secret %d" % i, [mb.address])
        got = []
        for _ in range(40):
            got.append((await mb.receive(20)).payload)
        assert got == [b"secret %d" % i for i in range(40)]
        # the hub stored only ciphertext
        for name in ("alice_to_bob", "bob_to_alice"):
            for _, rec in await store.read(name, 0, 1000):
                assert b"secret" not in rec
        await alice_streams.close()
        await bob_streams.close()
        for n in (alice, bob, h):
            await n.stop()

    run(main())


def test_a_saved_channel_end_resumes_exactly_once_and_a_lost_one_is_counted():
    quiet()
    from test_channel import CRYPTO, vaults

    class Sink:
        """The application: records each message and the channel's state after it, together."""

        def __init__(self):
            self.got = []
            self.state = None

        def handle_message(self, node, msg):
            self.got.append(bytes(msg.payload))
            self.state = resume.state(msg.origin)

    async def bob_node(sink, st=None):
        bob = Node("bob", crypto=CRYPTO)
        TCPTransport(bob)
        SecureChannelListener(bob, vaults()[1], "listener")
        bob.start_worker("sink", sink)
        if st is not None:
            resume.resume(bob, st)
        pair = StreamPair(bob, [hop], "b2a", "a2b", "bob", interval=0.02, producer_address="bob_producer").start()
        return bob, pair

    async def wait_for(cond, what):
        for _ in range(500):
            if cond():
                return
            await asyncio.sleep(0.02)
        raise AssertionError(what)

    async def main():
        global hop
        h, svc, store, hop = await hub()
        sink = Sink()
        bob, bob_pair = await bob_node(sink)
        alice = Node("alice", crypto=CRYPTO)
        TCPTransport(alice)
        apair = StreamPair(alice, [hop], "a2b", "b2a", "alice", interval=0.02).start()
        ch = await create_secure_channel(alice, vaults()[0], [apair.address, "listener"], timeout=30)
        for i in range(5):
            await alice.send([ch.encryptor_address, "sink"], b"m%d" % i, [])
        await wait_for(lambda: len(sink.got) == 5, "first five")
        saved = sink.state
        # Bob stops; Alice goes on; Bob's consumer index was saved up to m4 (or less: replays)
        await bob_pair.close()
        await bob.stop()
        for i in range(5, 45):  # past a rekey on the way
            await alice.send([ch.encryptor_address, "sink"], b"m%d" % i, [])
        await apair.producer.flush(20)
        # Bob comes back with the saved state: every message once, in order
        store.indexes[("bob", "a2b")] = 0  # and the stream replays everything from the start
        sink2 = Sink()
        bob, bob_pair = await bob_node(sink2, saved)
        await wait_for(lambda: len(sink2.got) == 40, "the forty sent while Bob was away")
        await asyncio.sleep(0.2)
        assert sink2.got == [b"m%d" % i for i in range(5, 45)]
        # m0..m4 again, and the handshake's third message: refused (the first message, replayed,
        # starts a handshake that goes nowhere)
        c = bob.counters
        assert c.get("channel_replay_or_window", 0) + c.get("channel_auth_failed", 0) == 6, c
        assert c["channel_rx"] == 40
        await bob_pair.close()
        await bob.stop()
        # without its state Bob's new node cannot read the old channel's records: counted
        for i in range(45, 48):
            await alice.send([ch.encryptor_address, "sink"], b"m%d" % i, [])
        await apair.producer.flush(20)
        sink3 = Sink()
        bob, bob_pair = await bob_node(sink3)
        await wait_for(lambda: bob.counters.get("stream_undeliverable", 0) == 3, "three undeliverable")
        assert sink3.got == []
        await bob_pair.close()
        await apair.close()
        for n in (alice, bob, h):
            await n.stop()

    run(main())


def test_beyond_the_replay_window_records_lost_to_retention_are_counted_and_nothing_is_delivered():
    quiet()
    from test_channel import CRYPTO, vaults

    class L(svcmod.Limits):
        max_stream_bytes = 1500  # about ten of these records

    async def main():
        h, svc, store, hop = await hub(L())
        got = []
        bob = Node("bob", crypto=CRYPTO)
        TCPTransport(bob)
        SecureChannelListener(bob, vaults()[1], "listener")
        from hopseal.node import FunctionWorker

        bob.start_worker("sink", FunctionWorker(lambda node, msg: got.append(bytes(msg.payload))))
        bpair = StreamPair(bob, [hop], "b2a", "a2b", "bob", interval=0.02).start()
        alice = Node("alice", crypto=CRYPTO)
        TCPTransport(alice)
        apair = StreamPair(alice, [hop], "a2b", "b2a", "alice", interval=0.02).start()
        ch = await create_secure_channel(alice, vaults()[0], [apair.address, "listener"], timeout=30)
        await alice.send([ch.encryptor_address, "sink"], b"first", [])
        for _ in range(200):
            if got:
                break
            await asyncio.sleep(0.02)
        assert got == [b"first"]
        # Bob's consumer stops; Alice sends 64 more, of which retention keeps only the last few
        await bpair.consumer.close()
        for i in range(64):
            await alice.send([ch.encryptor_address, "sink"], b"m%d" % i, [])
        await apair.producer.flush(20)
        kept = await store.read("a2b", 0, 1000)
        assert 0 < len(kept) < 33 and kept[0][0] > 3
        # Bob's channel end reads on (same process: its keys are there): the records it gets are
        # more than 32 nonces ahead of the last one it read: refused, counted, nothing delivered
        cons = StreamConsumer(bob, [hop], "a2b", "bob", producer=bpair.producer.address, interval=0.02).start()
        for _ in range(500):
            if cons.records >= len(kept):
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)
        assert got == [b"first"]
        assert bob.counters["stream_gap"] == kept[0][0] - 3  # msg1, msg3, "first" were read
        assert bob.counters["channel_replay_or_window"] == len(kept)
        await cons.close()
        await bpair.close()
        await apair.close()
        for n in (alice, bob, h):
            await n.stop()

    run(main())
