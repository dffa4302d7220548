"""`hopseal status` against a real hub process: its relays with owners, channels, connections and
counters, read through the hub's local control socket (0600, never a network listener)."""
import json
import os
import stat
import subprocess
import sys

from support.procs import Child, free_port, py_env


def run(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "hopseal_host.cli", *args], env=py_env(), capture_output=True,
                          text=True, timeout=timeout)


def cli(name, *args):
    return Child(name, [sys.executable, "-m", "hopseal_host.cli", *args], py_env())


def test_status_of_a_hub_lists_relays_with_owners_channels_and_counters(tmp_path):
    port = free_port()
    hub = cli("hub", "-q", "hub", "--listen", "127.0.0.1:%d" % port)
    procs = [hub]
    try:
        hub.wait_for("listening on")
        node = cli("laptop", "-q", "relay", "create", "laptop", "--at", "127.0.0.1:%d" % port,
                   "--vault", str(tmp_path / "laptop"))
        procs.append(node)
        node.wait_for("relay forward_to_laptop registered")
        laptop_id = run("identity", "show", "--vault", str(tmp_path / "laptop")).stdout.strip()
        hub_id = run("identity", "show", "--vault", os.path.join(os.environ["HOPSEAL_HOME"], "hub-identity")).stdout.strip()
        r = run("-q", "message", "send", "hi", "--to",
                "/ip4/127.0.0.1/tcp/%d/service/forward_to_laptop/secure/api/service/uppercase" % port)
        assert r.stdout == "HI\n", r.stderr

        sock = os.path.join(os.environ["HOPSEAL_HOME"], "hub.sock")
        assert stat.S_ISSOCK(os.stat(sock).st_mode) and stat.S_IMODE(os.stat(sock).st_mode) == 0o600
        r = run("status", "--output", "json")
        assert r.returncode == 0, r.stderr
        st = json.loads(r.stdout)
        assert st["name"] == "hub" and st["identifier"] == hub_id
        assert st["relays"] == [{"name": "laptop", "address": "forward_to_laptop", "owner": laptop_id,
                                 "owner_kind": "identity", "forwarded": 1}]
        assert [ch["peer"] for ch in st["channels"]] == [laptop_id]  # the relay's owner, through api
        assert len(st["connections"]) == 1 and st["connections"][0]["incoming"] is True
        assert st["counters"]

        text = run("status").stdout
        assert "forward_to_laptop" in text and "owner %s" % laptop_id in text
    finally:
        for p in procs:
            p.stop()
    assert not os.path.exists(sock)  # removed when the hub stops
    r = run("status")
    assert r.returncode == 1 and r.stderr == (
        "hopseal status: error: no control socket at %s: is the hub running (with this HOPSEAL_HOME)? give its "
        "--control PATH with --control\n" % sock)
