"""The smallest MicroPython heap (`-X heapsize`) that completes a secure-channel handshake.

Code is loaded from .mpy files (build/mpy, as deployed to a board with mpremote); on the unix port
that bytecode lives in the GC heap, whereas firmware with frozen modules keeps it in flash, so
these figures are upper bounds for a board; the working set (minimum minus the heap already taken
by loaded code and the vaults) is what a handshake itself needs. Each is measured twice: with the
.mpy files loaded into the heap, and executed in place from a ROMFS image kept outside the heap
(host/hopseal_host/romfs.py), which is how a board with a ROMFS partition runs them. This is a
64-bit port: pointers and GC blocks are twice a 32-bit board's. Two measurements, each by bisection in 4 KiB steps:
- handshake: a MicroPython process runs one side (initiator, then responder) of a complete
  handshake (Noise XX, identity payloads, the peer's change history and attestation verified)
  with only the modules that needs, against a CPython peer over its stdin/stdout; "baseline" is
  the heap in use once those modules and the node's vault are loaded;
- node: a MicroPython node (TCP, echo/uppercase, the `api` listener, channel-only echo) answers
  a CPython client that opens a channel and calls echo through it.
Run by `make bench` (CPython orchestrates; prints `RESULT <name> <value> <unit>` lines, KiB).

    python tools/bench/bench_heap.py
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path[:0] = [os.path.join(ROOT, "firmware"), os.path.join(ROOT, "host")]

from hopseal.errors import HopsealError  # noqa: E402
from hopseal.secure.vault import create_vault  # noqa: E402
from hopseal_host import mpy  # noqa: E402
from hopseal_host.crypto_host import HostCrypto  # noqa: E402
from hopseal_host.procs import Child, free_port, micropython_path, mp_env, py_env  # noqa: E402

MPY = os.path.join(ROOT, "build", "mpy")


ROMFS = [False]


def env() -> dict:
    e = mp_env()  # firmware/ for romfs_mount; hopseal itself then comes from /rom
    if ROMFS[0]:
        e["PYTHONPATH"] = py_env()["PYTHONPATH"]  # `python -m hopseal_host.romfs run`
    else:
        e["MICROPYPATH"] = MPY + ":.frozen"  # the .mpy files only, not the sources
    return e


def interpreter() -> list[str]:
    if ROMFS[0]:
        from hopseal_host.romfs import build

        return [sys.executable, "-m", "hopseal_host.romfs", "run", build()]
    return [micropython_path()]


BASELINE: list[int] = []


def side_ok(kib: int, role: str, vault: str, peer) -> bool:
    """One side (`role`) runs in MicroPython with only the handshake modules; the peer, with its
    own identity, is this process (HostCrypto); messages cross the child's stdin/stdout."""
    from hopseal.secure.identity import verify_identity_payload
    from hopseal.secure.noise import HandshakeState

    c = HostCrypto()
    p = subprocess.Popen(interpreter() + ["-X", "heapsize=%dK" % kib, os.path.join(HERE, "mp_handshake_side.py"), role, vault],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env())
    hs = HandshakeState(c, role != "initiator", peer.x25519_priv, s_pub=peer.x25519_pub)

    def recv() -> bytes | None:
        for line in p.stdout:
            if line.startswith("MSG "):
                return bytes.fromhex(line[4:].strip())
            if line.startswith("BASELINE "):
                BASELINE.append(int(line.split()[1]))
        return None

    def send(b: bytes) -> None:
        p.stdin.write("MSG %s\n" % b.hex())
        p.stdin.flush()

    try:
        now = int(time.time())
        if role == "initiator":
            hs.read_message(recv())
            send(hs.write_message(peer.payload()))
            verify_identity_payload(c, hs.read_message(recv()), hs.remote_static, now)
        else:
            send(hs.write_message(b""))
            verify_identity_payload(c, hs.read_message(recv()), hs.remote_static, now)
            send(hs.write_message(peer.payload()))
        out = p.stdout.read()
    except (TypeError, ValueError, OSError, HopsealError):  # the child died or sent garbage: not ok
        out = ""
    p.wait(60)
    return "HANDSHAKE OK" in out


def node_ok(kib: int, vault_dir: str, home: str) -> bool:
    port = free_port()
    app = ["-m", "hopseal.apps.node"] if not ROMFS[0] else [os.path.join(HERE, "mp_romfs_app.py")]
    node = Child("node", interpreter() + ["-X", "heapsize=%dK" % kib] + app + ["--listen",
                          "127.0.0.1:%d" % port, "--vault", vault_dir, "--secure-only", "echo"], env())
    try:
        try:
            node.wait_for("listening on", timeout=30)
        except RuntimeError:
            return False
        e = dict(py_env(), HOPSEAL_HOME=home)
        p = subprocess.run([sys.executable, "-m", "hopseal_host.cli", "-q", "message", "send", "heap", "--timeout", "15",
                            "--to", "/ip4/127.0.0.1/tcp/%d/secure/api/service/echo" % port], env=e, capture_output=True, text=True, timeout=60)
        return p.stdout.strip() == "heap"
    finally:
        node.stop()


def bisect(ok, lo: int, hi: int) -> int | None:
    """Smallest KiB in [lo, hi] (4 KiB steps) for which ok() holds, assuming monotonicity."""
    if not ok(hi):
        return None
    while hi - lo > 4:
        mid = (lo + hi) // 2 // 4 * 4
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


def main() -> int:
    mpy.build(MPY)
    c = HostCrypto()
    with tempfile.TemporaryDirectory() as tmp:
        now = int(time.time())
        va = os.path.join(tmp, "a.cbor")
        create_vault(c, now).save(va)
        vdir = os.path.join(tmp, "node")
        os.makedirs(vdir)
        create_vault(c, now).save(os.path.join(vdir, "hopseal_identity.cbor"))
        peer = create_vault(c, now)
        for romfs, tag in ((False, "mpy_in_heap"), (True, "romfs")):
            ROMFS[0] = romfs
            for role in ("initiator", "responder"):
                del BASELINE[:]
                hs = bisect(lambda k: side_ok(k, role, va, peer), 16, 512)
                print("RESULT min_heap_handshake_%s_KiB[%s] %s KiB" % (role, tag, hs if hs else ">512"), flush=True)
                if hs and BASELINE:
                    base = min(BASELINE) / 1024
                    print("RESULT handshake_%s_baseline_KiB[%s] %.0f KiB" % (role, tag, base))
                    print("RESULT handshake_%s_working_set_KiB[%s] %.0f KiB" % (role, tag, hs - base), flush=True)
            nd = bisect(lambda k: node_ok(k, vdir, os.path.join(tmp, "home")), 32, 512)
            print("RESULT min_heap_node_handshake_KiB[%s] %s KiB" % (tag, nd if nd else ">512"), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
