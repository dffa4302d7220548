"""A secure-channel peer process for system tests; runs under CPython and MicroPython.

    channel_peer.py respond PORT VAULT [AUTHORIZED_ID]
        node with the `api` listener and a channel-only `echo`; prints `ready`, then on Ctrl-C
        prints `counters k=v ...` and exits.
    channel_peer.py initiate HOST:PORT VAULT N
        opens a channel to api, sends N messages through echo one at a time (1 s timeout each),
        prints `result sent=N ok=K lost=L bad=B`, the lost indices, and the counters.
"""
import asyncio
import sys

from hopseal.apps.node import parse_hostport
from hopseal.compat import set_log_sink, wall_time
from hopseal.errors import ReceiveTimeout
from hopseal.node import Node
from hopseal.secure.channel import SecureChannelListener, create_secure_channel
from hopseal.secure.trust import TrustIdentifiers, channel_only
from hopseal.secure.vault import open_vault
from hopseal.services.basic import Echo
from hopseal.transport.tcp import TCPTransport


def crypto():
    try:
        from hopseal_host.crypto_host import HostCrypto

        return HostCrypto()
    except ImportError:
        from hopseal.crypto.soft import SoftCrypto

        return SoftCrypto()


def say(*parts):
    print(" ".join(str(p) for p in parts))
    if hasattr(sys.stdout, "flush"):
        sys.stdout.flush()


def counters(node):
    keys = sorted(node.counters)
    return "counters " + " ".join("%s=%d" % (k, node.counters[k]) for k in keys)


async def respond(port, vault_dir, authorized):
    c = crypto()
    node = Node("responder", crypto=c)
    tcp = TCPTransport(node)
    vault = open_vault(c, vault_dir, wall_time())
    trust = TrustIdentifiers([authorized]) if authorized else None
    SecureChannelListener(node, vault, "api", trust=trust)
    node.start_worker("echo", Echo(), access=channel_only())
    await tcp.listen("127.0.0.1", port)
    NODE.append(node)
    say("ready", vault.identifier_text())
    while True:
        await asyncio.sleep(0.2)


async def initiate(hostport, vault_dir, n):
    c = crypto()
    node = Node("initiator", crypto=c)
    TCPTransport(node)
    vault = open_vault(c, vault_dir, wall_time())
    host, port = parse_hostport(hostport)
    hop = "1#%s:%d" % (host, port)
    # plain TCP to the channel-only echo must be dropped
    try:
        await node.send_and_receive([hop, "echo"], b"plain", 0.5)
        say("plain_reached_echo")
    except ReceiveTimeout:
        say("plain_dropped")
    ch = await create_secure_channel(node, vault, [hop, "api"], timeout=20)
    say("channel_up", ch.peer())
    ok = bad = 0
    lost = []
    for i in range(n):
        payload = b"message %d" % i
        try:
            r = await node.send_and_receive([ch.encryptor_address, "echo"], payload, 1)
        except ReceiveTimeout:
            lost.append(i)
            continue
        if r.payload == payload:
            ok += 1
        else:
            bad += 1
    say("result sent=%d ok=%d lost=%d bad=%d" % (n, ok, len(lost), bad))
    say("lost", ",".join("%d" % i for i in lost))
    await ch.close()
    await asyncio.sleep(0.2)
    say(counters(node))
    await node.stop()


NODE = []


def main(argv):
    set_log_sink(lambda lvl, name, msg: None, 40)
    mode = argv[0]
    if mode == "respond":
        try:
            asyncio.run(respond(int(argv[1]), argv[2], argv[3] if len(argv) > 3 else None))
        except KeyboardInterrupt:
            # MicroPython raises it in the event loop, not in the task: report from here
            say(counters(NODE[0]) if NODE else "counters")
    else:
        asyncio.run(initiate(argv[1], argv[2], int(argv[3])))


main(sys.argv[1:])
