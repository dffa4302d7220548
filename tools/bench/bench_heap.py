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
Then the handshake per side in a board's own conditions: boards/esp32.json's heap (240K), the
runtime in ROMFS, and a ballast for the rest of its node (the heap the virtual board has in use
at ready with a vault), once from the arch-neutral image (the pure-Python crypto: what the board
ran before kernels.mpy) and once from the image with the viper kernels for this core; `ms`.
Run by `make bench` (CPython orchestrates; prints `RESULT <name> <value> <unit>` lines, KiB).

    python tools/bench/bench_heap.py [--board-handshake]   (only the last part, about a minute)
"""
from __future__ import annotations

import json
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
ESP32 = os.path.join(ROOT, "boards", "esp32.json")


ROMFS = [False]
ARCH: list[str | None] = [None]  # the ROMFS image's kernels.mpy arch (None: arch-neutral)
BALLAST = [0]
LAST: list[str] = [""]  # the side's output of the last side_ok()


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

        return [sys.executable, "-m", "hopseal_host.romfs", "run", build(arch=ARCH[0])]
    return [micropython_path()]


BASELINE: list[int] = []


def side_ok(kib: int, role: str, vault: str, peer) -> bool:
    """One side (`role`) runs in MicroPython with only the handshake modules; the peer, with its
    own identity, is this process (HostCrypto); messages cross the child's stdin/stdout."""
    from hopseal.secure.identity import verify_identity_payload
    from hopseal.secure.noise import HandshakeState

    c = HostCrypto()
    p = subprocess.Popen(interpreter() + ["-X", "heapsize=%dK" % kib, os.path.join(HERE, "mp_handshake_side.py"), role, vault]
                         + ([str(BALLAST[0])] if BALLAST[0] else []),
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
    LAST[0] = out
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


def board_handshake(board: str, va: str, peer, rounds: int = 5) -> None:
    """RESULT handshake_<role>_ms[<board>-romfs-<impl>]: the best of `rounds` sides at the board's
    heap with its node's heap at ready as ballast, python (arch-neutral image) and viper."""
    from hopseal_host.virtual_board import try_start, vboard_arch

    name = os.path.basename(board)[:-5]
    heap = json.load(open(board))["heap"]
    ready = try_start(board, "romfs", vault=True)
    if not ready.get("up"):
        print("RESULT handshake_ms[%s] board_did_not_start -" % name)
        return
    ROMFS[0] = True
    for arch in (None, vboard_arch(board)):
        ARCH[0] = arch
        for role in ("initiator", "responder"):
            del BASELINE[:]
            BALLAST[0] = 0
            side_ok(kib(heap), role, va, peer)  # the side's own baseline, to subtract
            BALLAST[0] = max(0, ready["heap_used"] - min(BASELINE))
            best, impl = None, "?"
            for _ in range(rounds):
                if not side_ok(kib(heap), role, va, peer):
                    continue
                tail = LAST[0].split("TIME_US ")[1].split()
                best = min(best or 1e9, int(tail[0]) / 1000)
                impl = tail[2]
            print("RESULT handshake_%s_ms[%s-romfs-%s-at-%s] %s ms" % (role, name, impl, heap,
                                                                     "%.1f" % best if best else "failed"), flush=True)
    ARCH[0] = None
    ROMFS[0] = False


def kib(text: str) -> int:
    return int(text[:-1]) if text.endswith("K") else int(text) // 1024


def main() -> int:
    if "--board-handshake" in sys.argv[1:]:  # only that part (quick)
        _board_handshake_only()
        return 0
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
        board_handshake(ESP32, va, peer)
    return 0


def _board_handshake_only() -> None:
    c = HostCrypto()
    with tempfile.TemporaryDirectory() as tmp:
        va = os.path.join(tmp, "a.cbor")
        create_vault(c, int(time.time())).save(va)
        board_handshake(ESP32, va, create_vault(c, int(time.time())))


if __name__ == "__main__":
    sys.exit(main())
