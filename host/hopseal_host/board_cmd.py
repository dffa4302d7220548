"""`hopseal board ...`: the boards attached to this host (issue 13): `board list` here; `board flash`
in flash.py, `board deploy` in deploy.py, `board console` in board_console.py.

`hopseal board list` lists the serial ports pyserial finds (device, VID:PID, description) plus every
`--port` given (pseudo-terminals such as `hopseal virtual-board`'s are not in pyserial's listing),
and asks each one that is safe to ask what runs on it, over MicroPython's raw REPL:

- asked: every `--port`, and USB ports whose vendor ID is one of MicroPython's or CircuitPython's
  usual ones (native USB boards: Raspberry Pi, Espressif, Adafruit, MicroPython, pid.codes). A USB
  serial bridge (CP210x, CH340, FTDI: many ESP32 boards, but also anything else) is listed and not
  touched; give it with --port to ask it;
- the exchange: Ctrl-C (interrupt), Ctrl-A (raw REPL), a short program that prints the
  implementation, its version and machine and what of hopseal is on the board's flash (main.py
  importing hopseal, board.json and its name, the identity file hopseal_identity.cbor; the identity
  file's public part, its change history, is printed where the runtime's CBOR decoder is installed,
  and this host computes the identifier from it: the secret keys never leave the board), then
  Ctrl-B (back to the friendly REPL). The program is only what it prints; nothing is written on the
  board;
- a port that gives no raw REPL prompt within the timeout (2 s) says so in its row: nothing answers,
  or a program runs that ignores Ctrl-C. The hopseal firmware ignores it while its serial link runs,
  and it is recognised by its link HELLO frames (serial-link.md §7.1; the board's name rides in
  them); `hopseal board deploy` stops it with the link's STOP frame, `board list` never does. A port
  held by another program (the gateway opens its ports exclusively) is "busy" and not touched.

Exit status: 0, or 1 when a port given with --port did not answer (one line on stderr names them).
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import sys
import time

from hopseal.errors import HopsealError

# Native-USB vendor IDs of boards that run MicroPython or CircuitPython.
REPL_VIDS = {
    0x2E8A: "Raspberry Pi",
    0x303A: "Espressif",
    0x239A: "Adafruit",
    0xF055: "MicroPython",
    0x1209: "pid.codes",
}
TIMEOUT = 2.0

PROBE = b"""import sys
try:
 import os
except ImportError:
 import uos as os
def _hs():
 def ex(p):
  try:
   os.stat(p)
   return True
  except OSError:
   return False
 m = ''
 try:
  f = open('main.py')
  m = f.read(4096)
  f.close()
 except Exception:
  pass
 n = ''
 v = None
 if ex('board.json'):
  try:
   import json
   f = open('board.json')
   c = json.load(f)
   f.close()
   n = c.get('name', '')
   v = c.get('vault')
  except Exception:
   n = '?'
 d = v if v else ''
 p = (d.rstrip('/') + '/' if d else '') + 'hopseal_identity.cbor'
 i = ex(p)
 h = ''
 if i:
  try:
   from hopseal.wire import cbor
   import binascii
   f = open(p, 'rb')
   h = binascii.hexlify(cbor.decode(f.read())['change_history']).decode()
   f.close()
  except Exception:
   pass
 return ['hopseal' in m, ex('board.json'), n, i, h]
