"""`hopseal board flash`: put MicroPython (or CircuitPython) itself on a board (issue 13).

The board file's `"flash"` section says how:

- `{"tool": "esptool", "chip": "esp32", "offset": "0x1000"}`: ESP32 family, through esptool (a
  dependency, run as `python -m esptool`), exactly as MicroPython's download pages give it:
  `--chip CHIP --port PORT --baud BAUD write-flash [--erase-all] OFFSET FIRMWARE`. esptool shows
  its own progress bar; its failure is told in one line (its last line of output).
- `{"tool": "uf2", "drive": "RPI-RP2", "families": ["0xe48bff56"]}`: RP2040 / RP2350, by copying the
  .uf2 file onto the board's boot drive, found by its INFO_UF2.TXT (Board-ID must match `drive`) under
  the usual mount points or given with --drive. The file is checked first: UF2 magic numbers in every
  512-byte block and a family ID the chip takes (a Pico 2 image onto a Pico is refused). With --port
  and no boot drive, a board running MicroPython is asked into its bootloader (`machine.bootloader()`
  through the raw REPL) and the drive awaited. The board restarts by itself when the copy ends.

The command takes a local file; it downloads nothing (the board file's `"download"` names the page).
`--dry-run` prints what would run or be copied and touches nothing. Real flashing needs the board:
the tests cover the UF2 copy onto a folder that looks like a boot drive and esptool's exact command.
"""
from __future__ import annotations

import argparse
import glob
import os
import shlex
import struct
import subprocess
import sys
import time

from hopseal.errors import ConfigError, HopsealError

UF2_MAGIC = (0x0A324655, 0x9E5D5157, 0x0AB16F30)  # first, second, final magic (uf2 spec)
UF2_FAMILY_FLAG = 0x00002000
MOUNT_GLOBS = ("/media/*/*", "/run/media/*/*", "/media/*", "/mnt/*", "/Volumes/*")


class FlashError(HopsealError):
    pass


def flash_section(board_file: str) -> tuple[dict, dict]:
    from hopseal.apps.board_config import load

    cfg = load(board_file)
    fl = cfg.get("flash")
    if not isinstance(fl, dict) or fl.get("tool") not in ("esptool", "uf2"):
        raise ConfigError("the board file %s has no \"flash\" section (nothing to flash%s)" % (
            board_file, ": the virtual board is flashed by starting it, `hopseal virtual-board --bare`"
            if cfg.get("port") == "micropython-unix" else ""))
    return cfg, fl


# ---------------------------------------------------------------------------------------------
# esptool


def esptool_command(fl: dict, port: str, firmware: str, baud: int, erase: bool) -> list[str]:
    cmd = [sys.executable, "-m", "esptool", "--chip", fl["chip"], "--port", port, "--baud", str(baud), "write-flash"]
    if erase:
        cmd.append("--erase-all")
    return cmd + [fl.get("offset", "0x0"), firmware]


def run_esptool(cmd: list[str]) -> None:
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    last = ""
    assert p.stdout is not None
    buf = b""
    while True:
        chunk = p.stdout.read1(4096) if hasattr(p.stdout, "read1") else p.stdout.read(1)
        if not chunk:
            break
        sys.stdout.buffer.write(chunk)  # esptool's progress bar, as it draws it
        sys.stdout.flush()
        buf = (buf + chunk)[-4096:]
    lines = [ln.strip() for ln in buf.replace(b"\r", b"\n").decode("utf-8", "replace").splitlines() if ln.strip()]
    fatal = [ln for ln in lines if "error" in ln.lower()]  # esptool: "A fatal error occurred: ..."
    if fatal or lines:
        last = (fatal or lines)[-1].replace("ERROR: ", "").replace("A fatal error occurred: ", "")
    if p.wait():
        raise FlashError("esptool failed (exit %d): %s" % (p.returncode, last or "no output"))


# ---------------------------------------------------------------------------------------------
# UF2


