"""`hopseal board deploy`: install the runtime on a board through its REPL (issue 13).

What it does, in order (`--dry-run` prints the same steps and touches nothing):

1. **Get a REPL back.** The firmware ignores Ctrl-C while its serial link runs (the link carries
   arbitrary bytes, serial-link.md §4), so deploy first writes the link's STOP frame
   (serial-link.md §2.1, type 0x06): the board ends its link, its main.py frees the runtime's
   modules and returns to the REPL.
   Then Ctrl-C and the raw REPL, as mpremote does (mpremote is the library used for every step
   on the board).
2. **Ask the board** what it is: implementation and version, its native code architecture
   (`sys.implementation._mpy`), whether it has a ROMFS partition (`vfs.rom_ioctl`), free flash.
3. **Choose how to install** the runtime: the first of the board file's `deploy` list
   (`deploy_with_vault` with an identity) that the board supports: "romfs" (bytecode run in place
   from the ROMFS partition: `mpremote romfs deploy`), "mpy" (compiled files in lib/hopseal), or
   "source" (.py files in lib/hopseal). `--mode` overrides. The viper kernels are compiled for the
   architecture the board reports (its board file's "arch" is only a default for --dry-run).
4. **Install only what this board needs**: the modules the board app imports, found by following
   the imports of firmware/hopseal (`needed_modules`) and leaving out what the board file does
   not use (secure/ and crypto/ without an identity; the TCP or the serial transport; the relay
   client; portals). An earlier lib/hopseal is removed first, so no stale module stays behind.
5. **Write main.py, board.json** (the board file with this board's name, relay name, hub
   identifier, Wi-Fi gateway) **and secrets.json** (Wi-Fi, only with --wifi). Board filesystems
   (FAT, littlefs) have no file modes; secrets.json is readable by anyone with the board's REPL.
6. **Verify** every file written: its SHA-256 computed on the board against the local one.
7. **Create the board's identity on the board** (keys never leave it): the board's clock is set
   to this host's UTC first, since a board fresh from power-up reads 2000-01-01 and an identity
   needs the time. An identity already on the board is kept. Prints the identifier.
8. **Reset the board** (soft reset: Ctrl-D at the friendly REPL), which starts main.py.

CircuitPython boards are deployed onto their CIRCUITPY drive instead (`deploy_circuitpython`):
the runtime as source, CircuitPython's asyncio and adafruit_ticks in lib/ (fetched once from PyPI,
Adafruit's packages, as circup installs them), boot.py, main.py and board.json.
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import sys
import time

from hopseal.errors import HopsealError

from . import mpy
from .procs import ROOT
from .serial_port import stop_frame

MAIN = os.path.join(ROOT, "firmware", "main.py")
PKG = "hopseal"
LIB = "lib"  # on the board, relative to its working directory (the flash root)
VAULT_FILE = "hopseal_identity.cbor"
# sys.implementation._mpy >> 10: the native architecture (py/persistentcode.h), as in mpy.ARCHS
ARCH_NAMES = {code: name for name, code in mpy.ARCHS.items()}


class DeployError(HopsealError):
    pass


# ---------------------------------------------------------------------------------------------
# Which modules a board needs


def _imports(path: str, rel: str) -> list[str]:
    """The hopseal modules `rel` (e.g. hopseal/apps/board.py) imports anywhere in its body, as
    dotted names (the package's own names, absolute or relative)."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    parts = rel[:-3].split("/")
    package = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names if a.name.split(".")[0] == PKG]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] != PKG:
                continue
            out.append(mod)
            out += [mod + "." + a.name for a in node.names]  # `from . import kernels`: maybe a module
    return out


def _excluded(cfg: dict) -> tuple[str, ...]:
    """Module path prefixes (relative to firmware/) this board's configuration never imports."""
    ex = ["hopseal/apps/node.py"]  # the host node application
    if cfg.get("vault") is None:
        ex += ["hopseal/secure/", "hopseal/crypto/"]
    if cfg["link"]["type"] == "tcp":
        ex += ["hopseal/transport/serial.py", "hopseal/wire/serial_link.py", "hopseal/wire/serial_frame.py"]
    else:
        ex += ["hopseal/transport/tcp.py", "hopseal/wire/tcp_frame.py"]
    if not cfg.get("relay"):
        ex.append("hopseal/services/relay.py")
    if not (cfg.get("outlets") or cfg.get("inlets") or cfg.get("status_page")):
        ex.append("hopseal/services/portal.py")
    if not cfg.get("status_page"):
        ex.append("hopseal/apps/board_http.py")
    if not cfg.get("stream_to"):
        ex += ["hopseal/services/stream", "hopseal/apps/board_streams.py", "hopseal/wire/stream.py"]
    return tuple(ex)


