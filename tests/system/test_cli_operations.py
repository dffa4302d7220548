"""Running hopseal as an operator does (real processes): --version, -q/-v after the command,
status lines without doubled words."""
import subprocess
import sys

from support.procs import Child, py_env

import hopseal


def run(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "hopseal_host.cli", *args], env=py_env(), capture_output=True,
                          text=True, timeout=timeout)


def cli(name, *args):
    return Child(name, [sys.executable, "-m", "hopseal_host.cli", *args], py_env())


def test_version():
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("hopseal %s (Python " % hopseal.__version__)


def test_quiet_and_verbose_after_the_command(tmp_path):
    """-q after the command silences INFO logs as before it; -v after it turns on DEBUG."""
    for where in ("before", "after"):
        flags = ["node", "--listen", "127.0.0.1:0", "--no-secure-channel"]
        loud = cli("loud", *(["-v"] + flags if where == "before" else flags + ["-v"]))
        quiet = cli("quiet", *(["-q"] + flags if where == "before" else flags + ["-q"]))
        try:
            loud.wait_for("hopseal node listening on")
            quiet.wait_for("hopseal node listening on")
        finally:
            loud.stop()
            quiet.stop()
        assert any(" INFO " in l for l in loud.lines), loud.log()
        assert not any(" INFO " in l or " DEBUG " in l for l in quiet.lines), quiet.log()


def test_status_lines_do_not_repeat_the_command_name(tmp_path):
    hub = cli("hub", "-q", "hub", "--listen", "127.0.0.1:0", "--vault", str(tmp_path / "hub"))
    named = cli("hub2", "-q", "node", "--listen", "127.0.0.1:0", "--no-secure-channel", "--name", "n1")
    try:
        assert hub.wait_for("listening on").startswith("hopseal hub listening on 127.0.0.1:")
        assert named.wait_for("listening on").startswith("hopseal node n1 listening on 127.0.0.1:")
    finally:
        hub.stop()
        named.stop()
