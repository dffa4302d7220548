"""Run under MicroPython: ONE side of a complete secure-channel handshake (Noise XX with identity
payloads, the peer's verified), talking to a peer process over stdin/stdout in hex lines.

    micropython -X heapsize=64K tools/bench/mp_handshake_side.py initiator|responder VAULT [BALLAST]

Prints `BASELINE <bytes>` (heap in use once the modules and the vault are loaded), `MSG <hex>`
for each message it sends, reads `MSG <hex>` lines, and ends with `HANDSHAKE OK <peer id>` and
`TIME_US <us> IMPL <python|viper>` (this side's handshake, first message to split, peer included).
BALLAST bytes are held in the heap meanwhile, in 1 KB pieces: the rest of a node (its heap in use
at ready), so the side runs with the free heap a board has at its budget.
"""
import gc
import sys
import time

try:
    import romfs_mount  # noqa: F401  (with HOPSEAL_ROMFS set: the runtime runs in place from /rom)
except ImportError:
    pass

from binascii import hexlify, unhexlify  # noqa: E402

from hopseal.compat import wall_time  # noqa: E402
from hopseal.crypto.soft import SoftCrypto  # noqa: E402
from hopseal.secure.identity import identifier_text, verify_identity_payload  # noqa: E402
from hopseal.secure.noise import HandshakeState  # noqa: E402
from hopseal.secure.vault import load_vault  # noqa: E402


def send(b):
    print("MSG " + hexlify(b).decode())
    sys.stdout.flush() if hasattr(sys.stdout, "flush") else None


def recv():
    line = sys.stdin.readline().strip()
    if not line.startswith("MSG "):
        raise SystemExit("peer said %r" % line)
    return unhexlify(line[4:])


role = sys.argv[1]
c = SoftCrypto()
me = load_vault(c, sys.argv[2])
gc.collect()
print("BASELINE %d" % gc.mem_alloc())
ballast = [bytearray(1024) for _ in range(int(sys.argv[3]) // 1024)] if len(sys.argv) > 3 else None
gc.collect()
t0 = time.ticks_us()
hs = HandshakeState(c, role == "initiator", me.x25519_priv, s_pub=me.x25519_pub)
if role == "initiator":
    send(hs.write_message(b""))
    peer = verify_identity_payload(c, hs.read_message(recv()), hs.remote_static, wall_time())
    send(hs.write_message(me.payload()))
else:
    hs.read_message(recv())
    send(hs.write_message(me.payload()))
    peer = verify_identity_payload(c, hs.read_message(recv()), hs.remote_static, wall_time())
hs.split()
dt = time.ticks_diff(time.ticks_us(), t0)
print("HANDSHAKE OK " + identifier_text(peer))
print("TIME_US %d IMPL %s" % (dt, c.impl))
