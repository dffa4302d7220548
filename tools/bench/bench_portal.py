"""TCP portal throughput host <-> host, against `ssh -L` and socat in the same run (prints RESULT
lines for tools/bench/bench.py):

A local TCP sink (a thread of this process) reads a 8-byte size, then that many bytes, and answers
b"OK"; N MiB (default 64, --quick 16) are pushed to it along each path on the same loopback, timed
from the first byte sent to the answer (--down: the sink sends them and the client reads them, timed
from the request to the last byte; RESULT names then end in _down):

- direct:          client -> sink
- socat:           client -> socat TCP-LISTEN -> sink
- ssh -L:          client -> ssh -L -> sshd (started here: temp config, host and user keys) -> sink
- ssh -J (ssh_jump): client -> ssh -L -> its `ssh -W` (ProxyJump) -> sshd as the bastion ->
                   sshd (the same one) as the target -> sink: the end-to-end session inside the
                   session to the bastion, what a user reaching a service behind NAT through a
                   bastion runs; the counterpart of portal relay (RESULT portal_relay/ssh_jump)
- portal direct:   client -> `hopseal tcp-inlet create` -> one TCP hop, secure channel ->
                   `hopseal tcp-outlet create --listen` -> sink
- portal relay:    client -> inlet -> hub (forward_to_bench) -> outlet node (relay bench) -> sink,
                   the secure channel end to end through the hub

Each path carries a 64 KiB warm-up connection first, so the figures leave out connection and
channel set-up (the inlet opens its channels at its first connection). Then every path is measured
once per round (3 rounds, --quick 1), one after the other, and the median is reported: on a
shared machine a busy moment then hits each path alike. Ratios hopseal/ssh and hopseal/socat are
printed for both portal paths, and portal_relay/ssh_jump. The CPU each portal process spent per MiB
(/proc/PID/stat around each transfer, median of the rounds) is printed as portal_cpu[path.role].
Missing ssh/sshd/socat: a note, no RESULT line for that path or its ratios.

What the portal paths run is what a user gets from the CLI's defaults: 48 KiB chunks, AES-256-GCM
channels, the host's event loop (uvloop where installed: hopseal_host.eventloop) and its TCP
streams and framing (hopseal_host.fastio). On this 2-core machine every path is CPU-bound, so the
ratios follow the CPU each path spends per byte (ssh + sshd about 6.3 ms per MiB; the client and
the sink of this process about 1 ms per MiB on any path). For issue 10 (target >= 1.0x ssh -L)
the host path was profiled (py-spy, cProfile, perf) and cut: uvloop instead of asyncio's Python
selector loop and transports; no copy of a chunk through asyncio's StreamReader (fastio's
ChunkReader), none for a frame's body (views of the read), one instead of three to frame a sent
message, the channel message sealed in place in one buffer (HostAEAD.seal_into) and decrypted from
a view (HostAEAD.takes_views); routes encoded without per-byte calls and read from a small cache
(fastwire). Wire bytes unchanged (tests/vectors, make interop). CPU per MiB, relay path: inlet
4.2 -> about 3, hub 5.1 -> about 3, outlet 5.2 -> about 3.7 ms; direct path: about 4.3 + 4.3 ->
3.3 + 3.4 ms. Three default runs each, the same hour, the machine shared with other jobs
(ratios to ssh -L of the same run):

    before (4ecd058):  portal_direct 0.67 0.68 0.55   portal_relay 0.49 0.37 0.43
    after:             portal_direct 0.88 0.94 1.18   portal_relay 0.57 0.71 0.80
    after, again (load average 2.3-2.6 from other jobs):
                       portal_direct 1.11 1.17 0.75   portal_relay 0.70 0.71 0.49

The relay path stays below ssh -L: it runs three processes, four TCP hops and four AES-GCM passes
per chunk (the outlet's relay was registered through its channel to the hub, as Ockam does, so the
hub seals every chunk again and the outlet opens it twice) where ssh -L runs two processes, three
hops and two ChaCha20-Poly1305 passes. A minimal stand-in for the relay path (three uvloop
processes doing only the framing and the four AES-GCM passes, no routing) measured 7.5 ms per MiB
and about 1.0x ssh -L here: the remaining gap is the runtime's routing layers (worker lookups,
route and message objects, awaits per hop), about 1 ms per MiB per process.

Second pass. The outlet's connection to its target now has fastio's streams too (it had asyncio's,
which copy every read of the target into a buffer and out): download (--down), two runs before and
after, CPU per MiB of the direct path's outlet 4.8, 5.6 -> 3.0, 2.8 ms and of the relay's outlet
6.3, 6.1 -> 4.5, 4.5; portal_direct_down/ssh 0.74, 0.66 -> 0.88, 1.16, portal_relay_down/ssh
0.55, 0.35 -> 0.55, 0.67. Upload is the same code as before (inlet 2.7-3.6, outlet 3.0-3.8 ms per
MiB). What was tried and dropped: filling a portal's 48 KiB read from several pieces the socket
delivered (about 1 message in 7 is short because the inlet reads faster than its client sends; at
the moment of the read there is only one piece, so nothing changed). perf on the direct path's
inlet: 43% in the interpreter (18% the eval loop), 29% kernel (socket calls, wake-ups), 14%
AES-GCM, 11% libc (7% memmove: the chunk's three copies, portal encoding, channel buffer, frame);
in process one chunk's encode, seal and frame take 30 us of which 15 us AES-GCM (0.65 ms per MiB,
0.33 of them copies), so a buffer laid out for the whole frame would save at most 0.3 of about
3 ms per MiB per process; the rest is the interpreter's per-message work. Three default (upload)
runs with ssh_jump, before and after, on the shared machine (ratios of the same run):

    portal_direct/ssh       0.83 0.87 0.66  ->  1.20 1.12 1.35
    portal_relay/ssh        0.56 0.56 0.49  ->  0.71 0.84 0.75
    portal_relay/ssh_jump   1.52 1.44 1.21  ->  1.20 1.58 1.37
    (ssh -L 152, 154, 133 MB/s before, 205, 219, 195 after: the machine was less loaded, and
    upload runs the same code, so the after column shows the load, not a change)

    python tools/bench/bench_portal.py [--quick] [--mib N] [--rounds N] [--down]
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [os.path.join(ROOT, "firmware"), os.path.join(ROOT, "host")]

from hopseal_host.procs import Child, free_port  # noqa: E402
from hopseal_host.procs import cli as hopseal  # noqa: E402

MiB = 1024 * 1024
QUICK = "--quick" in sys.argv
SIZE = (16 if QUICK else 64) * MiB
if "--mib" in sys.argv:
    SIZE = int(sys.argv[sys.argv.index("--mib") + 1]) * MiB
BLOCK = 64 * 1024
# --down: every path carries the bytes the other way, sink -> client (through a portal: the target
# read by the outlet, written by the inlet to its client)
DOWN = "--down" in sys.argv
SUFFIX = "_down" if DOWN else ""  # in the RESULT names
_DOWN_BIT = 1 << 63  # in the 8-byte size: the sink sends that many bytes instead
ROUNDS = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else (1 if QUICK else 3)


class Sink:
    """Accepts connections; each sends an 8-byte size then that many bytes; the sink answers b"OK".
    With the size's top bit set the sink sends that many bytes instead and waits for b"OK"."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    @staticmethod
    def _serve(c):
        try:
            head = b""
            while len(head) < 8:
                d = c.recv(8 - len(head))
                if not d:
                    return
                head += d
            left = int.from_bytes(head, "big")
            if left & _DOWN_BIT:
                left &= _DOWN_BIT - 1
                data = os.urandom(BLOCK)
                while left > 0:
                    k = min(left, BLOCK)
                    c.sendall(data if k == BLOCK else data[:k])
                    left -= k
                c.recv(2)
                return
            buf = bytearray(256 * 1024)
            while left > 0:
                n = c.recv_into(buf, min(left, len(buf)))
                if not n:
                    return
                left -= n
            c.sendall(b"OK")
            c.recv(1)  # until the client closes
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.sock.close()