ENTRY = ("hopseal/apps/board.py", "hopseal/apps/board_config.py", "hopseal/apps/board_io.py",
         "hopseal/apps/board_clock.py", "hopseal/errors.py")


def needed_modules(cfg: dict, root: str = mpy.FIRMWARE) -> list[str]:
    """The runtime's source files (relative to firmware/, e.g. hopseal/node.py) a board with this
    configuration imports: the board app's imports followed through the package, every package
    __init__.py on the way, without what `_excluded` leaves out."""
    excluded = _excluded(cfg)
    have = set(mpy.firmware_sources())
    seen: set[str] = set()
    todo = list(ENTRY)
    while todo:
        rel = todo.pop()
        if rel in seen or rel not in have or rel.startswith(excluded):
            continue
        seen.add(rel)
        parts = rel.split("/")
        for i in range(1, len(parts)):  # the packages on the way
            todo.append("/".join(parts[:i]) + "/__init__.py")
        for dotted in _imports(os.path.join(root, rel), rel):
            base = dotted.replace(".", "/")
            todo += [base + ".py", base + "/__init__.py"]
    return sorted(seen)


# ---------------------------------------------------------------------------------------------
# The board's configuration file


def board_json(board_file: dict, args: argparse.Namespace, vault: bool) -> dict:
    """board.json for this board: the board file, its name, its relay (the name unless --relay),
    the hub's identifier, the Wi-Fi gateway; without an identity no vault."""
    cfg = dict(board_file)
    for k in ("notes", "heap_notes", "firmware", "deploy", "deploy_with_vault", "heap", "arch", "port", "board",
              "flash", "download", "deploy_notes"):
        cfg.pop(k, None)  # documentation and host-side keys: not needed on the board
    if args.name:
        cfg["name"] = args.name
    cfg.setdefault("name", "board")
    if args.relay == "":
        cfg.pop("relay", None)
    elif args.relay:
        cfg["relay"] = args.relay
    elif cfg.get("relay") is not None:
        cfg["relay"] = True  # named after the board (its name, "{id}" resolved on the board)
    if vault:
        cfg["vault"] = cfg.get("vault") or ""
    else:
        cfg.pop("vault", None)
        cfg.pop("readings", None)
    if args.hub_identifier:
        cfg["hub_identifier"] = args.hub_identifier
    if args.gateway:
        host, _, port = args.gateway.rpartition(":")
        if cfg["link"].get("type") != "tcp":
            raise DeployError("--gateway is for a Wi-Fi board (link type tcp); this board file's link is %s"
                              % cfg["link"].get("type"))
        cfg["link"] = dict(cfg["link"], host=host, port=int(port))
    return cfg


def _load_board_file(path: str) -> dict:
    from hopseal.apps.board_config import load

    cfg = load(path)
    if not isinstance(cfg.get("link"), dict) or "type" not in cfg["link"]:
        raise DeployError("the board file %s has no link section" % path)
    return cfg


# ---------------------------------------------------------------------------------------------
# Talking to the board


ASK = """import sys
try:
 import os
except ImportError:
 import uos as os
r = 0
try:
 import vfs
 r = vfs.rom_ioctl(1)
except Exception:
 pass
f = -1
try:
 s = os.statvfs('.')
 f = s[0] * s[3]
except Exception:
 pass
print(repr([sys.implementation.name, '.'.join([str(x) for x in sys.implementation.version[:3]]),
 getattr(sys.implementation, '_mpy', 0), sys.platform, r, f]))
"""

RMTREE = """import os
def _rm(p):
 try:
  m = os.stat(p)[0]
 except OSError:
  return
 if m & 0x4000:
  for n in os.listdir(p):
   _rm(p + '/' + n)
  os.rmdir(p)
 else:
  os.remove(p)
_rm(%r)
del _rm
"""

