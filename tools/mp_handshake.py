"""Run under MicroPython: one complete secure-channel handshake (both sides, identity payloads
verified) using two vault files made beforehand. Prints `HANDSHAKE OK <live heap bytes>`.

    micropython -X heapsize=64K tools/mp_handshake.py VAULT_A VAULT_B
"""
import gc
import sys

try:
    import romfs_mount  # noqa: F401  (with HOPSEAL_ROMFS set: the runtime runs in place from /rom)
except ImportError:
    pass

from hopseal.compat import wall_time  # noqa: E402
from hopseal.crypto.soft import SoftCrypto
from hopseal.identity import verify_identity_payload
from hopseal.noise import HandshakeState
from hopseal.vault import load_vault

c = SoftCrypto()
a = load_vault(c, sys.argv[1])
b = load_vault(c, sys.argv[2])
gc.collect()
print("BASELINE %d" % gc.mem_alloc())  # loaded bytecode + both vaults, before the handshake
now = wall_time()
hi = HandshakeState(c, True, a.x25519_priv, s_pub=a.x25519_pub)
hr = HandshakeState(c, False, b.x25519_priv, s_pub=b.x25519_pub)
hr.read_message(hi.write_message(b""))
m2 = hr.write_message(b.payload())
verify_identity_payload(c, hi.read_message(m2), hi.remote_static, now)
m3 = hi.write_message(a.payload())
verify_identity_payload(c, hr.read_message(m3), hr.remote_static, now)
assert hi.split() == tuple(reversed(hr.split()))
gc.collect()
print("HANDSHAKE OK %d" % gc.mem_alloc())