def push(port: int, total: int, timeout: float = 600) -> float:
    """Seconds to push `total` bytes to the sink through `port` and get its answer (--down: to
    have the sink send them, from the request to the last byte)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if DOWN:
        buf = bytearray(256 * 1024)
        t0 = time.perf_counter()
        s.sendall((total | _DOWN_BIT).to_bytes(8, "big"))
        left = total
        while left > 0:
            n = s.recv_into(buf, min(left, len(buf)))
            if not n:
                raise RuntimeError("connection closed with %d of %d bytes to come" % (left, total))
            left -= n
        dt = time.perf_counter() - t0
        s.sendall(b"OK")
        s.close()
        return dt
    data = os.urandom(BLOCK)
    t0 = time.perf_counter()
    s.sendall(total.to_bytes(8, "big"))
    left = total
    while left > 0:
        k = min(left, BLOCK)
        s.sendall(data if k == BLOCK else data[:k])
        left -= k
    ack = b""
    while len(ack) < 2:
        d = s.recv(2 - len(ack))
        if not d:
            raise RuntimeError("connection closed before the sink's answer (%d bytes pushed)" % total)
        ack += d
    dt = time.perf_counter() - t0
    s.close()
    return dt


def wait_port(port: int, timeout: float = 20, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("exited (%s) before listening on %d" % (proc.returncode, port))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listening on %d after %ss" % (port, timeout))


def stop(p: subprocess.Popen) -> None:
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


def socat_path(sink: Sink, ports: dict, notes: list, cleanup: list) -> None:
    exe = shutil.which("socat")
    if not exe:
        notes.append("socat not found (apt-get install socat): socat comparison skipped")
        return
    port = free_port()
    p = subprocess.Popen([exe, "TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork" % port, "TCP:127.0.0.1:%d" % sink.port],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cleanup.append(lambda: stop(p))
    wait_port(port, proc=p)
    ports["socat"] = port


def ssh_path(sink: Sink, tmp: str, ports: dict, notes: list, cleanup: list) -> None:
    exes = {n: shutil.which(n) or (os.path.join("/usr/sbin", n) if os.path.exists(os.path.join("/usr/sbin", n)) else None)
            for n in ("sshd", "ssh", "ssh-keygen")}
    missing = [n for n, e in exes.items() if not e]
    if missing:
        notes.append("%s not found (apt-get install openssh-server openssh-client): ssh -L comparison skipped"
                     % ", ".join(missing))
        return
    d = os.path.join(tmp, "ssh")
    os.mkdir(d, 0o700)
    for name in ("host_key", "user_key"):
        subprocess.run([exes["ssh-keygen"], "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(d, name)], check=True)
    shutil.copy(os.path.join(d, "user_key.pub"), os.path.join(d, "authorized_keys"))
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege separation directory
    sshd_port, fwd_port = free_port(), free_port()
    cfg = os.path.join(d, "sshd_config")
    with open(cfg, "w") as f:
        f.write("\n".join([
            "Port %d" % sshd_port, "ListenAddress 127.0.0.1", "HostKey %s" % os.path.join(d, "host_key"),
            "PidFile %s" % os.path.join(d, "sshd.pid"), "AuthorizedKeysFile %s" % os.path.join(d, "authorized_keys"),
            "PermitRootLogin yes", "StrictModes no", "PubkeyAuthentication yes", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "UsePAM no", "AllowTcpForwarding yes", "LogLevel ERROR", ""]))
    sshd = subprocess.Popen([exes["sshd"], "-D", "-e", "-f", cfg], stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(d, "sshd.log"), "w"))
    cleanup.append(lambda: stop(sshd))
    wait_port(sshd_port, proc=sshd)
    ssh_log = os.path.join(d, "ssh.log")
    ssh = subprocess.Popen([exes["ssh"], "-N", "-v", "-p", str(sshd_port), "-i", os.path.join(d, "user_key"),
                            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                            "-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes", "-o", "IdentitiesOnly=yes",
                            "-L", "127.0.0.1:%d:127.0.0.1:%d" % (fwd_port, sink.port),
                            "%s@127.0.0.1" % os.environ.get("USER", "root")],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(ssh_log, "w"))
    cleanup.append(lambda: stop(ssh))
    try:
        wait_port(fwd_port, proc=ssh)
    except RuntimeError as e:
        notes.append("ssh -L did not come up (%s): ssh comparison skipped\n%s\n%s" % (
            e, open(ssh_log).read()[-1500:], open(os.path.join(d, "sshd.log")).read()[-1500:]))
        return
    ports["ssh"] = fwd_port
    push(fwd_port, 64 * 1024, timeout=60)  # so that the cipher is in the log
    cipher = [l.split("cipher:")[1].split()[0] for l in open(ssh_log) if "client->server cipher:" in l]
    ver = subprocess.run([exes["ssh"], "-V"], capture_output=True, text=True).stderr.strip()
    notes.append("ssh: %s, cipher %s" % (ver, cipher[0] if cipher else "?"))
    ssh_jump_path(sink, d, exes["ssh"], sshd_port, ports, notes, cleanup)


def ssh_jump_path(sink: Sink, d: str, ssh_exe: str, sshd_port: int, ports: dict, notes: list, cleanup: list) -> None:
    """`ssh -J bastion -L ...`: the same sshd is the bastion (ProxyJump: a second ssh process,
    `ssh -W`, carries the end-to-end session inside its own session to the bastion) and the target;
    the tunnel inside a tunnel that a user reaching a service behind NAT through a bastion runs, the
    counterpart of portal_relay."""
    cfg = os.path.join(d, "ssh_config")
    common = ["  HostName 127.0.0.1", "  Port %d" % sshd_port, "  User %s" % os.environ.get("USER", "root"),
              "  IdentityFile %s" % os.path.join(d, "user_key"), "  IdentitiesOnly yes", "  BatchMode yes",
              "  StrictHostKeyChecking no", "  UserKnownHostsFile /dev/null", "  LogLevel ERROR"]
    with open(cfg, "w") as f:
        f.write("\n".join(["Host bench-bastion"] + common + ["Host bench-target"] + common
                          + ["  ProxyJump bench-bastion", ""]))
    fwd_port = free_port()
    log = os.path.join(d, "ssh_jump.log")
    ssh = subprocess.Popen([ssh_exe, "-F", cfg, "-N", "-o", "ExitOnForwardFailure=yes",
                            "-L", "127.0.0.1:%d:127.0.0.1:%d" % (fwd_port, sink.port), "bench-target"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(log, "w"))
    cleanup.append(lambda: stop(ssh))
    try:
        wait_port(fwd_port, proc=ssh)
    except RuntimeError as e:
        notes.append("ssh -J did not come up (%s): ssh_jump comparison skipped\n%s" % (e, open(log).read()[-1500:]))
        return
    ports["ssh_jump"] = fwd_port


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far (/proc/PID/stat utime, stime)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def portal_paths(sink: Sink, tmp: str, ports: dict, cleanup: list, pids: dict) -> None:
    """Start the portal paths' nodes; `pids[path]` lists (role, pid) of the processes of each."""
    def start(name: str, *args: str) -> Child:
        p = hopseal(name, *args)
        cleanup.append(p.stop)
        return p

    def inlet(to: str, vault: str) -> int:
        """Start an inlet node whose clients go along `to`; the port it listens on."""
        ip = free_port()
        c = start("inlet", "-q", "tcp-inlet", "create", "--from", "127.0.0.1:%d" % ip, "--to", to,
                  "--vault", os.path.join(tmp, vault), "--control", "")
        c.wait_for("tcp inlet listening on")
        inlets.append(c.p.pid)
        return ip

    inlets: list[int] = []

    # one TCP hop: inlet node -> outlet node listening for Ockam routing
    ol = free_port()
    od = start("outlet", "-q", "tcp-outlet", "create", "--to", "127.0.0.1:%d" % sink.port, "--listen",
               "127.0.0.1:%d" % ol, "--vault", os.path.join(tmp, "outlet-d"), "--control", "")
    od.wait_for("listening on")
    ports["portal_direct"] = inlet("/ip4/127.0.0.1/tcp/%d/secure/api/service/outlet" % ol, "inlet-d")
    pids["portal_direct"] = [("inlet", inlets[-1]), ("outlet", od.p.pid)]

    # through a hub relay
    hp = free_port()
    hub = start("hub", "-q", "hub", "--listen", "127.0.0.1:%d" % hp, "--vault", os.path.join(tmp, "hub"),
                "--control", "")
    hub.wait_for("listening on")
    orl = start("outlet", "tcp-outlet", "create", "--to", "127.0.0.1:%d" % sink.port, "--relay", "bench",
                "--hub", "127.0.0.1:%d" % hp, "--vault", os.path.join(tmp, "outlet-r"), "--control", "")
    orl.wait_for("relay forward_to_bench registered")
    ports["portal_relay"] = inlet("/ip4/127.0.0.1/tcp/%d/service/forward_to_bench/secure/api/service/outlet" % hp,
                                  "inlet-r")
    pids["portal_relay"] = [("inlet", inlets[-1]), ("hub", hub.p.pid), ("outlet", orl.p.pid)]


