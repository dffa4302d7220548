"""A ready secure-channel end saved and brought back (issue 11): an application that reads a
channel over streams survives its own restart without losing what was sent meanwhile.

Optional: only such applications import it (never a board). hopseal's own extension, not Ockam's:
an Ockam channel end that restarts is gone, and so is everything still encrypted for it.
`state(ch)` is plain data (JSON-able: hex text and numbers): the two worker addresses, the role,
the peer's identifier, the remote route, the encryptor's key and next nonce, the decryptor's
current key, key interval, highest nonce and replay bitmap. `resume(node, state)` starts an end
with exactly that state, so every message already taken is refused as a replay (or as more than
32 behind) and every later one decrypts. Rules:
- the state holds channel keys: keep it as private as the identity's key file (0600), and only
  as long as the channel should live; a resumed channel has forward secrecy only up to its save;
- save it in the same transaction as the effect of the message that advanced it (tools
  like the stream application in host/hopseal_host/stream_app.py do), or a crash between the two
  gives that message twice or not at all;
- an end that sends must save the encryptor's nonce BEFORE the ciphertext leaves (a nonce used
  twice under one key breaks AES-GCM); the peer tolerates a skipped nonce (up to 32 ahead);
- the previous key (for messages of the last interval arriving after the next one began) is not
  kept: over a stream messages arrive in order, so it is not needed.
"""
from ..compat import hexstr, ticks_ms, unhex
from ..wire.message import Address
from .channel import SecureChannel, _DecryptorWorker, _EncryptorWorker
from .cipher import Decryptor, Encryptor

VERSION = 1


def _addr(a):
    return [a.tt, hexstr(a.value)]


def _unaddr(v):
    return Address(int(v[0]), unhex(v[1]))


def state(ch):
    """The ready channel `ch` as plain data (see the module text)."""
    if not ch.ready:
        raise ValueError("only a ready channel can be saved")
    e, d = ch.encryptor, ch.decryptor
    return {
        "v": VERSION,
        "initiator": ch.initiator,
        "decryptor": _addr(ch.decryptor_address),
        "encryptor": _addr(ch.encryptor_address),
        "peer": hexstr(ch.peer_identifier),
        "remote": [_addr(a) for a in ch.remote_route],
        "tx_key": hexstr(e.key),
        "tx_nonce": e.nonce,
        "rx_key": hexstr(d.cur_key),
        "rx_interval": d.cur_interval,
        "rx_highest": d.highest,
        "rx_bitmap": d.bitmap,
    }


def resume(node, st, listener=None):
    """A ready SecureChannel on `node` from `state()`'s data; its workers start at the saved
    addresses (RoutingError if one is taken)."""
    if st.get("v") != VERSION:
        raise ValueError("channel state version %r, expected %d" % (st.get("v"), VERSION))
    ch = object.__new__(SecureChannel)  # its state comes from `st`, not from a handshake
    ch.node = node
    ch.initiator = bool(st["initiator"])
    ch.listener = listener
    ch.decryptor_address = _unaddr(st["decryptor"])
    ch.encryptor_address = _unaddr(st["encryptor"])
    ch.handshake = None
    ch.remote_route = [_unaddr(a) for a in st["remote"]]
    ch.peer_identifier = unhex(st["peer"])
    ch.encryptor = Encryptor(node.crypto, unhex(st["tx_key"]), int(st["tx_nonce"]))
    d = Decryptor(node.crypto, unhex(st["rx_key"]))
    d.cur_interval = int(st["rx_interval"])
    d.highest = int(st["rx_highest"])
    d.bitmap = int(st["rx_bitmap"])
    ch.decryptor = d
    ch.closed = False
    ch.ready = True
    ch.error = None
    ch.origin = None
    ch.carrier = False
    ch.active = ch.opened = ticks_ms()
    ch.on_close = []
    ch._carrier = None
    import asyncio

    ch.done = asyncio.Event()
    ch.done.set()
    node.start_worker(ch.decryptor_address, _DecryptorWorker(ch))
    try:
        node.start_worker(ch.encryptor_address, _EncryptorWorker(ch))
    except Exception:
        node.stop_worker(ch.decryptor_address)
        raise
    if listener is not None:
        listener.channels.append(ch)
        listener._sweep_soon()
    return ch
