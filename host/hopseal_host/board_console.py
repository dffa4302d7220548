"""`hopseal board console`: a board's serial console, with the link's frames shown as one-line
summaries or hidden (issue 13).

The board's port carries its console text and, while the firmware runs, the serial link's frames
(serial-link.md): the console decodes both with the link's own FrameDecoder, shows the text as it
comes (control characters escaped except newline, carriage return, tab and backspace, so a board
cannot drive this terminal), and each frame as `<HELLO v1 name=b1 max 1024>`, `<DATA 61 B>`.
What is typed goes to the board as is (its REPL, when the firmware is stopped).

Keys: Ctrl-] leaves; Ctrl-T then Ctrl-R resets the board (a hardware reset through RTS where the
port has the line, as esptool does on ESP32 boards with a USB-UART bridge; and a soft reset: the
link's STOP frame, Ctrl-C, Ctrl-D); Ctrl-T then Ctrl-T sends one Ctrl-T.

The port is opened exclusively: the console runs beside nothing else on it. When a gateway holds
the port and runs with --console, the console shows the board's lines through the gateway instead
(read-only: the gateway runs the link). When the board goes away (unplugged, reset on a native-USB
port, the virtual board's reset) the console says so, waits for the port to come back, and goes on.
"""
from __future__ import annotations

import argparse
import os
import select
import sys
import threading
import time

from hopseal.errors import HopsealError

CTRL_RBRACKET = 0x1D
CTRL_T = 0x14
CTRL_R = 0x12


def _printable(data: bytes) -> bytes:
    out = bytearray()
    for b in data:
        if b in (9, 10, 13, 8) or 32 <= b < 127 or b >= 0x80:
            out.append(b)
        else:
            out += b"\\x%02x" % b
    return bytes(out)


def frame_summary(ftype: int, body: bytes) -> str:
    from hopseal.wire import serial_frame as sf

    names = {getattr(sf, n): n for n in ("HELLO", "DATA", "PING", "PONG", "TIME", "STOP") if hasattr(sf, n)}
    name = names.get(ftype, "type 0x%02x" % ftype)
    if name == "HELLO" and body:
        from hopseal.wire.serial_link import parse_hello

        version, flags, max_body, peer = parse_hello(bytes(body))
        return "<HELLO v%d%s%s%s>" % (version, " reply" if flags & 1 else "", " name=%s" % peer if peer else "",
                                      " max %d" % max_body if max_body else "")
    if name == "TIME" and len(body) >= 4:
        return "<TIME %d>" % int.from_bytes(bytes(body[:4]), "big")
    return "<%s %d B>" % (name, len(body))


class PortBusy(HopsealError):
    pass


def through_gateway(port: str):
    """A socket to a local gateway (`hopseal gateway --console`) that serves `port`, and the board's
    name, or None."""
    import glob
    import socket

    from .home import default_home

    for path in sorted(glob.glob(os.path.join(default_home(), "gateway*-console.sock"))):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.settimeout(3)
            s.connect(path)
            s.sendall(os.path.abspath(port).encode() + b"\n")
            answer = b""
            while not answer.endswith(b"\n"):
                chunk = s.recv(1)
                if not chunk:
                    break
                answer += chunk
            if answer.startswith(b"ok "):
                s.settimeout(None)
                return s, answer[3:].decode("utf-8", "replace").strip()
        except OSError:
            pass
        s.close()
    return None


def follow_gateway(sock, name: str, port: str) -> int:
    """Show the board's console lines the gateway passes on, until Ctrl-] (or Ctrl-C)."""
    stdin = sys.stdin.fileno()
    tty_state = None
    if os.isatty(stdin):
        import termios
        import tty

        tty_state = termios.tcgetattr(stdin)
        tty.setcbreak(stdin)
    print("--- console of %s on %s, through the gateway (read-only: the gateway runs its link); Ctrl-] leaves ---"
          % (name, port), flush=True)
    try:
        while True:
            r, _, _ = select.select([sock, stdin], [], [], 0.5)
            if sock in r:
                data = sock.recv(4096)
                if not data:
                    print("--- the gateway closed the console ---", flush=True)
                    return 0
                sys.stdout.buffer.write(data)
                sys.stdout.flush()
            if stdin in r:
                keys = os.read(stdin, 64)
                if not keys or CTRL_RBRACKET in keys:
                    return 0
    except KeyboardInterrupt:
        return 0
    finally:
        sock.close()
        if tty_state is not None:
            import termios

            termios.tcsetattr(stdin, termios.TCSADRAIN, tty_state)


