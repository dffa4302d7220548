"""A user's mistakes, as a user makes them (real processes): each is one line on stderr that says
what is wrong and what to do, exit status 2 for usage and 1 for failures, no traceback; -v adds
the traceback; Ctrl-C is exit status 130 with the command's children gone."""
import os
import signal
import subprocess
import sys
import time

import pytest
from support.procs import Child, free_port, micropython_path, mp_env, py_env

HELP_EXAMPLE_START = "gateway.toml (keys mirror the flags"


def run(*args, timeout=60, cwd=None):
    return subprocess.run([sys.executable, "-m", "hopseal_host.cli", *args], env=py_env(), capture_output=True,
                          text=True, timeout=timeout, cwd=cwd)


def one_line(r, status):
    """The one line a failed command printed (checked: status, nothing on stdout, no traceback)."""
    out = r.stdout + r.stderr
    assert "Traceback" not in out, out
    assert r.returncode == status, out
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, out
    return lines[0]


def test_route_with_a_port_out_of_range():
    r = run("message", "send", "hi", "--to", "/ip4/127.0.0.1/tcp/70000/service/echo")
    assert one_line(r, 2) == ("hopseal message send: error: argument --to: port 70000 in "
                              "'/ip4/127.0.0.1/tcp/70000/service/echo' is out of range: use 0 to 65535")


def test_listen_port_out_of_range():
    r = run("node", "--listen", "127.0.0.1:99999")
    assert one_line(r, 2) == ("hopseal node: error: argument --listen: expected HOST:PORT with a port up to "
                              "65535, got '127.0.0.1:99999'")


def test_message_that_is_not_hex():
    r = run("message", "send", "zz", "--hex", "--to", "/ip4/127.0.0.1/tcp/%d/service/echo" % free_port())
    assert one_line(r, 2) == ("hopseal message send: error: MESSAGE 'zz' is not hex: give pairs of hex digits "
                              "(e.g. 68690a), or drop --hex to send it as text")


@pytest.mark.parametrize("prog,cmd", [
    ("node", ["node"]), ("relay create", ["relay", "create", "x", "--at", "127.0.0.1:1"]),
    ("message send", ["message", "send", "hi", "--to", "/ip4/127.0.0.1/tcp/1/secure/api/service/echo"])])
def test_authorized_that_is_not_an_identifier(prog, cmd):
    r = run(*cmd, "--authorized", "Inotanidentifier")
    assert one_line(r, 2) == ("hopseal %s: error: argument --authorized: 'Inotanidentifier' is not an identifier: "
                              "expected I followed by 64 hex characters (`hopseal identity show` prints one)" % prog)


GATEWAY_TOML = [
    ('hub = 4000\n',
     'g.toml line 1: hub = 4000: expected a string "HOST:PORT", e.g. hub = "127.0.0.1:4000"'),
    ('hub = "127.0.0.1:4000"\nserial = "loop://=x"\n',
     'g.toml line 2: serial must be a list of ports, e.g. serial = ["loop://=x"]'),
    ('hub = "127.0.0.1:4000"\nserial = ["loop://=x"]\nping_interval = "fast"\n',
     'g.toml line 3: ping_interval = "fast": expected a number of seconds, e.g. ping_interval = 2'),
    ('hub = "127.0.0.1:4000"\nhubb = "x"\n', "g.toml line 2: unknown key hubb (did you mean hub?)"),
    ('hub = "127.0.0.1:4000"\nserial = ["a"]\n[[serial]]\nurl = "b"\n',
     "g.toml is not valid TOML: Cannot mutate immutable namespace ('serial',) (at line 3, column 9): each key "
     "once (serial is either a list, serial = [...], or [[serial]] tables, not both)"),
    ('hub = "127.0.0.1:4000"\n[[serial]]\nurl = "loop://"\nspeed = 9600\n',
     "g.toml line 2: unknown key speed in a serial port (url, name, baud)"),
]


