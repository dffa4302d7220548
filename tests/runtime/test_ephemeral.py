"""The next handshake's ephemeral key, made while the node is idle (hopseal/secure/ephemeral.py).

    micropython tests/mp_run.py test_ephemeral
"""
import asyncio

from hopseal.node import Node
from hopseal.secure import ephemeral
from hopseal.secure.channel import SecureChannelListener, create_secure_channel
from hopseal.transport.tcp import TCPTransport
from hs_backends import backends
from rt import listen_anywhere, quiet, run
from test_channel import vaults

CRYPTO = backends()[-1]


class _Recording:
    """node.crypto that records every ephemeral public key a handshake puts on the wire: msg1 and
    msg2 start with it, so a key made here is seen going out through its public half."""

    def __init__(self, inner):
        self._inner = inner
        self.pairs = []

    def x25519_keypair(self):
        pair = self._inner.x25519_keypair()
        self.pairs.append(pair)
        return pair

    def __getattr__(self, name):
        return getattr(self._inner, name)


def _record(keys):
    """keys, with the pairs its take() hands out kept in keys.handed."""
    keys.handed = []
    take = keys.take

    def recording_take():
        pair = take()
        if pair is not None:
            keys.handed.append(pair)
        return pair

    keys.take = recording_take
    return keys


def test_take_hands_a_key_out_once():
    quiet()

    async def main():
        node = Node("n", crypto=CRYPTO)
        keys = ephemeral.for_node(node)
        assert ephemeral.for_node(node) is keys
        assert keys.take() is None  # nothing made yet: the handshake makes its own
        await asyncio.sleep(keys.delay_ms / 1000 + 0.1)  # idle: the refill ran
        pair = keys.take()
        assert pair is not None and len(pair[0]) == 32 and len(pair[1]) == 32
        assert CRYPTO.x25519_public(pair[0]) == pair[1]
        assert keys.take() is None  # never the same key twice
        await asyncio.sleep(keys.delay_ms / 1000 + 0.1)
        again = keys.take()
        assert again is not None and again != pair
        assert keys.made == 2 and keys.taken == 2

    run(main())


def test_second_channel_uses_a_precomputed_key_never_twice():
    quiet()

    async def main():
        bob_crypto = _Recording(CRYPTO)
        alice_crypto = _Recording(CRYPTO)
        bob = Node("bob", crypto=bob_crypto)
        tcp = TCPTransport(bob)
        SecureChannelListener(bob, vaults()[1], "api", timeout=5)  # starts bob's first key
        hop = "1#127.0.0.1:%d" % (await listen_anywhere(tcp)).port
        alice = Node("alice", crypto=alice_crypto)
        TCPTransport(alice)
        await asyncio.sleep(0.3)
        bob_keys = _record(ephemeral.for_node(bob))
        alice_keys = _record(ephemeral.for_node(alice))
        assert bob_keys.made == 1 and bob_keys.taken == 0
        used = []
        for i in range(3):
            ch = await create_secure_channel(alice, vaults()[0], [hop, "api"], timeout=10)
            used.append(ch.encryptor_address)
            await ch.close()
            await asyncio.sleep(0.3)  # idle: both sides make their next key
        # alice's first channel made its key inline, the next two took ready ones; bob's three
        # handshakes all took keys made while idle (the first one when its listener started)
        assert alice_keys.taken == 2 and bob_keys.taken == 3, (alice_keys.taken, bob_keys.taken)
        # the keys handed out: all different, each made by the pool; and every key pair bob
        # ever made came from the pool, so none of his handshakes made one on the critical path
        for keys, c in ((alice_keys, alice_crypto), (bob_keys, bob_crypto)):
            privs = [p for p, _ in c.pairs]
            assert len(set(privs)) == len(privs)
            assert len(set(keys.handed)) == len(keys.handed) == keys.taken
            assert all(pair in c.pairs for pair in keys.handed)
        assert bob_keys.made == len(bob_crypto.pairs)
        assert alice_keys.made == len(alice_crypto.pairs) - 1  # the first channel's, made inline
        await alice.stop()
        await bob.stop()

    run(main())
