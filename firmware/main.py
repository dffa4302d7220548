"""hopseal board entry point: copy it to the board as main.py (CircuitPython runs main.py too).

It reads the board file (board.json beside it; on the unix port the path given as the first
argument), builds the hardware link that file names (board_io: USB-CDC REPL port, UART,
CircuitPython usb_cdc.data or busio.UART, a pseudo-terminal, or Wi-Fi + TCP to the gateway) and
runs the node with the default services (echo, uppercase) on it (hopseal.apps.board).

    micropython firmware/main.py boards/unix.json [--name N] [--link stdio|pty:PATH|tcp:HOST:PORT]
        [--relay NAME] [--probe S] [--ping-interval S] [--down-after N] [--max-body B]

Hardware objects are built here, at run time, never when a module is imported.
"""
import sys

try:
    import romfs_mount  # noqa: F401  (the virtual board's ROMFS image; nothing on a board)
except ImportError:
    pass

from hopseal.apps import board_config  # noqa: E402
from hopseal.errors import ConfigError  # noqa: E402


def error(text):
    """A line on the console's error stream (the same wire on a board; the virtual board's
    launcher also keeps it, to say why a board stopped)."""
    print(text, file=sys.stderr)


START_ATTEMPTS = 3  # on the unix port (the virtual board); a board keeps trying


def main(argv):
    try:
        cfg = board_config.configure(argv)
    except ConfigError as e:
        error("error: %s" % e)
        return 2
    link = cfg["link"]
    stream = None
    if link["type"] == "tcp":
        if link.get("wifi"):
            from hopseal.apps.board_io import wifi_connect

            print("wifi: address %s" % wifi_connect(link["wifi"]))
    else:
        from hopseal.apps.board_io import open_stream

        stream = open_stream(link)
    try:
        return start(cfg, stream)
    finally:
        if stream is not None:
            stream.close()


def preload(cfg):
    """Import the modules this board needs, the largest source file first, before the node takes
    the heap: a board running from .py source compiles each one, and the compile of a big module
    wants tens of KB while the heap is still in few pieces. (Bytecode from .mpy files or ROMFS
    needs no compiling: there the node's own order is best.)"""
    import os

    import hopseal

    if not hopseal.__file__.endswith(".py"):
        return
    names = ["apps/board", "node", "compat", "wire/message", "wire/cbor", "transport/connection"]
    if cfg.get("vault") is not None:
        names += ["crypto/ed25519", "crypto/x25519", "crypto/gcm", "crypto/aes", "crypto/soft", "secure/identity",
                  "secure/channel", "secure/noise", "secure/handshake", "secure/vault"]
    if cfg["link"]["type"] != "tcp":
        names += ["wire/serial_link", "wire/serial_frame", "transport/serial"]
        if cfg.get("max_message"):
            names.append("wire/serial_arq")  # the reliable link (serial-link.md §8), at link up
    else:
        names += ["transport/tcp", "wire/tcp_frame"]
    if cfg.get("relay"):
        names.append("services/relay")
    if cfg.get("outlets") or cfg.get("inlets") or cfg.get("status_page"):
        names.append("services/portal")
    if cfg.get("outlets") or cfg.get("inlets") or cfg.get("heap_report"):
        names.append("apps/board_extras")
    if cfg.get("status_page"):
        names.append("apps/board_http")
    root = hopseal.__file__[: -len("__init__.py")]
    sized = []
    for n in names:
        try:
            sized.append((os.stat(root + n + ".py")[6], n))
        except OSError:
            pass  # a module that is not there fails where it is used, with its own message
    sized.sort(reverse=True)
    import gc

    for _, n in sized:
        gc.collect()  # each compile's leftovers go before the next one wants its large pieces
        __import__("hopseal." + n.replace("/", "."))


def start(cfg, stream):
    """Run the board; out of memory while starting, collect, say so in one line and try again
    (never a traceback, never the REPL)."""
    import gc
    import time

    attempt = 0
    while True:
        attempt += 1
        try:
            preload(cfg)
            from hopseal.apps import board

            why = board.run(cfg, stream)
            if not (isinstance(why, str) and "out of memory" in why):
                return 0  # STOP from the host (the REPL follows), or the stream ended (unplugged)
            # out of memory while running: the node is gone; start it again, as after a reset
            import asyncio

            asyncio.new_event_loop()  # MicroPython: drop the tasks the old node left behind
            gc.collect()
            error("restarting the node after running out of memory (heap free %d after a collection)"
                  % gc.mem_free())
            attempt = 0
        except MemoryError:
            gc.collect()
            free = gc.mem_free()
            if sys.platform == "linux" and attempt >= START_ATTEMPTS:
                import hopseal

                hint = "deploy the firmware as ROMFS or .mpy" if hopseal.__file__.endswith(".py") else "use a smaller max_body"
                error("cannot start: out of memory %d times (heap free %d of %d after a collection): give the "
                      "board more heap or %s" % (attempt, free, free + gc.mem_alloc(), hint))
                return 1
            error("out of memory while starting (attempt %d, heap free %d after a collection); retrying"
                  % (attempt, free))
            time.sleep(min(attempt, 10))


_status = main(sys.argv[1:] if hasattr(sys, "argv") else [])
if not _status:
    # The link ended (the host's STOP frame): the board goes on at its REPL. Give the runtime's
    # modules back to the heap first, so the REPL (and mpremote, deploying) has it: the tasks
    # asyncio.run left in its queue hold the node, and the modules their code.
    import asyncio

    asyncio.new_event_loop()  # MicroPython: a fresh, empty task queue
    for _m in [_m for _m in sys.modules if _m.startswith("hopseal")]:
        del sys.modules[_m]
    del asyncio, board_config, ConfigError, main, preload, start
    import gc

    gc.collect()
elif sys.platform == "linux":
    # The unix port (the virtual board): its launcher reads the exit status. A board's main.py
    # just ends, at the REPL: SystemExit there would soft-reset the board into main.py again.
    sys.exit(_status)