@pytest.mark.parametrize("text,message", GATEWAY_TOML)
def test_gateway_config_mistakes(tmp_path, text, message):
    (tmp_path / "g.toml").write_text(text)
    r = run("gateway", "--config", "g.toml", cwd=str(tmp_path))
    assert one_line(r, 2) == "hopseal gateway: error: " + message


def test_gateway_config_that_cannot_be_read(tmp_path):
    r = run("gateway", "--config", "missing.toml", cwd=str(tmp_path))
    assert one_line(r, 2) == ("hopseal gateway: error: cannot read the config file missing.toml: "
                              "No such file or directory")


def test_the_gateway_help_example_pasted_verbatim_is_a_working_config(tmp_path):
    """The example in `hopseal gateway --help` is a complete TOML file: pasted as it is (indented,
    comments and all), the gateway reads it and starts (and is stopped here)."""
    help_text = run("gateway", "--help").stdout
    example = help_text[help_text.index(HELP_EXAMPLE_START):].split("\n", 1)[1]
    hub = free_port()
    # the same file, pointed at a hub port nobody listens on and a loop:// port instead of /dev/tty*
    text = example.replace("127.0.0.1:4000", "127.0.0.1:%d" % hub).replace("0.0.0.0:4100", "127.0.0.1:0")
    text = text.replace('"/dev/ttyACM0"', '"loop://"').replace(
        '"/dev/serial/by-id/usb-MicroPython_Board_in_FS_mode_e6614c-if00"', '"loop://"')
    (tmp_path / "gateway.toml").write_text(text)
    gw = Child("gateway", [sys.executable, "-m", "hopseal_host.cli", "gateway", "--config",
                           str(tmp_path / "gateway.toml")], py_env())
    try:
        line = gw.wait_for("hopseal gateway")
        assert "loop://=pico, loop://=pico2" in line and "hub 127.0.0.1:%d" % hub in line
    finally:
        status = gw.stop()
    assert status == 130 and not any("Traceback" in l for l in gw.lines), gw.log()


def test_malformed_board_file(tmp_path):
    (tmp_path / "bad.json").write_text('{"heap": \n')
    r = run("virtual-board", "--board", "bad.json", cwd=str(tmp_path))
    assert one_line(r, 2) == ("hopseal virtual-board: error: the board file bad.json is not valid JSON: "
                              "Expecting value: line 2 column 1 (char 10)")


def test_vault_path_that_is_a_file(tmp_path):
    (tmp_path / "vfile").write_text("")
    r = run("identity", "create", "--vault", "vfile", cwd=str(tmp_path))
    assert one_line(r, 1) == ("hopseal identity create: error: vfile is a file, not an identity folder: give "
                              "--vault a folder (the identity is kept in FOLDER/hopseal_identity.cbor; it is "
                              "created on first use)")
    assert run("identity", "create", "--vault", "v", cwd=str(tmp_path)).returncode == 0
    r = run("identity", "show", "--vault", "v/hopseal_identity.cbor", cwd=str(tmp_path))
    assert one_line(r, 1) == ("hopseal identity show: error: v/hopseal_identity.cbor is the identity file: give "
                              "--vault its folder, v")


def test_damaged_vault_says_how_to_recover_and_is_left_alone(tmp_path):
    assert run("identity", "create", "--vault", "v", cwd=str(tmp_path)).returncode == 0
    f = tmp_path / "v" / "hopseal_identity.cbor"
    f.write_bytes(f.read_bytes()[:50])
    for prog, cmd in (("identity show", ["identity", "show"]), ("node", ["node", "--listen", "127.0.0.1:0"])):
        r = run(*cmd, "--vault", "v", cwd=str(tmp_path))
        assert one_line(r, 1) == (
            "hopseal %s: error: the identity in v is damaged (v/hopseal_identity.cbor: unreadable (CBOR string "
            "longer than the input)): restore hopseal_identity.cbor from a backup, or move v aside to create a "
            "new identity (a new identifier: peers that authorized the old one must be told)" % prog)
    assert len(f.read_bytes()) == 50  # never replaced: that would change the identity