def uf2_families(path: str) -> set[int]:
    """The family IDs of a UF2 file's blocks; FlashError if it is not a well-formed UF2 file."""
    try:
        size = os.path.getsize(path)
        f = open(path, "rb")
    except OSError as e:
        raise FlashError("cannot read %s: %s" % (path, e.strerror or e))
    fams = set()
    with f:
        if size == 0 or size % 512:
            raise FlashError("%s is not a UF2 file (%d bytes: not a whole number of 512-byte blocks)" % (path, size))
        n = 0
        while True:
            block = f.read(512)
            if not block:
                break
            m0, m1, flags, _addr, _size, _no, _count, fam = struct.unpack_from("<8I", block)
            (m2,) = struct.unpack_from("<I", block, 508)
            if (m0, m1, m2) != UF2_MAGIC:
                raise FlashError("%s is not a UF2 file (block %d has no UF2 magic numbers)" % (path, n))
            if flags & UF2_FAMILY_FLAG:
                fams.add(fam)
            n += 1
    return fams


def read_info(drive: str) -> dict:
    info = {}
    try:
        with open(os.path.join(drive, "INFO_UF2.TXT")) as f:
            for line in f:
                k, _, v = line.partition(":")
                if v:
                    info[k.strip()] = v.strip()
    except OSError:
        pass
    return info


def find_drives(board_id: str) -> list[str]:
    out = []
    for pattern in MOUNT_GLOBS:
        for d in sorted(glob.glob(pattern)):
            if os.path.isdir(d) and read_info(d).get("Board-ID") == board_id:
                out.append(d)
    return out


