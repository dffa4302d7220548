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


def main(argv):
    try:
        cfg = board_config.configure(argv)
    except ConfigError as e:
        print("error: %s" % e)
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
    from hopseal.apps import board

    try:
        board.run(cfg, stream)
    finally:
        if stream is not None:
            stream.close()
    return 0


main(sys.argv[1:] if hasattr(sys, "argv") else [])