IDENTITY = """from hopseal.apps.board_clock import set_wall_time
set_wall_time(%d)
from hopseal.crypto.soft import SoftCrypto
from hopseal.secure.vault import open_vault
print(open_vault(SoftCrypto(), %r).identifier_text())
"""


class Board:
    """A board's REPL through mpremote's serial transport; errors become one-line DeployErrors."""

    def __init__(self, port: str, baud: int):
        from mpremote.transport import TransportError
        from mpremote.transport_serial import SerialTransport

        self.port = port
        self._errors = (TransportError, OSError)
        try:
            self.t = SerialTransport(port, baudrate=baud, exclusive=True)
        except Exception as e:  # TransportError, serial.SerialException
            text = str(e)
            if "lock" in text.lower() or "busy" in text.lower():
                raise DeployError("%s is in use by another program (a gateway? stop it first)" % port)
            raise DeployError("cannot open %s: %s" % (port, text))

    def repl(self, stop_link: bool = True) -> None:
        """The raw REPL, stopping the firmware's link first."""
        if stop_link:
            self.t.serial.write(bytes(stop_frame()))  # harmless at a REPL (serial-link.md §2.1)
            self.t.serial.flush()
            time.sleep(0.5)  # the link ends, main.py returns, the REPL prints its banner
        try:
            self.t.enter_raw_repl(soft_reset=False, timeout_overall=5)
        except Exception as e:
            raise DeployError("no raw REPL on %s (%s): is a MicroPython board there, and was it flashed?"
                              % (self.port, str(e).splitlines()[0] if str(e) else type(e).__name__))

    def run(self, code: str, timeout: float = 30) -> str:
        try:
            out, err = self.t.exec_raw(code, timeout=timeout)
        except Exception as e:
            raise DeployError("the board stopped answering on %s: %s" % (self.port, e))
        if err:
            last = err.decode("utf-8", "replace").strip().splitlines()[-1]
            raise DeployError("on the board: %s" % last)
        return out.decode("utf-8", "replace")

    def ask(self) -> dict:
        impl, version, mpy_bits, platform, rom, free = ast.literal_eval(self.run(ASK).strip())
        arch = ARCH_NAMES.get(mpy_bits >> 10) if mpy_bits else None
        return {"implementation": impl, "version": version, "arch": arch, "platform": platform,
                "romfs": bool(rom), "free": free}

    def mkdirs(self, path: str) -> None:
        parts = path.split("/")
        code = "import os\nfor p in %r:\n try:\n  os.mkdir(p)\n except OSError:\n  pass\n" % [
            "/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        self.run(code)

    def write(self, path: str, data: bytes) -> None:
        try:
            self.t.fs_writefile(path, data, chunk_size=1024)
        except Exception as e:
            raise DeployError("writing %s on the board failed: %s" % (path, e))

    def sha256(self, path: str) -> bytes:
        try:
            return self.t.fs_hashfile(path, "sha256")
        except Exception as e:
            raise DeployError("reading back %s on the board failed: %s" % (path, e))

    def exists(self, path: str) -> bool:
        return self.run("import os\ntry:\n os.stat(%r)\n print(1)\nexcept OSError:\n print(0)\n" % path).strip() == "1"

    def reset(self) -> None:
        """Soft reset: Ctrl-D at the friendly REPL (a board runs boot.py and main.py again)."""
        self.t.exit_raw_repl()
        time.sleep(0.1)
        self.t.serial.write(b"\x04")
        self.t.serial.flush()
        time.sleep(0.2)

    def close(self) -> None:
        try:
            self.t.close()
        except Exception:
            pass


# ---------------------------------------------------------------------------------------------
# The steps


def choose_mode(modes: list[str], info: dict, forced: str | None, vault: bool = False) -> str:
    supported = {"romfs": info["romfs"], "mpy": True, "source": True}
    if forced:
        if not supported[forced]:
            raise DeployError("--mode romfs: the board has no ROMFS partition (its firmware was built without "
                              "one); use --mode mpy")
        return forced
    for m in modes:
        if supported.get(m):
            return m
    raise DeployError("none of the board file's deployments (%s) is possible on this board (ROMFS: %s)%s"
                      % (", ".join(modes) or "none", "yes" if info["romfs"] else "no",
                         "; without an identity it takes fewer: add --no-identity" if vault else ""))


def files_to_write(mode: str, modules: list[str], arch: str | None, stage: str) -> list[tuple[str, str]]:
    """(path on the board, local file) for the runtime in `mode` ("mpy" or "source")."""
    out = []
    if mode == "source":
        for rel in modules:
            out.append((LIB + "/" + rel, os.path.join(mpy.FIRMWARE, rel)))
        return out
    srcs = list(modules)
    native = mpy.NATIVE[0].replace(os.sep, "/")
    if arch and "hopseal/crypto/viper.py" in modules and native not in srcs:
        srcs.append(native)
    for rel, _, _ in mpy.build(stage, srcs, arch=arch):
        out.append((LIB + "/" + rel[:-3] + ".mpy", os.path.join(stage, rel[:-3] + ".mpy")))
    return out


class Plan:
    """Prints each step as it runs (or, with dry_run, instead of running it)."""

    def __init__(self, dry_run: bool):
        self.dry_run = dry_run
        self.n = 0

    def step(self, text: str) -> bool:
        self.n += 1
        print("%s%2d. %s" % ("[dry run] " if self.dry_run else "", self.n, text), flush=True)
        return not self.dry_run


# CircuitPython's asyncio and the ticks library it needs, as circup installs them into CIRCUITPY/lib:
# Adafruit's packages on PyPI, fetched once with pip into a cache outside any project.
CP_LIBS = ("adafruit-circuitpython-asyncio==3.1.1", "adafruit-circuitpython-ticks==1.1.7")
CP_CACHE = os.environ.get("HOPSEAL_CP_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "hopseal", "circuitpython"))


def circuitpython_libs() -> list[tuple[str, bytes]]:
    """(path under lib/, bytes) of CircuitPython's asyncio package and adafruit_ticks.py."""
    import zipfile

    os.makedirs(CP_CACHE, exist_ok=True)
    wheels = sorted(f for f in os.listdir(CP_CACHE) if f.endswith(".whl"))
    want = [spec.split("==")[0].replace("-", "_") + "-" + spec.split("==")[1] for spec in CP_LIBS]
    if not all(any(w.startswith(x) for w in wheels) for x in want):
        import subprocess

        r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", CP_CACHE, *CP_LIBS],
                           capture_output=True, text=True)
        if r.returncode:
            last = (r.stderr or r.stdout).strip().splitlines()
            raise DeployError("cannot fetch CircuitPython's asyncio and adafruit_ticks from PyPI: %s"
                              % (last[-1] if last else "pip exit %d" % r.returncode))
        wheels = sorted(f for f in os.listdir(CP_CACHE) if f.endswith(".whl"))
    out = []
    for x in want:
        whl = [w for w in wheels if w.startswith(x)][0]
        with zipfile.ZipFile(os.path.join(CP_CACHE, whl)) as z:
            for n in z.namelist():
                if n.endswith(".py") and ".dist-info/" not in n:
                    out.append((n, z.read(n)))
    return out


def find_circuitpy() -> list[str]:
    from .flash import MOUNT_GLOBS

    import glob

    return [d for pattern in MOUNT_GLOBS for d in sorted(glob.glob(pattern))
            if os.path.basename(d).startswith("CIRCUITPY") and os.path.exists(os.path.join(d, "boot_out.txt"))]


def deploy_circuitpython(args: argparse.Namespace, board_file: dict) -> int:
    """CircuitPython: the runtime goes onto the CIRCUITPY drive as files (CircuitPython reads .py
    source; MicroPython's .mpy files are not its format), with asyncio and adafruit_ticks in lib/
    as circup puts them, boot.py (the second USB-CDC port for the link), main.py and board.json.
    CircuitPython restarts by itself when the drive's files change (auto-reload)."""
    if not args.no_identity and not board_file.get("deploy_with_vault"):
        print("note: %s has no deployment with an identity within its heap (board file: deploy_with_vault "
              "empty): deploying without one" % args.board, flush=True)
        args.no_identity = True
    if not args.no_identity:
        raise DeployError("an identity on a CircuitPython board is created by its firmware at first start; "
                          "deploy with --no-identity")
    cfg = board_json(board_file, args, False)
    plan = Plan(args.dry_run)
    drives = [args.drive] if args.drive else find_circuitpy()
    if args.drive and not os.path.exists(os.path.join(args.drive, "boot_out.txt")):
        raise DeployError("%s is not a CIRCUITPY drive (no boot_out.txt)" % args.drive)
    if not drives and not args.dry_run:
        raise DeployError("no CIRCUITPY drive found: plug the board in (it mounts as CIRCUITPY) or give --drive PATH")
    if len(drives) > 1:
        raise DeployError("%d CIRCUITPY drives found (%s): give --drive" % (len(drives), ", ".join(drives)))
    drive = drives[0] if drives else "CIRCUITPY"
    modules = needed_modules(cfg)
    files: list[tuple[str, bytes]] = []
    for rel in modules:
        with open(os.path.join(mpy.FIRMWARE, rel), "rb") as f:
            files.append((LIB + "/" + rel, f.read()))
    if plan.step("fetch CircuitPython's asyncio and adafruit_ticks (%s) into %s, once" % (", ".join(CP_LIBS), CP_CACHE)):
        files += [(LIB + "/" + n, data) for n, data in circuitpython_libs()]
    with open(MAIN, "rb") as f:
        files.append(("main.py", f.read()))
    with open(os.path.join(ROOT, "firmware", "boot.py"), "rb") as f:
        files.append(("boot.py", f.read()))
    files.append(("board.json", json.dumps(cfg, indent=1, sort_keys=True).encode()))
    if plan.step("remove an earlier runtime: %s/%s/%s" % (drive, LIB, PKG)):
        import shutil

        shutil.rmtree(os.path.join(drive, LIB, PKG), ignore_errors=True)
    if plan.step("copy %d files onto %s: the runtime as source (%d modules) and asyncio, adafruit_ticks to lib/, "
                 "main.py, boot.py (the link's USB-CDC data port), board.json (name %s)"
                 % (len(files), drive, len(modules), cfg["name"])):
        for path, data in files:
            dst = os.path.join(drive, path)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            with open(dst, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
    for first in ("code.txt", "code.py", "main.txt"):  # CircuitPython runs the first of these before main.py
        if os.path.exists(os.path.join(drive, first)) and plan.step(
                "rename %s to %s.orig: CircuitPython would run it instead of main.py" % (first, first)):
            os.replace(os.path.join(drive, first), os.path.join(drive, first + ".orig"))
    if plan.step("verify: SHA-256 of the %d files read back from %s" % (len(files), drive)):
        bad = []
        for path, data in files:
            with open(os.path.join(drive, path), "rb") as f:
                if hashlib.sha256(f.read()).digest() != hashlib.sha256(data).digest():
                    bad.append(path)
        if bad:
            raise DeployError("%d files differ on %s after copying: %s" % (len(bad), drive, ", ".join(bad)))
        print("    %d files verified" % len(files), flush=True)
    plan.step("CircuitPython restarts by itself on the new files (auto-reload); boot.py takes effect after a "
              "hard reset (press reset or unplug and plug in)")
    return 0


def deploy(args: argparse.Namespace) -> int:
    board_file = _load_board_file(args.board)
    if board_file.get("port") == "circuitpython":
        return deploy_circuitpython(args, board_file)
    if not args.port:
        raise DeployError("--port is needed to deploy onto %s (a MicroPython board's REPL)" % args.board)
    vault = not args.no_identity
    cfg = board_json(board_file, args, vault)
    modes = board_file.get("deploy_with_vault" if vault else "deploy", board_file.get("deploy", ["mpy"]))
    modules = needed_modules(cfg)
    plan = Plan(args.dry_run)
    board: Board | None = None
    try:
        if plan.step("open %s and stop the firmware's link (STOP frame, serial-link.md §2.1); raw REPL" % args.port):
            board = Board(args.port, args.baud)
            board.repl()
        if plan.step("ask the board: implementation, version, native architecture, ROMFS partition, free flash"):
            assert board is not None
            info = board.ask()
            if info["implementation"] != "micropython":
                raise DeployError("the board runs %s %s, not MicroPython" % (info["implementation"], info["version"]))
            print("    %s %s on %s, arch %s, ROMFS %s, free flash %s" % (
                info["implementation"], info["version"], info["platform"], info["arch"] or "none",
                "yes" if info["romfs"] else "no", "%d KB" % (info["free"] // 1024) if info["free"] >= 0 else "?"),
                flush=True)
            if board_file.get("arch") and info["arch"] and info["arch"] != board_file["arch"]:
                print("    note: the board file says arch %s, the board runs %s: the viper kernels are built for %s"
                      % (board_file["arch"], info["arch"], info["arch"]), flush=True)
        else:
            info = {"romfs": "romfs" in modes, "arch": board_file.get("arch"), "free": -1}
        mode = choose_mode(modes, info, args.mode, vault)
        arch = info["arch"]
        written: list[tuple[str, str]] = []
        import tempfile

        with tempfile.TemporaryDirectory(prefix="hopseal-deploy-") as stage:
            if plan.step("remove an earlier runtime: %s/%s" % (LIB, PKG)) and board:
                board.run(RMTREE % (LIB + "/" + PKG))
            if mode == "romfs":
                from . import romfs

                if plan.step("write the ROMFS image (the whole runtime as .mpy, viper kernels for %s) with "
                             "`mpremote connect %s romfs deploy IMAGE`" % (arch or "no arch", args.port)):
                    assert board is not None
                    board.close()
                    board = None
                    image = romfs.build(arch=arch)
                    _mpremote(args.port, "romfs", "deploy", image)
                    board = Board(args.port, args.baud)
                    board.repl(stop_link=False)
            else:
                files = files_to_write(mode, modules, arch, stage)
                size = sum(os.path.getsize(local) for _, local in files)
                if plan.step("write %d runtime files as %s to %s/%s (%d bytes): %s" % (
                        len(files), "bytecode (.mpy, mpy-cross)" if mode == "mpy" else "source (.py)", LIB, PKG,
                        size, " ".join(p[len(LIB) + len(PKG) + 2:] for p, _ in files))):
                    assert board is not None
                    for d in sorted({os.path.dirname(p) for p, _ in files}):
                        board.mkdirs(d)
                    for path, local in files:
                        with open(local, "rb") as f:
                            board.write(path, f.read())
                written += files
            main_local = os.path.join(stage, "main.py")
            with open(MAIN, "rb") as f:
                main_data = f.read()
            with open(main_local, "wb") as f:
                f.write(main_data)
            cfg_local = os.path.join(stage, "board.json")
            with open(cfg_local, "w") as f:
                json.dump(cfg, f, indent=1, sort_keys=True)
            cfgs = [("main.py", main_local), ("board.json", cfg_local)]
            if args.wifi:
                sec_local = os.path.join(stage, "secrets.json")
                with open(sec_local, "w") as f:
                    json.dump({"ssid": args.wifi, "password": _read_password(args.wifi_password_file)}, f)
                cfgs.append(("secrets.json", sec_local))
            if plan.step("write %s (board.json: name %s, relay %s, link %s%s)" % (
                    ", ".join(p for p, _ in cfgs), cfg["name"],
                    cfg["name"] if cfg.get("relay") is True else cfg.get("relay") or "none", cfg["link"]["type"],
                    ", identity in the flash root" if vault else "")):
                assert board is not None
                for path, local in cfgs:
                    with open(local, "rb") as f:
                        board.write(path, f.read())
            written += cfgs
            if plan.step("verify: SHA-256 of the %d files written, computed on the board" % len(written)):
                assert board is not None
                bad = []
                for path, local in written:
                    with open(local, "rb") as f:
                        want = hashlib.sha256(f.read()).digest()
                    if board.sha256(path) != want:
                        bad.append(path)
                if bad:
                    raise DeployError("%d files differ on the board after writing: %s (deploy again)"
                                      % (len(bad), ", ".join(bad)))
                print("    %d files verified" % len(written), flush=True)
        if vault:
            vdir = cfg.get("vault") or ""
            if plan.step("create the board's identity on the board (its keys never leave it), after setting its "
                         "clock to this host's UTC; an identity already there is kept"):
                assert board is not None
                existed = board.exists((vdir.rstrip("/") + "/" if vdir else "") + VAULT_FILE)
                out = board.run(IDENTITY % (int(time.time()), vdir), timeout=120).strip().splitlines()
                ident = out[-1] if out else ""
                if not ident.startswith("I"):
                    raise DeployError("the board did not print an identifier: %r" % out)
                print("identity %s (%s)" % (ident, "already on the board, kept" if existed else "created on the board"),
                      flush=True)
        if not args.no_reset:
            if plan.step("reset the board (soft reset): main.py starts the node"):
                assert board is not None
                board.reset()
        elif plan.step("leave the board at its REPL (--no-reset)"):
            assert board is not None
            board.t.exit_raw_repl()
    finally:
        if board is not None:
            board.close()
    return 0


def _read_password(path: str | None) -> str:
    if not path:
        return ""
    try:
        with open(path) as f:
            return f.read().strip("\r\n")
    except OSError as e:
        raise DeployError("cannot read the Wi-Fi password file: %s" % e)


def _mpremote(port: str, *cmd: str) -> None:
    import subprocess

    r = subprocess.run([sys.executable, "-m", "mpremote", "connect", port, *cmd], capture_output=True, text=True)
    if r.returncode:
        last = (r.stderr or r.stdout).strip().splitlines()
        raise DeployError("mpremote %s failed: %s" % (" ".join(cmd[:2]), last[-1] if last else "exit %d" % r.returncode))


DESCRIPTION = """\
Install the hopseal runtime on a MicroPython board through its REPL, create the board's identity
on the board, and reset it. Steps: stop the firmware's link (a STOP frame) and get the raw REPL;
ask the board what it is; install the runtime (ROMFS image, .mpy or .py files: the first of the
board file's deployments the board supports, only the modules it needs); write main.py,
board.json and secrets.json; verify every file by its SHA-256 on the board; create the identity
(the board's clock is set to this host's UTC first) and print its identifier; soft-reset."""

EPILOG = """\
examples:
  hopseal board deploy --port /dev/ttyUSB0 --board boards/esp32.json --name greenhouse
  hopseal board deploy --port /dev/ttyACM0 --board boards/rp2040-pico-w.json --name picow1 \\
      --wifi MyNet --wifi-password-file wifi.txt --gateway 192.168.1.10:4100
  hopseal board deploy --port /tmp/hopseal-board1 --board boards/unix.json --dry-run
  hopseal board deploy --board boards/circuitpython-pico.json --drive /media/$USER/CIRCUITPY --no-identity
exit status: 0, 1 when a step failed (one line on stderr), 2 for bad arguments."""


def add_parser(bsub) -> argparse.ArgumentParser:
    d = bsub.add_parser("deploy", help="install the runtime on a board, create its identity, reset it",
                        description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    d.add_argument("--port", help="the board's serial port (a device, a pty or its symlink); MicroPython boards")
    d.add_argument("--drive", metavar="PATH", help="CircuitPython boards: where the CIRCUITPY drive is mounted "
                   "(default: found under the usual mount points)")
    d.add_argument("--board", required=True, metavar="FILE", help="the board file (boards/*.json)")
    d.add_argument("--name", help="the board's node name (default: the board file's name)")
    d.add_argument("--relay", metavar="NAME",
                   help="register relay forward_to_NAME at the hub (default: named after the board, when the "
                   "board file registers a relay; \"\" for none)")
    d.add_argument("--hub-identifier", metavar="ID", help="accept only this identifier as the hub")
    d.add_argument("--wifi", metavar="SSID", help="Wi-Fi network (boards whose link is tcp): written to secrets.json")
    d.add_argument("--wifi-password-file", metavar="FILE", help="a file holding the Wi-Fi password (not on the "
                   "command line, where other users could read it)")
    d.add_argument("--gateway", metavar="HOST:PORT", help="Wi-Fi boards: the gateway's TCP listener")
    d.add_argument("--mode", choices=("romfs", "mpy", "source"), help="how to install the runtime (default: the "
                   "first of the board file's deploy list the board supports)")
    d.add_argument("--no-identity", action="store_true", help="no identity (no secure channels) on this board")
    d.add_argument("--no-reset", action="store_true", help="leave the board at its REPL afterwards")
    d.add_argument("--baud", type=int, default=115200, help="baud rate of a UART port (default: 115200)")
    d.add_argument("--dry-run", action="store_true", help="print every step and change nothing")
    d.set_defaults(func=cmd_board_deploy)
    return d


def cmd_board_deploy(args: argparse.Namespace) -> int:
    if args.gateway and not args.gateway.rpartition(":")[2].isdigit():
        raise DeployError("bad --gateway %r (HOST:PORT)" % args.gateway)
    if args.wifi_password_file and not args.wifi:
        raise DeployError("--wifi-password-file needs --wifi SSID")
    return deploy(args)
