"""`hopseal virtual-board`: the board firmware under the MicroPython interpreter on a pseudo-terminal.

A stand-in for a board on a USB-CDC port, for the gateway to open like /dev/ttyACM0:

- stdio mode (default): the interpreter runs firmware/main.py with the pty's master side as its
  stdin, stdout and stderr, exactly like a USB-CDC REPL port: print() text, tracebacks and frames
  share the wire. The launcher keeps the slave side open (so the master never sees a hang-up
  while no gateway is attached) and publishes its path through a stable symlink (`--link`, like
  /dev/serial/by-id), so a gateway can re-open it after the board "returns".
- open-path mode (`--open-path`): the interpreter opens a pty path itself (board link type
  "pty", firmware/hopseal/apps/board_io.py); the launcher bridges that pty to the published one and
  shows the interpreter's console on its own stdout. Optional line faults (`--ber`, `--drop`,
  `--insert`) are injected on the bridge, in both directions.

With `--mpy` the firmware runs as .mpy files compiled by mpy-cross (build/vboard-mpy), as on a
board, so the heap is spent on the node and not on compiling source: a board file's heap budget
(e.g. boards/esp32.json, 240K) then means what it means on the board.

Unplugging = killing the interpreter and closing the pty: the gateway's reads fail. When the
interpreter ends by itself (it could not start, or it crashed), `hopseal virtual-board` prints the
last lines it wrote to stderr (its error lines and tracebacks; in stdio mode they also go to the
pty, as on a board's console) and exits with status 1. The same
`VirtualBoard` class is the engine of the tests' boards (tests/support/scenarios.py). Line faults
are in line_faults.py, the .mpy build in mpy.py.
"""
from __future__ import annotations

import argparse
import atexit
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tty

from hopseal.apps.board_config import load as load_board_file
from hopseal.errors import ConfigError

from . import mpy
from .home import exit_status, stop_on_signals
from .line_faults import LineFaults, PtyBridge
from .logsetup import add_log_format_arg
from .procs import ROOT, micropython_path, mp_env

DEFAULT_BOARD = os.path.join(ROOT, "boards", "unix.json")
MAIN = os.path.join(ROOT, "firmware", "main.py")
MPY_DIR = os.path.join(ROOT, "build", "vboard-mpy")


def mpy_dir(arch: str | None = None) -> str:
    """build/vboard-mpy (arch-neutral) or build/vboard-mpy-ARCH (with the native kernels)."""
    return MPY_DIR if arch is None else "%s-%s" % (MPY_DIR, arch)


def vboard_arch(board: str) -> str | None:
    """The arch of the virtual board's native code: this host's core (the unix port runs it),
    where the board file names one (its board has viper); None where it does not (CircuitPython),
    so the virtual board then runs the pure-Python crypto as that board does."""
    return mpy.host_arch() if mpy.board_arch(board) else None


def build_mpy(out: str | None = None, arch: str | None = None) -> str:
    """firmware/hopseal as .mpy in `out` (default mpy_dir(arch); only what changed, the viper
    kernels for `arch` if given) with main.py beside it, so the interpreter loads bytecode like a
    board does instead of compiling source in its heap."""
    out = out or mpy_dir(arch)
    mpy.build(out, arch=arch)
    dst = os.path.join(out, "main.py")
    if not os.path.exists(dst) or os.path.getmtime(dst) < os.path.getmtime(MAIN):
        tmp = "%s.%d.tmp" % (dst, os.getpid())
        shutil.copyfile(MAIN, tmp)
        os.replace(tmp, dst)  # atomic: another board may be starting from it
    return out


def _raw(fd: int) -> None:
    tty.setraw(fd)


