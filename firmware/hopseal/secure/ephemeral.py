"""The next ephemeral X25519 key of a node's handshakes, made while the node is idle.

A Noise XX side spends one of its scalar multiplications on its ephemeral key pair before it can
send its first message (the initiator's msg1, the responder's msg2): on a board that is a third
of the side's public-key work, on the critical path of every channel. As ESPHome does, the node
makes the key for its next handshake beforehand, a moment after the last one took its key (and
when its listener starts), and a new channel takes it ready-made.

Rules upheld here:
- a key is handed out once: take() clears it before returning it, and a handshake that fails or
  is dropped never gives it back, so no two handshakes share an ephemeral key;
- at most one key is kept, and one refill is scheduled at a time, so a flood of msg1s costs no
  more key generation than without the pool (the channels past the first make their own);
- without a running event loop (or before the refill ran) take() returns None and the handshake
  makes its key itself, as before.
"""
import asyncio

IDLE_DELAY_MS = 100  # after a take: the handshake that took the key goes first


class EphemeralKeys:
    """One precomputed (priv, pub) X25519 pair for `node`'s next handshake (node.crypto makes it)."""

    def __init__(self, node, delay_ms=IDLE_DELAY_MS):
        self.node = node
        self.delay_ms = delay_ms
        self.made = 0  # keys generated here
        self.taken = 0  # keys handed to handshakes
        self._next = None
        self._filling = False

    def take(self):
        """The ready key pair, or None; either way the next one is made soon."""
        key = self._next
        self._next = None
        if key is not None:
            self.taken += 1
        self.refill_soon()
        return key

    def refill(self):
        """Make the next key now if there is none."""
        if self._next is None:
            self._next = self.node.crypto.x25519_keypair()
            self.made += 1

    def refill_soon(self):
        """Make the next key `delay_ms` from now, in a task of the running loop."""
        if self._next is not None or self._filling:
            return
        try:
            asyncio.create_task(self._fill())
        except RuntimeError:  # no running loop: the next handshake makes its own key
            return
        self._filling = True

    async def _fill(self):
        try:
            await asyncio.sleep(self.delay_ms / 1000)
            self.refill()
        finally:
            self._filling = False


def for_node(node):
    """The node's EphemeralKeys (node.ephemeral_keys), made on first use."""
    keys = getattr(node, "ephemeral_keys", None)
    if keys is None:
        keys = EphemeralKeys(node)
        node.ephemeral_keys = keys
    return keys