v = getattr(sys.implementation, 'version', ())
print(repr([sys.implementation.name, '.'.join([str(x) for x in v[:3]]), sys.version, getattr(sys.implementation, '_machine', ''), _hs()]))
del _hs
"""

RAW_PROMPT = b"raw REPL; CTRL-B to exit\r\n>"


class NoAnswer(HopsealError):
    pass


class _Reader:
    """Reads from `ser` up to an ending, keeping what came after it for the next read."""

    def __init__(self, ser, deadline: float, timeout: float):
        self.ser, self.deadline, self.timeout, self.buf = ser, deadline, timeout, b""

    def until(self, ending: bytes) -> bytes:
        while ending not in self.buf:
            if time.monotonic() >= self.deadline:
                raise NoAnswer("no raw REPL answer within %g s" % self.timeout)
            self.buf += self.ser.read(max(1, self.ser.in_waiting))
        i = self.buf.index(ending)
        data, self.buf = self.buf[:i], self.buf[i + len(ending):]
        return data  # without the ending


def query(port: str, timeout: float = TIMEOUT) -> dict:
    """Ask the REPL on `port` what it runs. Returns {"repl": "answered", "implementation", "version",
    "machine", "hopseal": {...}} or {"repl": "<why not>"}."""
    import serial

    if not port.startswith(("socket://", "rfc2217://", "loop://")) and not os.path.exists(port):
        return {"repl": "no such port", "ok": False}
    try:
        ser = serial.serial_for_url(port, baudrate=115200, timeout=0.05, write_timeout=timeout, exclusive=True)
    except serial.SerialException as e:
        text = str(e)
        if "lock" in text.lower() or "busy" in text.lower():
            return {"repl": "busy: in use by another program", "ok": False}
        return {"repl": "cannot open: %s" % text, "ok": False}
    deadline = time.monotonic() + timeout
    try:
        ser.write(b"\r\x03\x03")  # interrupt what runs
        time.sleep(0.1)
        ser.reset_input_buffer()
        ser.write(b"\r\x01")  # raw REPL
        rd = _Reader(ser, deadline, timeout)
        rd.until(RAW_PROMPT)
        ser.write(PROBE + b"\x04")
        out = rd.until(b"\x04")
        err = rd.until(b"\x04")
        rd.until(b">")
        ser.write(b"\x02")  # back to the friendly REPL
        ser.flush()
        if not out.startswith(b"OK"):
            return {"repl": "raw REPL refused the program: %r" % out[:60], "ok": False}
        if err.strip():
            last = err.decode("utf-8", "replace").strip().splitlines()[-1]
            return {"repl": "the program failed on the board: %s" % last, "ok": False}
        impl, version, sys_version, machine, hs = ast.literal_eval(out[2:].decode("utf-8", "replace").strip())
        hopseal = {"main_py": bool(hs[0]), "board_json": bool(hs[1]), "name": hs[2] or None, "identity": bool(hs[3]),
                   "identifier": identifier_of(hs[4]) if len(hs) > 4 and hs[4] else None}
        return {"repl": "answered", "ok": True, "implementation": impl, "version": version,
                "sys_version": sys_version, "machine": machine, "hopseal": hopseal}
    except NoAnswer as e:
        name = hopseal_hello(rd.buf)
        if name is not None:
            return {"repl": "hopseal firmware running (its serial link ignores Ctrl-C; `hopseal board deploy` "
                    "stops it)", "ok": True, "implementation": None, "running": True,
                    "hopseal": {"main_py": True, "board_json": True, "name": name or None, "identity": None,
                                "identifier": None}}
        return {"repl": "%s (nothing answers, or a program that ignores Ctrl-C runs)" % e, "ok": False}
    except (serial.SerialException, OSError, ValueError, SyntaxError) as e:
        return {"repl": "no usable answer: %s" % e, "ok": False}
    finally:
        try:
            ser.close()
        except Exception:
            pass


def identifier_of(change_history_hex: str) -> str | None:
    """The identifier of a change history (public bytes read off the board), or None if it does
    not parse."""
    from hopseal.errors import HopsealError as _E
    from hopseal.secure.identity import parse_change_history

    from .crypto_host import HostCrypto

    try:
        return parse_change_history(HostCrypto(), bytes.fromhex(change_history_hex)).identifier_text()
    except (_E, ValueError):
        return None


def hopseal_hello(data: bytes) -> str | None:
    """The board name of the first hopseal link HELLO in `data` ("" if it carries none), or None."""
    from hopseal.wire.serial_frame import HELLO, FrameDecoder
    from hopseal.wire.serial_link import parse_hello

    for ev in FrameDecoder().feed(data):
        if ev[0] == "frame" and ev[1] == HELLO and len(ev[2]) >= 1:
            return parse_hello(bytes(ev[2]))[3]
    return None


def hopseal_text(h: dict | None) -> str:
    if not h:
        return ""
    if h["identity"] is None:  # seen running, not asked
        return "hopseal running" + (", name %s" % h["name"] if h["name"] else "")
    if h["main_py"] or h["board_json"]:
        text = "hopseal installed"
        if h["name"]:
            text += ", name %s" % h["name"]
        if h.get("identifier"):
            return text + ", identity " + h["identifier"]
        return text + (", identity present" if h["identity"] else ", no identity yet")
    return "identity file only" if h["identity"] else "not installed"


def rows(ports: list[str], timeout: float = TIMEOUT) -> list[dict]:
    from serial.tools import list_ports

    out: list[dict] = []
    given = [os.path.abspath(p) if "://" not in p else p for p in ports]
    seen = set()
    for info in sorted(list_ports.comports(), key=lambda i: i.device):
        vid = getattr(info, "vid", None)
        row = {"port": info.device, "given": False,
               "vid_pid": "%04X:%04X" % (vid, info.pid) if vid is not None and info.pid is not None else "",
               "description": info.description if info.description and info.description != "n/a" else ""}
        real = os.path.realpath(info.device)
        match = [p for p in given if os.path.realpath(p) == real]
        if match:
            row["given"] = True
            seen.update(match)
        if match or (vid in REPL_VIDS):
            row.update(query(info.device, timeout))
        else:
            row.update({"repl": "not asked (not a MicroPython-like USB vendor; give it with --port)", "ok": None})
        out.append(row)
    for p, orig in zip(given, ports):
        if p in seen:
            continue
        seen.add(p)
        desc = ""
        if os.path.islink(p):
            desc = "-> %s" % os.path.realpath(p)
        row = {"port": orig, "given": True, "vid_pid": "", "description": desc}
        row.update(query(p if "://" not in p else orig, timeout))
        out.append(row)
    return out


def table(rs: list[dict]) -> str:
    head = ["PORT", "VID:PID", "DESCRIPTION", "REPL", "HOPSEAL"]
    lines = []
    for r in rs:
        if r.get("running"):
            repl = "- (firmware running)"
        elif r.get("ok"):
            repl = "%s %s" % (r["implementation"], r["version"])
            if r.get("machine"):
                repl += " (%s)" % r["machine"]
        else:
            repl = r["repl"]
        lines.append([r["port"], r["vid_pid"] or "-", r["description"] or "-", repl,
                      hopseal_text(r.get("hopseal")) or "-"])
    if not lines:
        return "no serial ports found (a pseudo-terminal such as a virtual board's is shown only with --port PATH)"
    widths = [max(len(x[i]) for x in lines + [head]) for i in range(len(head) - 1)]
    fmt = "  ".join("%%-%ds" % w for w in widths) + "  %s"
    return "\n".join((fmt % tuple(x)).rstrip() for x in [head] + lines)


DESCRIPTION = """\
List the serial ports attached to this host and, where a MicroPython or CircuitPython REPL
answers, what runs there: implementation, version, machine, and whether hopseal is installed
(main.py / board.json, the board's name, an identity file). Only --port ports and native-USB
ports with a MicroPython-like vendor ID are asked (Ctrl-C, raw REPL, a read-only probe, Ctrl-B);
other ports are listed untouched. A pseudo-terminal (hopseal virtual-board) is listed only when
given with --port."""

EPILOG = """\
examples:
  hopseal board list
  hopseal board list --port /tmp/hopseal-board1 --json
exit status: 0, or 1 when a port given with --port did not answer (one line on stderr)."""


def add_parser(sub) -> argparse.ArgumentParser:
    b = sub.add_parser("board", help="the boards attached to this host (list, flash, deploy, console)",
                       description="Boards attached to this host.")
    bsub = b.add_subparsers(dest="action", metavar="ACTION")
    bsub.required = True
    bl = bsub.add_parser("list", help="list serial ports and what their REPL runs", description=DESCRIPTION,
                         epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    bl.add_argument("--port", action="append", default=[], metavar="PORT",
                    help="also list and ask PORT (a device, a pty or its --link symlink, a pyserial URL); repeatable")
    bl.add_argument("--json", action="store_true", help="print a JSON list of rows instead of a table")
    bl.add_argument("--timeout", type=float, default=TIMEOUT, metavar="S",
                    help="seconds to wait for each REPL (default: %g)" % TIMEOUT)
    bl.set_defaults(func=cmd_board_list)
    from . import board_console, deploy, flash

    flash.add_parser(bsub)  # in the order of a board's life: list, flash, deploy, console
    deploy.add_parser(bsub)
    board_console.add_parser(bsub)
    return b


def cmd_board_list(args: argparse.Namespace) -> int:
    rs = rows(args.port, args.timeout)
    if args.json:
        print(json.dumps(rs, indent=2))
    else:
        print(table(rs), flush=True)
    failed = [r for r in rs if r["given"] and not r.get("ok")]
    if failed:
        print("hopseal board list: error: %s" % "; ".join("%s: %s" % (r["port"], r["repl"].split(" (")[0])
                                                         for r in failed), file=sys.stderr, flush=True)
        return 1
    return 0