class VirtualBoard:
    """One virtual board: start() plugs it in, stop() unplugs it; start() again makes it return."""

    def __init__(self, name: str = "vboard", link: str | None = None, board: str = DEFAULT_BOARD,
                 heapsize: str | None = None, open_path: bool = False, args: list[str] | tuple = (),
                 faults: dict | None = None, echo=None, mpy: bool = False, flash: str | None = None,
                 romfs: bool = False, bare: bool = False):
        self.name = name
        self.bare = bare  # only the interpreter's REPL on the pty, no firmware (a board fresh from flashing)
        self.romfs = romfs  # run the runtime from a ROMFS image outside the heap, as from flash
        # The board's "flash": the interpreter's working directory, where a board file's
        # `"vault": ""` keeps the identity. A fresh temporary folder unless one is given.
        # It outlives unplug/replug (same identity when the board returns); a temporary one is
        # removed when this process exits.
        if flash:
            self.flash = os.path.abspath(flash)
            os.makedirs(self.flash, exist_ok=True)
        else:
            self.flash = tempfile.mkdtemp(prefix="hopseal-flash-%s-" % name)
            atexit.register(shutil.rmtree, self.flash, True)
        self.link = link
        self.board = board
        self.open_path = open_path
        self.args = list(args)
        self.faults = faults or {}
        self.echo = echo  # callable(line) for the interpreter's console in open-path mode
        self.mpy = mpy  # run compiled .mpy files, as a board does (the heap then holds no compiler work)
        if heapsize is None:
            heapsize = load_board_file(board).get("heap")  # ConfigError (one line) if it is not a board file
        self.heapsize = heapsize
        self.arch = vboard_arch(board)  # the native kernels in --mpy and --romfs modes
        self.proc: subprocess.Popen | None = None
        self.path: str | None = None
        self.console: list[str] = []
        self._fds: list[int] = []
        self._bridge: PtyBridge | None = None
        self._pump: threading.Thread | None = None
        self.starts = 0

    def command(self, extra: list[str] | None = None) -> list[str]:
        if self.romfs:
            from .romfs import build

            cmd = [sys.executable, "-m", "hopseal_host.romfs", "run", build(arch=self.arch)]
        else:
            cmd = [micropython_path()]
        if self.heapsize:
            cmd += ["-X", "heapsize=%s" % self.heapsize]
        if self.bare:
            # The REPL in the flash folder; like a board after a reset, it first runs the main.py
            # found there (hopseal board deploy writes one), and its REPL follows when that ends.
            return cmd + (["-i", "main.py"] if os.path.exists(os.path.join(self.flash, "main.py")) else [])
        main = os.path.join(mpy_dir(self.arch), "main.py") if self.mpy else MAIN
        return cmd + [main, os.path.abspath(self.board), "--name", self.name] + self.args + (extra or [])

    def env(self) -> dict:
        env = mp_env()
        if self.bare:  # sys.path as on a board: '', .frozen, lib (in the flash folder)
            env["MICROPYPATH"] = os.pathsep.join([".frozen", "lib"])
        elif self.romfs:
            env["MICROPYPATH"] = ".frozen"  # hopseal comes from /rom (mounted by main.py)
            env["PYTHONPATH"] = os.pathsep.join([os.path.join(ROOT, "host"), os.path.join(ROOT, "firmware")])
        elif self.mpy:
            env["MICROPYPATH"] = os.pathsep.join([build_mpy(arch=self.arch), ".frozen"])
        return env

    def start(self) -> "VirtualBoard":
        if self.proc is not None:
            raise RuntimeError("virtual board %s is already plugged in" % self.name)
        self.console = []
        if self.open_path:
            self._start_open_path()
        else:
            self._start_stdio()
        if self.link:
            tmp = "%s.%d.tmp" % (self.link, os.getpid())
            os.symlink(self.path, tmp)
            os.replace(tmp, self.link)
        self.starts += 1
        return self

    def _start_stdio(self) -> None:
        master, slave = os.openpty()
        _raw(master)
        _raw(slave)
        err_r, err_w = os.pipe()
        try:
            # umask 077 on a bare board: what it writes in its flash (its identity) is private, as on
            # a board's own filesystem, which no other user reads
            self.proc = subprocess.Popen(self.command(), stdin=master, stdout=master, stderr=err_w, env=self.env(),
                                         cwd=self.flash, start_new_session=True, umask=0o077 if self.bare else -1)
            # The interpreter's stderr (tracebacks, "cannot start" lines) is copied onto the pty,
            # where a board's console shows it, and kept for when the interpreter ends by itself.
            err_tty = os.dup(master)
        finally:
            os.close(master)
            os.close(err_w)
        self._fds = [slave]
        self.path = os.ttyname(slave)
        self._pump = threading.Thread(target=self._copy_stderr, args=(err_r, err_tty), daemon=True)
        self._pump.start()

    def _copy_stderr(self, err_r: int, err_tty: int) -> None:
        """Until the interpreter ends: its stderr onto the pty and into `console`. Only the
        interpreter and this copy hold the pty's master: when both are gone, the port hangs up."""
        pending = b""
        try:
            while True:
                data = os.read(err_r, 4096)
                if not data:
                    break
                try:
                    os.write(err_tty, data)
                except OSError:
                    pass
                lines = (pending + data).split(b"\n")
                pending = lines.pop()
                self.console += [ln.decode("utf-8", "replace").rstrip("\r") for ln in lines if ln.strip()]
        finally:
            if pending.strip():
                self.console.append(pending.decode("utf-8", "replace"))
            os.close(err_r)
            os.close(err_tty)

    def _start_open_path(self) -> None:
        bm, bs = os.openpty()  # the interpreter opens bs by path
        gm, gs = os.openpty()  # the gateway opens gs (published)
        for fd in (bm, bs, gm, gs):
            _raw(fd)
        self.proc = subprocess.Popen(self.command(["--link", "pty:" + os.ttyname(bs)]), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=self.env(), cwd=self.flash,
                                     start_new_session=True)
        proc = self.proc
        f = self.faults
        mk = (lambda s: LineFaults(s, f.get("ber", 0.0), f.get("drop", 0.0), f.get("insert", 0.0))) if f else (lambda s: None)
        self._bridge = PtyBridge(bm, gm, mk(f.get("seed", 1)), mk(f.get("seed", 1) + 1), alive=lambda: proc.poll() is None)
        self._fds = [bm, bs, gm, gs]
        self.path = os.ttyname(gs)
        self._pump = threading.Thread(target=self._read_console, args=(proc,), daemon=True)
        self._pump.start()

    def _read_console(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            self.console.append(line)
            if self.echo is not None:
                self.echo(line)

    def last_lines(self, n: int = 10) -> list[str]:
        """The last lines the interpreter wrote to stderr (stdio mode) or to its console (open-path
        mode), once it has ended."""
        if self._pump is not None:
            self._pump.join(2)
        return self.console[-n:]

    def wait_link_up(self, timeout: float = 30.0) -> dict:
        """Stand in for a gateway on the board's pty (stdio mode) until the board's link is up.

        Returns {"up": bool, "seconds": float, "heap_used": int or None (the board's ready line),
        "lines": the console text it wrote}. The board stays plugged in; stop() it afterwards."""
        from hopseal.wire.serial_link import EV_TEXT, EV_UP, SerialLink

        if self.open_path or not self._fds:
            raise RuntimeError("wait_link_up needs a started board in stdio mode")
        fd = self._fds[0]
        link = SerialLink("probe", 65535, 250, 3, speak_first=False, max_message=65535)  # as the gateway
        text = bytearray()
        t0 = time.monotonic()
        up = False
        while not up and time.monotonic() - t0 < timeout:
            r, _, _ = select.select([fd], [], [], 0.05)
            data = b""
            if r:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    data = b""
                if not data and not self.running:
                    break
            if data:
                link.feed(data)  # no DATA is expected before the link is up
            for ev in link.take_events():
                if ev[0] == EV_TEXT:
                    text += ev[1]
                elif ev[0] == EV_UP:
                    up = True
            link.tick()
            for f in link.take_output():
                try:
                    os.write(fd, f)
                except OSError:
                    pass
            if not self.running and not r:
                break
        lines = [ln.rstrip("\r") for ln in text.decode("utf-8", "replace").split("\n") if ln.strip()]
        heap = None
        for ln in lines:
            if ln.startswith("hopseal board ") and "heap used " in ln:
                heap = int(ln.split("heap used ", 1)[1].split()[0])
        return {"up": up, "seconds": time.monotonic() - t0, "heap_used": heap, "lines": lines}

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> int | None:
        """Unplug: kill the interpreter, close the pty, remove the link. Returns the exit status."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if self._bridge is not None:
            self._bridge.stop()
            self._bridge = None
        for fd in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds = []
        if self._pump is not None:
            self._pump.join(2)
            self._pump = None
        if self.link and os.path.islink(self.link) and os.readlink(self.link) == self.path:
            os.unlink(self.link)
        self.proc = None
        return proc.returncode


MODES = ("source", "mpy", "romfs")  # how the firmware is deployed: .py files, .mpy files, a ROMFS image


def try_start(board: str, mode: str, vault: bool = False, heapsize: str | None = None,
              timeout: float = 30.0) -> dict:
    """Start a fresh virtual board (first boot: a new flash folder) from `board` deployed as `mode`,
    over stdio, wait for its link to come up, unplug it. With `vault` it gets an identity in a new
    folder (as `--vault`). Returns wait_link_up()'s dict plus "errors" (its stderr lines)."""
    vault_dir = tempfile.mkdtemp(prefix="hopseal-vault-") if vault else None
    args = ["--link", "stdio"] + (["--vault", vault_dir] if vault_dir else [])
    vb = VirtualBoard("start", board=board, heapsize=heapsize, mpy=mode == "mpy", romfs=mode == "romfs", args=args)
    try:
        vb.start()
        result = vb.wait_link_up(timeout)
    finally:
        vb.stop()
        shutil.rmtree(vb.flash, True)
        if vault_dir:
            shutil.rmtree(vault_dir, True)
    result["errors"] = vb.last_lines()
    return result


# -- CLI ----------------------------------------------------------------------------------------

DESCRIPTION = """\
Run the board firmware (firmware/main.py) under the MicroPython interpreter on one end of a
pseudo-terminal, with the heap size a board has, for `hopseal gateway` to open like a USB serial
port. The pty path is printed and, with --link, published as a stable symlink that survives the
board being stopped and started again. Ctrl-C unplugs the board (the gateway sees the port go)."""

EPILOG = """\
examples:
  hopseal virtual-board --link /tmp/hopseal-board1 --name board1 --relay board1 --probe 5
  hopseal gateway --hub 127.0.0.1:4000 --serial /tmp/hopseal-board1=board1
  hopseal virtual-board --link /tmp/noisy --open-path --ber 1e-4    # a noisy line
  hopseal virtual-board --board boards/esp32.json --romfs --vault flash1 --relay board1 --status-page status
  hopseal tcp-inlet create --from 127.0.0.1:8080 --to /ip4/HUB/tcp/4000/service/forward_to_board1/secure/api/service/status"""


def add_parser(sub) -> argparse.ArgumentParser:
    v = sub.add_parser("virtual-board", help="run the board firmware under MicroPython on a pseudo-terminal",
                       description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    v.add_argument("--link", metavar="PATH", help="publish the pty as a symlink at PATH (e.g. /tmp/hopseal-board1)")
    v.add_argument("--name", default="vboard", help="the board's node name (default: vboard)")
    v.add_argument("--board", default=DEFAULT_BOARD, metavar="FILE", help="board file (default: boards/unix.json)")
    v.add_argument("--heapsize", metavar="SIZE", help="MicroPython heap, e.g. 128K (default: the board file's heap)")
    v.add_argument("--relay", metavar="NAME", help="register relay forward_to_NAME at the hub on every link up")
    v.add_argument("--probe", type=float, metavar="S",
                   help="send a probe to the hub's echo on link up, then every S seconds (0: only on link up)")
    v.add_argument("--ping-interval", type=float, metavar="S", help="seconds between link PINGs from the board")
    v.add_argument("--flash", metavar="DIR",
                   help="the board's flash: the interpreter runs in DIR, where a board file's vault \"\" keeps "
                   "the identity (default: a fresh temporary folder)")
    v.add_argument("--vault", metavar="DIR",
                   help="give the board an identity kept in DIR (its 'flash'): it then runs the secure-channel "
                   "listener api and echo is reachable only through a secure channel")
    v.add_argument("--readings", type=float, metavar="S",
                   help="with --vault: send a reading to the hub's readings service through an end-to-end "
                   "secure channel every S seconds")
    v.add_argument("--hub-identifier", metavar="ID", help="with --readings: accept only this identifier as the hub")
    v.add_argument("--status-page", metavar="ADDR",
                   help="serve the board's HTTP status page through an outlet at ADDR, in process (no TCP port); "
                   "reach it with `hopseal tcp-inlet create --to .../secure/api/service/ADDR`")
    v.add_argument("--outlet", action="append", default=[], metavar="[ADDR=]HOST:PORT",
                   help="a TCP outlet on the board at ADDR (default outlet) to HOST:PORT (repeatable)")
    v.add_argument("--inlet", action="append", default=[], metavar="[HOST:]PORT=ROUTE",
                   help="a TCP inlet on the board (its unix port listens on HOST, default 127.0.0.1) to the outlet "
                   "at ROUTE, which starts after the board's link, e.g. "
                   "8080=/service/hub/service/forward_to_web/secure/api/service/outlet (repeatable)")
    v.add_argument("--mpy", action="store_true",
                   help="run the firmware compiled to .mpy (mpy-cross), as on a board: the heap then "
                   "needs room only for the node, not for compiling its source")
    v.add_argument("--romfs", action="store_true",
                   help="run the firmware from a ROMFS image kept outside the MicroPython heap, as a board "
                   "runs it from its ROMFS partition (mpremote romfs deploy): the heap holds data, not code")
    v.add_argument("--bare", action="store_true",
                   help="a board fresh from flashing: only MicroPython's REPL on the pty (raw REPL too, for "
                   "mpremote and `hopseal board`), an empty flash folder as its working directory, no "
                   "firmware; Ctrl-D at the REPL resets it (the interpreter starts again on a new pty, "
                   "--link follows)")
    v.add_argument("--open-path", action="store_true",
                   help="let the interpreter open a pty path itself (link type pty) instead of using stdio")
    v.add_argument("--ber", type=float, default=0.0, help="with --open-path: bit-error rate on the line")
    v.add_argument("--drop", type=float, default=0.0, help="with --open-path: probability of dropping each byte")
    v.add_argument("--insert", type=float, default=0.0, help="with --open-path: probability of garbage before each byte")
    add_log_format_arg(v)
    v.set_defaults(func=cmd_virtual_board)
    return v


def cmd_virtual_board(args: argparse.Namespace) -> int:
    extra: list[str] = []
    if args.relay:
        extra += ["--relay", args.relay]
    if args.probe is not None:
        extra += ["--probe", str(args.probe)]
    if args.ping_interval is not None:
        extra += ["--ping-interval", str(args.ping_interval)]
    if args.vault:
        os.makedirs(args.vault, mode=0o700, exist_ok=True)
        extra += ["--vault", os.path.abspath(args.vault)]
    if args.readings is not None:
        extra += ["--readings", str(args.readings)]
    if args.hub_identifier:
        extra += ["--hub-identifier", args.hub_identifier]
    if args.status_page:
        extra += ["--status-page", args.status_page]
    for o in args.outlet:
        extra += ["--outlet", o]
    for i in args.inlet:
        extra += ["--inlet", i]
    if (args.ber or args.drop or args.insert) and not args.open_path:
        raise ConfigError("--ber, --drop and --insert need --open-path (the faults are made on the line "
                          "the interpreter opens)")
    if args.bare:
        given = [flag for flag, on in (("--relay", args.relay), ("--probe", args.probe is not None),
                 ("--ping-interval", args.ping_interval is not None), ("--vault", args.vault),
                 ("--readings", args.readings is not None), ("--hub-identifier", args.hub_identifier),
                 ("--status-page", args.status_page), ("--outlet", args.outlet), ("--inlet", args.inlet),
                 ("--mpy", args.mpy), ("--romfs", args.romfs), ("--open-path", args.open_path)) if on]
        if given:
            raise ConfigError("--bare runs no firmware, so %s cannot apply (drop %s, or drop --bare)"
                              % (", ".join(given), "it" if len(given) == 1 else "them"))
    faults = {"ber": args.ber, "drop": args.drop, "insert": args.insert} if (args.ber or args.drop or args.insert) else None
    vb = VirtualBoard(args.name, args.link, args.board, args.heapsize, args.open_path, extra, faults,
                      echo=lambda line: print("[%s] %s" % (args.name, line), flush=True), mpy=args.mpy,
                      flash=args.flash, romfs=args.romfs, bare=args.bare)
    stop_on_signals(sigint=True)  # unplug cleanly, even if started with SIGINT ignored
    vb.start()
    assert vb.proc is not None
    mode = "bare: REPL only, flash %s" % vb.flash if args.bare else (
        ("open-path" if args.open_path else "stdio") + (", .mpy" if args.mpy else ""))
    print("virtual board %s: %s%s (micropython pid %d, heap %s, %s)" % (
        args.name, (args.link + " -> ") if args.link else "", vb.path, vb.proc.pid, vb.heapsize or "default",
        mode), flush=True)
    unplugged: KeyboardInterrupt | None = None
    try:
        while True:
            while vb.running:
                time.sleep(0.2)
            assert vb.proc is not None
            status = vb.proc.returncode
            if not (args.bare and status == 0):
                break
            vb.stop()  # Ctrl-D at the bare REPL: a reset, the board comes back (on a new pty)
            vb.start()
            print("virtual board %s reset: %s%s (micropython pid %d)" % (
                args.name, (args.link + " -> ") if args.link else "", vb.path, vb.proc.pid), flush=True)
        lines = vb.last_lines()
    except KeyboardInterrupt as e:
        unplugged = e
    finally:
        if unplugged is not None or vb.running:
            status = vb.stop()
    if unplugged is not None:
        print("virtual board %s unplugged (interpreter exit status %s)" % (args.name, status), flush=True)
        return exit_status(unplugged)  # 130 for Ctrl-C, 0 for SIGTERM
    vb.stop()
    if not args.open_path:  # open-path mode already showed every line as it came
        for line in lines:
            print("[%s] %s" % (args.name, line), flush=True)
    why = lines[-1] if lines else "no console output"
    print("hopseal virtual-board: error: board %s stopped by itself (interpreter exit status %s): %s"
          % (args.name, status, why), file=sys.stderr, flush=True)
    return 1
