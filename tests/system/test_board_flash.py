"""`hopseal board flash` (issue 13): a UF2 copy onto a folder that looks like an RP2040/RP2350 boot
drive (INFO_UF2.TXT), with the file and the chip checked first; esptool's exact command in
--dry-run, and the real esptool run against a port where no ESP32 answers (real flashing needs a
board: this shows the invocation is one esptool accepts and that its failure is one line).
"""
import os
import struct
import subprocess
import sys
import tty

from support.procs import ROOT, py_env

RP2040 = 0xE48BFF56
RP2350_ARM_S = 0xE48BFF59
BOARDS = os.path.join(ROOT, "boards")


def cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "hopseal_host.cli", "board", "flash", *args], capture_output=True,
                          text=True, env=py_env(), cwd=ROOT, timeout=timeout)


def uf2(path, family, blocks=4, magic_end=0x0AB16F30):
    """A UF2 file: `blocks` blocks of 256 payload bytes each, family ID set (uf2 spec)."""
    out = b""
    for i in range(blocks):
        head = struct.pack("<8I", 0x0A324655, 0x9E5D5157, 0x00002000, 0x10000000 + 256 * i, 256, i, blocks, family)
        data = bytes([(i + j) & 0xFF for j in range(256)]).ljust(476, b"\0")
        out += head + data + struct.pack("<I", magic_end)
    with open(path, "wb") as f:
        f.write(out)
    return path


def boot_drive(path, board_id):
    os.makedirs(path)
    with open(os.path.join(path, "INFO_UF2.TXT"), "w") as f:
        f.write("UF2 Bootloader v3.0\nModel: Raspberry Pi RP2\nBoard-ID: %s\n" % board_id)
    return path


def one_line(r):
    assert r.returncode != 0 and "Traceback" not in r.stderr and r.stderr.count("\n") == 1, r.stderr
    return r.stderr


def test_uf2_is_copied_onto_the_boot_drive(tmp_path):
    fw = uf2(str(tmp_path / "RPI_PICO_W-v1.25.0.uf2"), RP2040)
    drive = boot_drive(str(tmp_path / "RPI-RP2"), "RPI-RP2")
    r = cli("--board", os.path.join(BOARDS, "rp2040-pico-w.json"), "--drive", drive, fw)
    assert r.returncode == 0, r.stdout + r.stderr
    with open(fw, "rb") as a, open(os.path.join(drive, os.path.basename(fw)), "rb") as b:
        assert a.read() == b.read()
    assert "UF2 family 0xe48bff56" in r.stdout and "flashed" in r.stdout


def test_uf2_checks_before_copying(tmp_path):
    drive = boot_drive(str(tmp_path / "RPI-RP2"), "RPI-RP2")
    pico = os.path.join(BOARDS, "rp2040-pico.json")
    # a Pico 2 image onto a Pico: refused, nothing copied
    fw2 = uf2(str(tmp_path / "pico2.uf2"), RP2350_ARM_S)
    assert "for another chip" in one_line(cli("--board", pico, "--drive", drive, fw2))
    # not a UF2 file at all, and a UF2 file with a damaged block
    junk = str(tmp_path / "firmware.uf2")
    with open(junk, "wb") as f:
        f.write(b"\x7fELF" + bytes(1020))
    assert "not a UF2 file" in one_line(cli("--board", pico, "--drive", drive, junk))
    bad = uf2(str(tmp_path / "bad.uf2"), RP2040, magic_end=0)
    assert "block 0 has no UF2 magic" in one_line(cli("--board", pico, "--drive", drive, bad))
    assert os.listdir(drive) == ["INFO_UF2.TXT"]
    # a folder that is not that chip's boot drive
    other = boot_drive(str(tmp_path / "RP2350"), "RP2350")
    fw = uf2(str(tmp_path / "pico.uf2"), RP2040)
    assert "not a RPI-RP2 boot drive" in one_line(cli("--board", pico, "--drive", other, fw))
    # the Pico 2 board file takes the Pico 2 image on its own drive
    r = cli("--board", os.path.join(BOARDS, "rp2350-pico2.json"), "--drive", other, fw2)
    assert r.returncode == 0, r.stderr
    # a missing file names where the official ones are
    assert "micropython.org/download/RPI_PICO/" in one_line(cli("--board", pico, "--drive", drive, str(tmp_path / "no.uf2")))


def test_esptool_command_in_dry_run(tmp_path):
    fw = str(tmp_path / "ESP32_GENERIC-v1.25.0.bin")
    with open(fw, "wb") as f:
        f.write(b"\xe9" + bytes(4095))
    r = cli("--port", "/dev/ttyUSB0", "--board", os.path.join(BOARDS, "esp32.json"), fw, "--erase", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == ("[dry run] flash esp32 with esptool: esptool --chip esp32 --port /dev/ttyUSB0 "
                                "--baud 460800 write-flash --erase-all 0x1000 %s" % fw)
    r = cli("--port", "/dev/ttyACM0", "--board", os.path.join(BOARDS, "esp32s3.json"), fw, "--dry-run", "--baud", "921600")
    assert r.stdout.strip().endswith("esptool --chip esp32s3 --port /dev/ttyACM0 --baud 921600 write-flash 0x0 %s" % fw)
    # a file that is not an ESP image, no port, a board file without a flash section
    uf = uf2(str(tmp_path / "x.uf2"), RP2040)
    assert "not an ESP firmware image" in one_line(cli("--port", "/dev/null", "--board", os.path.join(BOARDS, "esp32.json"), uf))
    assert "--port is needed" in one_line(cli("--board", os.path.join(BOARDS, "esp32.json"), fw))
    assert "virtual-board --bare" in one_line(cli("--board", os.path.join(BOARDS, "unix.json"), fw))


def test_real_esptool_against_a_port_where_nothing_answers(tmp_path):
    fw = str(tmp_path / "ESP32_GENERIC.bin")
    with open(fw, "wb") as f:
        f.write(b"\xe9" + bytes(4095))
    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        r = cli("--port", os.ttyname(slave), "--board", os.path.join(BOARDS, "esp32.json"), fw)
    finally:
        os.close(master)
        os.close(slave)
    assert r.returncode == 1 and "esptool" in r.stdout.lower()  # esptool ran and showed its progress
    assert r.stderr.startswith("hopseal board flash: error: esptool failed (exit 2): Failed to connect to ESP32"), r.stderr
    assert r.stderr.count("\n") == 1