PATHS = ("direct", "socat", "ssh", "ssh_jump", "portal_direct", "portal_relay")


def main() -> int:
    print("portal throughput: %d MiB %s per path, one connection, loopback, %s"
          % (SIZE // MiB, "pulled from the sink (--down)" if DOWN else "pushed",
             "%d rounds (median)" % ROUNDS if ROUNDS > 1 else "one round"))
    sink = Sink()
    ports: dict[str, int] = {"direct": sink.port}
    runs: dict[str, list[float]] = {}
    pids: dict[str, list] = {}
    cpu: dict[str, list[float]] = {}  # "path.role" -> ms of CPU per MiB, one per round
    notes: list[str] = []
    cleanup: list = []
    with tempfile.TemporaryDirectory(prefix="hopseal-bench-portal-") as tmp:
        try:
            socat_path(sink, ports, notes, cleanup)
            ssh_path(sink, tmp, ports, notes, cleanup)
            portal_paths(sink, tmp, ports, cleanup, pids)
            for name in PATHS:  # the warm-up: the inlets open their channels now
                if name in ports:
                    push(ports[name], 64 * 1024, timeout=60)
            # every path once per round, so a busy moment of the machine hits each path alike
            for _ in range(ROUNDS):
                for name in PATHS:
                    if name in ports:
                        procs = pids.get(name, [])
                        t0 = [cpu_seconds(pid) for _, pid in procs]
                        runs.setdefault(name, []).append(SIZE / push(ports[name], SIZE) / 1e6)
                        for (role, pid), t in zip(procs, t0):
                            cpu.setdefault("%s.%s" % (name, role), []).append((cpu_seconds(pid) - t) * 1e3 / (SIZE / MiB))
        finally:
            for c in reversed(cleanup):
                c()
            sink.close()
    notes.append("portal direct: 2 hopseal processes, one secure channel; portal relay: 3 (inlet, hub, outlet), the "
                 "end-to-end channel inside the outlet's channel to the hub (its relay was registered through it); "
                 "ssh -L: ssh and sshd; ssh_jump (ssh -J): ssh, its ssh -W to the bastion and two sshd sessions "
                 "(bastion and target: the same local sshd), the end-to-end session inside the one to the bastion; socat: one process, no encryption; all on the same cores as this client")
    for line in notes:
        print(line)
    results = {name: sorted(r)[len(r) // 2] for name, r in runs.items()}
    for name in PATHS:
        if name in results:
            print("RESULT portal_mbps%s[%s] %.1f MB/s" % (SUFFIX, name, results[name]))
    for key, r in cpu.items():
        print("RESULT portal_cpu%s[%s] %.2f ms/MiB" % (SUFFIX, key, sorted(r)[len(r) // 2]))
    for hop, refs in (("portal_direct", ("ssh", "socat")), ("portal_relay", ("ssh", "ssh_jump", "socat"))):
        for ref in refs:
            if hop in results and ref in results:
                print("RESULT %s%s/%s %.3f x" % (hop, SUFFIX, ref, results[hop] / results[ref]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
