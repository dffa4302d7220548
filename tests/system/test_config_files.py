"""Config files for the hub and the node (real processes): TOML keys are the flags, flags given on
the command line win, a repeatable flag adds to the file's list; every mistake is one line naming
the file and the line, exit status 2, no traceback."""
import json
import subprocess
import sys

import pytest
from support.procs import Child, free_port, py_env


def run(*args, cwd=None, timeout=60):
    return subprocess.run([sys.executable, "-m", "hopseal_host.cli", *args], env=py_env(), capture_output=True,
                          text=True, timeout=timeout, cwd=cwd)


def cli(name, *args):
    return Child(name, [sys.executable, "-m", "hopseal_host.cli", *args], py_env())


def one_line(r, status):
    assert r.returncode == status, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr
    return r.stderr.rstrip("\n")


ID = "I" + "ab" * 32


@pytest.mark.parametrize("command,text,message", [
    ("hub", 'listen = 4000\n', 'c.toml line 1: listen = 4000: expected a string "HOST:PORT", e.g. '
     'listen = "127.0.0.1:4000"'),
    ("hub", 'listen = "127.0.0.1:0"\nrelays_per_owner = "many"\n',
     'c.toml line 2: relays_per_owner = "many": expected a whole number, e.g. relays_per_owner = 16'),
    ("hub", '\nmax_connections = 0\n', "c.toml line 2: max_connections = 0: expected a whole number of at least 1, "
     "got '0'"),
    ("hub", 'listn = "127.0.0.1:0"\n', "c.toml line 1: unknown key listn (did you mean listen?)"),
    ("hub", 'readings_from = "%s"\n' % ID, 'c.toml line 1: readings_from must be a list, e.g. readings_from = '
     '["IDENTIFIER"]'),
    ("hub", 'readings_from = ["Iabc"]\n', "c.toml line 1: readings_from = \"Iabc\": 'Iabc' is not an identifier: "
     "expected I followed by 64 hex characters (`hopseal identity show` prints one)"),
    ("hub", 'idle_timeout = "fast"\n', 'c.toml line 1: idle_timeout = "fast": expected a number, e.g. '
     'idle_timeout = 600'),
    ("node", 'no_secure_channel = "yes"\n', 'c.toml line 1: no_secure_channel = "yes": expected true or false, '
     "e.g. no_secure_channel = true"),
    ("node", 'forward = ["x"]\n', "c.toml line 1: forward = \"x\": expected NAME=HOST:PORT, got 'x'"),
    ("node", 'listen = "127.0.0.1:99999"\n', "c.toml line 1: listen = \"127.0.0.1:99999\": expected HOST:PORT "
     "with a port up to 65535, got '127.0.0.1:99999'"),
    ("node", 'name = "n1"\nname = "n2"\n', "c.toml is not valid TOML: Cannot overwrite a value (at line 2, "
     "column 12): each key once"),
])
def test_config_mistakes(tmp_path, command, text, message):
    (tmp_path / "c.toml").write_text(text)
    r = run(command, "--config", "c.toml", cwd=str(tmp_path))
    assert one_line(r, 2) == "hopseal %s: error: %s" % (command, message)


def test_a_config_file_that_cannot_be_read(tmp_path):
    r = run("node", "--config", "missing.toml", cwd=str(tmp_path))
    assert one_line(r, 2) == ("hopseal node: error: cannot read the config file missing.toml: No such file or "
                              "directory")


def test_hub_and_node_from_config_files_flags_win(tmp_path):
    hub_port, other = free_port(), free_port()
    (tmp_path / "hub.toml").write_text(
        'listen = "127.0.0.1:%d"\nvault = "%s"\nrelay_policy = "open"\nrelays_per_owner = 4\n'
        'control = "%s"\n' % (other, tmp_path / "hub-id", tmp_path / "hub.sock"))
    # --listen on the command line wins over the file's
    hub = cli("hub", "-q", "hub", "--config", str(tmp_path / "hub.toml"), "--listen", "127.0.0.1:%d" % hub_port)
    procs = [hub]
    try:
        assert hub.wait_for("listening on") == "hopseal hub listening on 127.0.0.1:%d" % hub_port
        (tmp_path / "node.toml").write_text(
            'name = "n1"\nlisten = "127.0.0.1:0"\nno_secure_channel = true\n'
            'forward = ["to_hub=127.0.0.1:%d"]\n' % hub_port)
        node = cli("n1", "-q", "node", "--config", str(tmp_path / "node.toml"),
                   "--forward", "again=127.0.0.1:%d" % hub_port)  # adds to the file's list
        procs.append(node)
        assert node.wait_for("listening on").startswith("hopseal node n1 listening on 127.0.0.1:")

        st = json.loads(run("status", "node", "--name", "n1", "--output", "json").stdout)
        assert [f["name"] for f in st["forwarders"]] == ["again", "to_hub"]
        assert st["identifier"] is None and "api" not in st["services"]  # no_secure_channel = true
        r = run("status", "--control", str(tmp_path / "hub.sock"), "--output", "json")
        assert json.loads(r.stdout)["kind"] == "hub", r.stderr
    finally:
        for p in procs:
            p.stop()