class Console:
    def __init__(self, port: str, baud: int, frames: bool, out=None):
        self.port = port
        self.baud = baud
        self.frames = frames
        self.out = out or sys.stdout.buffer
        self.ser = None
        self.stop = False
        self.lock = threading.Lock()

    def say(self, text: str) -> None:
        with self.lock:
            self.out.write(b"\r\n[console] " + text.encode() + b"\r\n")
            self.out.flush()

    def open(self, first: bool) -> None:
        import serial

        waited = False
        while not self.stop:
            try:
                self.ser = serial.serial_for_url(self.port, baudrate=self.baud, timeout=0.1, exclusive=True)
                if not first:
                    self.say("%s is back" % self.port)
                return
            except (serial.SerialException, OSError) as e:
                text = str(e)
                if first:
                    if "lock" in text.lower() or "busy" in text.lower():
                        raise PortBusy("%s is in use by another program (a gateway serving it shows the board's "
                                       "console here when it runs with --console)" % self.port)
                    raise HopsealError("cannot open %s: %s" % (self.port, text))
                if not waited:
                    self.say("waiting for %s to come back" % self.port)
                    waited = True
                time.sleep(0.3)

    def _gone(self, why: str) -> None:
        try:
            self.ser.close()
        except Exception:
            pass
        self.ser = None
        self.say("%s gone (%s)" % (self.port, why))
        self.open(first=False)

    def pump(self) -> None:
        """Board → terminal, until stop; reopens the port when the board goes away."""
        from hopseal.wire.serial_frame import FrameDecoder

        dec = FrameDecoder(max_body=8192)
        target = os.path.realpath(self.port) if os.path.exists(self.port) else None
        while not self.stop:
            ser = self.ser
            if ser is None:
                time.sleep(0.05)
                continue
            try:
                data = ser.read(max(1, ser.in_waiting))
            except Exception as e:  # SerialException, OSError: unplugged
                if self.stop:
                    return
                self._gone(str(e).split(" (")[0].split(":")[0] or type(e).__name__)
                dec = FrameDecoder(max_body=8192)
                target = os.path.realpath(self.port) if os.path.exists(self.port) else None
                continue
            if not data:
                now = os.path.realpath(self.port) if os.path.exists(self.port) else None
                if now != target and not self.stop:  # the port's link now names another device
                    self._gone("the port now leads to %s" % now)
                    dec = FrameDecoder(max_body=8192)
                    target = now
                continue
            parts = []
            for ev in dec.feed(data):
                if ev[0] == "text":
                    parts.append(_printable(bytes(ev[1])))
                elif self.frames:
                    parts.append(b"\x1b[2m" + frame_summary(ev[1], ev[2]).encode() + b"\x1b[0m\r\n")
            if parts:
                with self.lock:
                    self.out.write(b"".join(parts))
                    self.out.flush()

    def write(self, data: bytes) -> None:
        ser = self.ser
        if ser is None:
            return
        try:
            ser.write(data)
        except Exception:
            pass  # gone: the pump notices and waits for it

    def reset(self) -> None:
        from hopseal_host.serial_port import stop_frame

        self.say("resetting the board")
        ser = self.ser
        if ser is None:
            return
        try:
            ser.rts = True  # EN low on ESP32 boards with a USB-UART bridge (esptool's hard reset)
            time.sleep(0.1)
            ser.rts = False
        except Exception:
            pass  # a pty or a native-USB port: no reset line
        self.write(bytes(stop_frame()))  # harmless at a REPL (serial-link.md §2.1)
        time.sleep(0.3)
        self.write(b"\x03\x03")
        time.sleep(0.1)
        self.write(b"\x04")


def run(args: argparse.Namespace) -> int:
    c = Console(args.port, args.baud, frames=args.frames != "hide")
    try:
        c.open(first=True)
    except PortBusy:
        gw = through_gateway(args.port)
        if gw is None:
            raise
        return follow_gateway(gw[0], gw[1], args.port)
    stdin = sys.stdin.fileno()
    tty_state = None
    if os.isatty(stdin):
        import termios
        import tty

        tty_state = termios.tcgetattr(stdin)
        tty.setraw(stdin)
    print("--- hopseal board console on %s: Ctrl-] leaves, Ctrl-T Ctrl-R resets the board ---\r" % args.port,
          flush=True)
    t = threading.Thread(target=c.pump, name="console-rx", daemon=True)
    t.start()
    menu = False
    try:
        while True:
            r, _, _ = select.select([stdin], [], [], 0.2)
            if not r:
                continue
            data = os.read(stdin, 256)
            if not data:  # stdin closed: nothing more will be typed; keep showing until a signal
                while True:
                    time.sleep(1)
            out = bytearray()
            for b in data:
                if menu:
                    menu = False
                    if b == CTRL_R:
                        if out:
                            c.write(bytes(out))
                            out = bytearray()
                        c.reset()
                    elif b == CTRL_T:
                        out.append(CTRL_T)
                    continue
                if b == CTRL_RBRACKET:
                    if out:
                        c.write(bytes(out))
                    return 0
                if b == CTRL_T:
                    menu = True
                    continue
                out.append(b)
            if out:
                c.write(bytes(out))
    except KeyboardInterrupt:
        return 0
    finally:
        c.stop = True
        if tty_state is not None:
            import termios

            termios.tcsetattr(stdin, termios.TCSADRAIN, tty_state)
        if c.ser is not None:
            try:
                c.ser.close()
            except Exception:
                pass
        print("\n--- console closed ---", flush=True)


DESCRIPTION = """\
The board's serial console: what the board prints, with the serial link's frames shown as one-line
summaries (<HELLO v1 name=b1 max 1024>, <DATA 61 B>) or hidden; what you type goes to the board.
Ctrl-] leaves; Ctrl-T Ctrl-R resets the board (RTS pulse where the port has it, then the link's
STOP frame, Ctrl-C, Ctrl-D). The port is opened exclusively; when a gateway serving the board holds
it and runs with --console, its lines come through the gateway (read-only). When the board goes
away the console waits for it to come back."""


def add_parser(bsub) -> argparse.ArgumentParser:
    c = bsub.add_parser("console", help="the board's serial console, link frames summarised",
                        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
                        epilog="example:\n  hopseal board console --port /dev/ttyUSB0 --frames hide")
    c.add_argument("--port", required=True, help="the board's serial port (a device, a pty or its symlink)")
    c.add_argument("--frames", choices=("summary", "hide"), default="summary",
                   help="show the link's frames as one-line summaries (default) or hide them")
    c.add_argument("--baud", type=int, default=115200, help="baud rate of a UART port (default: 115200)")
    c.set_defaults(func=run)
    return c