def test_verbose_adds_the_traceback_before_or_after_the_command(tmp_path):
    (tmp_path / "vfile").write_text("")
    for args in (["-v", "identity", "show", "--vault", "vfile"], ["identity", "show", "--vault", "vfile", "-v"]):
        r = run(*args, cwd=str(tmp_path))
        assert r.returncode == 1 and "Traceback" in r.stderr
        assert r.stderr.strip().splitlines()[-1].startswith("hopseal identity show: error: vfile is a file")


def test_usage_mistakes_name_the_command():
    assert one_line(run("node", "--bogus"), 2) == ("hopseal node: error: unrecognized arguments: --bogus "
                                                    "(see hopseal node --help)")
    assert one_line(run(), 2) == "hopseal: error: the following arguments are required: COMMAND (see hopseal --help)"
    assert one_line(run("message", "send", "hi"), 2) == (
        "hopseal message send: error: the following arguments are required: --to (see hopseal message send --help)")


def test_romfs_build_help():
    r = subprocess.run([sys.executable, "-m", "hopseal_host.romfs", "build", "--help"], env=py_env(),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.startswith("usage: python -m hopseal_host.romfs build [OUT]")
    r = subprocess.run([sys.executable, "-m", "hopseal_host.romfs", "bogus"], env=py_env(),
                       capture_output=True, text=True, timeout=30)
    assert one_line(r, 2) == ("hopseal_host.romfs: error: expected build [OUT] or run IMAGE [ARGS...], got 'bogus' "
                              "(see --help)")


def mp(*args):
    return subprocess.run([micropython_path(), *args], env=mp_env(), capture_output=True, text=True, timeout=60)


def test_micropython_node_app_help_and_mistakes():
    r = mp("-m", "hopseal.apps.node", "--help")
    assert r.returncode == 0 and r.stdout.startswith("usage: micropython -m hopseal.apps.node"), r.stdout + r.stderr
    r = mp("-m", "hopseal.apps.node", "--listen", "127.0.0.1:99999")
    assert one_line(r, 2) == "error: expected HOST:PORT with a port up to 65535, got '127.0.0.1:99999' (see --help)"
    # the old name is gone (no alias: a board carries every module of the package); MicroPython
    # says so in one line
    r = mp("-m", "hopseal.app", "--help")
    assert r.returncode == 1 and "Traceback" not in r.stdout + r.stderr
    assert (r.stdout + r.stderr).strip() == "ImportError: no module named 'hopseal.app'"


def test_ctrl_c_is_status_130_and_sigterm_0():
    for sig, status in ((signal.SIGINT, 130), (signal.SIGTERM, 0)):
        node = Child("node", [sys.executable, "-m", "hopseal_host.cli", "node", "--listen", "127.0.0.1:0",
                              "--no-secure-channel"], py_env())
        node.wait_for("listening on")
        assert node.stop(sig=sig) == status, node.log()
        assert node.lines[-1] == "stopped" and not any("Traceback" in l for l in node.lines), node.log()


def test_ctrl_c_unplugs_a_virtual_board_and_ends_its_interpreter():
    vb = Child("vb", [sys.executable, "-m", "hopseal_host.cli", "virtual-board", "--name", "b"], py_env())
    line = vb.wait_for("micropython pid")
    pid = int(line.split("micropython pid ")[1].split(",")[0])
    assert vb.stop() == 130, vb.log()
    assert "virtual board b unplugged" in vb.lines[-1] and not any("Traceback" in l for l in vb.lines), vb.log()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    raise AssertionError("the board's interpreter (pid %d) outlived the virtual board" % pid)
