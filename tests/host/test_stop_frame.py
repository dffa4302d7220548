"""The host's STOP frame (serial-link.md §2.1): its bytes, and that a REPL takes none of them as a
command; send_stop() writes it to a file descriptor or a file-like object. (Against real MicroPython:
tests/system/test_board_stop.py.)"""
import io
import os

from hopseal.wire.serial_frame import STOP, FrameDecoder
from hopseal_host.serial_port import STOP_BODY, send_stop, stop_frame


def test_stop_frame_decodes_and_is_inert_at_a_repl():
    f = stop_frame()
    assert FrameDecoder().feed(f) == [("frame", STOP, STOP_BODY)]
    inner = f[2:-1]  # the COBS bytes, between 00 F8 and the trailing 00
    # nothing a MicroPython REPL acts on: Ctrl-A..E (raw REPL, Ctrl-B, Ctrl-C, soft reset, paste
    # mode), TAB (completion), LF/CR (run the line), ESC (sequences), Ctrl-K/N/P (edit, history)
    assert not set(inner) & {1, 2, 3, 4, 5, 9, 10, 11, 13, 14, 16, 27}, inner.hex(" ")
    assert inner[0] == ord("#")  # the line typed starts as a comment...
    assert inner[-1] == 0x15  # ...and Ctrl-U erases it
    assert all(b in (6, 0x15) or 32 <= b < 127 or b >= 0x80 for b in inner)


def test_send_stop_to_a_descriptor_and_a_file():
    r, w = os.pipe()
    try:
        assert send_stop(w) == len(stop_frame())
        assert os.read(r, 100) == stop_frame()
    finally:
        os.close(r)
        os.close(w)
    buf = io.BytesIO()
    send_stop(buf)
    assert buf.getvalue() == stop_frame()