def copy_uf2(src: str, drive: str) -> str:
    dst = os.path.join(drive, os.path.basename(src))
    total = os.path.getsize(src)
    done = 0
    tty = sys.stdout.isatty()
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        while True:
            chunk = fi.read(64 * 1024)
            if not chunk:
                break
            fo.write(chunk)
            done += len(chunk)
            if tty:
                bar = "#" * (30 * done // total)
                print("\r    [%-30s] %3d%% %d/%d bytes" % (bar, 100 * done // total, done, total), end="", flush=True)
        fo.flush()
        try:
            os.fsync(fo.fileno())
        except OSError:
            pass  # the board may already be rebooting: the drive goes away under us
    if tty:
        print()
    return dst


def bootloader(port: str) -> None:
    """Ask MicroPython on `port` into its UF2 bootloader (the link's STOP first, then the REPL)."""
    from .deploy import Board

    b = Board(port, 115200)
    try:
        b.repl()
        try:
            b.t.exec_raw_no_follow("import machine\nmachine.bootloader()")
        except Exception:
            pass  # the port vanishes as the board reboots into its bootloader
    finally:
        b.close()


# ---------------------------------------------------------------------------------------------


def cmd_board_flash(args: argparse.Namespace) -> int:
    cfg, fl = flash_section(args.board)
    if not os.path.isfile(args.firmware):
        raise FlashError("no firmware file %s (download it from %s)" % (args.firmware, cfg.get("download", "the port's page")))
    pre = "[dry run] " if args.dry_run else ""
    if fl["tool"] == "esptool":
        if not args.port:
            raise ConfigError("--port is needed to flash %s with esptool" % cfg.get("board", args.board))
        with open(args.firmware, "rb") as f:
            if f.read(1) != b"\xe9":
                raise FlashError("%s is not an ESP firmware image (no 0xE9 magic byte): take the .bin from %s"
                                 % (args.firmware, cfg.get("download", "MicroPython's download page")))
        cmd = esptool_command(fl, args.port, args.firmware, args.baud, args.erase)
        shown = " ".join(shlex.quote(c) for c in ["esptool"] + cmd[3:])
        print("%sflash %s with esptool: %s" % (pre, cfg.get("board", "board"), shown), flush=True)
        if args.dry_run:
            return 0
        run_esptool(cmd)
        print("flashed; the board restarts into MicroPython: next `hopseal board deploy --port %s --board %s`"
              % (args.port, args.board), flush=True)
        return 0
    want = {int(x, 16) for x in fl.get("families", [])}
    fams = uf2_families(args.firmware)
    if want and not fams & want:
        raise FlashError("%s is for another chip (UF2 family %s; %s takes %s)" % (
            args.firmware, ", ".join("0x%08x" % x for x in sorted(fams)) or "none",
            cfg.get("board", "this board"), ", ".join(sorted(fl["families"]))))
    board_id = fl["drive"]
    drives = [args.drive] if args.drive else find_drives(board_id)
    if args.drive and read_info(args.drive).get("Board-ID") != board_id:
        raise FlashError("%s is not a %s boot drive (its INFO_UF2.TXT says Board-ID %s)" % (
            args.drive, board_id, read_info(args.drive).get("Board-ID") or "nothing: no INFO_UF2.TXT"))
    if not drives and args.port:
        print("%sask the board on %s into its bootloader (machine.bootloader()) and wait for the %s drive"
              % (pre, args.port, board_id), flush=True)
        if not args.dry_run:
            bootloader(args.port)
            end = time.monotonic() + 20
            while not drives and time.monotonic() < end:
                time.sleep(0.5)
                drives = find_drives(board_id)
    if not drives and not args.dry_run:
        raise FlashError("no %s boot drive found (hold BOOTSEL while plugging the board in, or give --port of a "
                         "board running MicroPython, or --drive PATH where it is mounted)" % board_id)
    if len(drives) > 1:
        raise FlashError("%d %s boot drives found (%s): give --drive" % (len(drives), board_id, ", ".join(drives)))
    where = drives[0] if drives else "the %s drive" % board_id
    print("%scopy %s (%d bytes, UF2 family %s) onto %s" % (pre, args.firmware, os.path.getsize(args.firmware),
          ", ".join("0x%08x" % x for x in sorted(fams)), where), flush=True)
    if args.dry_run:
        return 0
    copy_uf2(args.firmware, drives[0])
    print("flashed; the board restarts into its new firmware%s" % (
        ": next `hopseal board deploy --port PORT --board %s`" % args.board if cfg.get("port") != "circuitpython"
        else ""), flush=True)
    return 0


DESCRIPTION = """\
Put MicroPython (or CircuitPython) on a board, as its board file's "flash" section says: ESP32
family through esptool (write-flash at the chip's offset), RP2040/RP2350 by copying the .uf2 onto
the board's boot drive (found by INFO_UF2.TXT; checked: UF2 blocks and the chip's family ID). Takes
a local firmware file (the board file's "download" names where the official ones are)."""

EPILOG = """\
examples:
  hopseal board flash --port /dev/ttyUSB0 --board boards/esp32.json ESP32_GENERIC-20250415-v1.25.0.bin --erase
  hopseal board flash --board boards/rp2040-pico-w.json RPI_PICO_W-20250415-v1.25.0.uf2
  hopseal board flash --port /dev/ttyACM0 --board boards/rp2040-pico-w.json RPI_PICO_W.uf2 --dry-run"""


def add_parser(bsub) -> argparse.ArgumentParser:
    f = bsub.add_parser("flash", help="put MicroPython on a board (esptool, or a UF2 copy)", description=DESCRIPTION,
                        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    f.add_argument("firmware", metavar="FIRMWARE", help="the firmware file (.bin for esptool, .uf2)")
    f.add_argument("--board", required=True, metavar="FILE", help="the board file (boards/*.json)")
    f.add_argument("--port", help="the board's serial port (esptool; for UF2 boards, to ask MicroPython into "
                   "its bootloader)")
    f.add_argument("--drive", metavar="PATH", help="UF2: where the board's boot drive is mounted")
    f.add_argument("--erase", action="store_true", help="esptool: erase the whole flash first (the board's files "
                   "and identity go too)")
    f.add_argument("--baud", type=int, default=460800, help="esptool's baud rate (default: 460800)")
    f.add_argument("--dry-run", action="store_true", help="print what would run or be copied, and touch nothing")
    f.set_defaults(func=cmd_board_flash)
    return f
