"""`hopseal status gateway` and `hopseal status node` against real processes: a gateway with a
virtual board (MicroPython on a pty) and a port with nothing behind it, and a node that keeps a
relay at a real hub; each read through its local control socket.

Nothing here asserts how fast anything happened: times are checked to be there, not their size.
"""
import json
import os
import stat
import subprocess
import sys

from support.procs import Child, free_port, py_env
from support.scenarios import Hub, VirtualBoard, board_args, gateway, link_path, wait_line


def run(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "hopseal_host.cli", *args], env=py_env(), capture_output=True,
                          text=True, timeout=timeout)


def cli(name, *args):
    return Child(name, [sys.executable, "-m", "hopseal_host.cli", *args], py_env())


def test_status_of_a_gateway_lists_its_boards(tmp_path):
    hub = Hub()
    vb = VirtualBoard("board1", link_path(tmp_path, "board1"),
                      args=board_args("board1") + ["--vault", str(tmp_path / "board1-flash")]).start()
    gw = None
    try:
        gw = gateway(hub.port, "--serial", vb.link + "=board1", "--serial", str(tmp_path / "unplugged") + "=ghost",
                     "--name", "gw1")
        wait_line(gw, "[board1] relay forward_to_board1 registered")
        board_id = run("identity", "show", "--vault", str(tmp_path / "board1-flash")).stdout.strip()
        assert board_id.startswith("I")

        sock = os.path.join(os.environ["HOPSEAL_HOME"], "gateway-gw1.sock")  # named for its --name
        assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
        r = run("status", "gateway", "--name", "gw1", "--output", "json")
        assert r.returncode == 0, r.stderr + gw.log()
        st = json.loads(r.stdout)
        assert st["kind"] == "gateway" and st["name"] == "gw1"
        assert st["hub"]["address"] == "127.0.0.1:%d" % hub.port and st["hub"]["state"] == "up"
        assert st["hub"]["connects"] == 1 and st["hub"]["forwarded"] >= 1
        board, ghost = st["boards"]
        assert board["name"] == "board1" and board["port"] == vb.link
        assert board["link"] == "up" and board["port_state"] == "open"
        assert isinstance(board["last_seen_s"], float) and board["last_seen_s"] >= 0
        assert board["identifier"] == board_id  # as the board announced it on its console
        assert board["relay"] == "forward_to_board1" and board["peer_name"] == "board1"
        c = board["counters"]
        assert c["rx_frames"] > 0 and c["tx_frames"] > 0 and c["link_ups"] == 1 and c["state"] == "up"
        assert ghost == {"name": "ghost", "port": str(tmp_path / "unplugged"), "port_state": "absent",
                         "link": "down", "last_seen_s": None, "peer_name": None, "identifier": None,
                         "relay": None, "opens": 0, "rtt_ms": None, "counters": {}}

        text = run("status", "gateway", "--name", "gw1").stdout
        assert "hub 127.0.0.1:%d: up" % hub.port in text
        assert "board1" in text and "link up" in text and "identity %s" % board_id in text
        assert "ghost" in text and "link down" in text and "last seen never, port absent" in text

        # the board unplugged: its link goes down, and status says so
        vb.stop()
        wait_line(gw, "board1: port closed")
        st = json.loads(run("status", "gateway", "--name", "gw1", "--output", "json").stdout)
        assert st["boards"][0]["link"] == "down" and st["boards"][0]["port_state"] in ("closed", "absent")
    finally:
        vb.stop()
        if gw is not None:
            gw.stop()
        hub.stop()
    assert not os.path.exists(sock)


def test_status_of_a_node_lists_its_relay_channels_and_services(tmp_path):
    port = free_port()
    hub = cli("hub", "-q", "hub", "--listen", "127.0.0.1:%d" % port, "--vault", str(tmp_path / "hub"))
    procs = [hub]
    try:
        hub.wait_for("listening on")
        node = cli("n1", "-q", "node", "--name", "n1", "--listen", "127.0.0.1:0", "--vault", str(tmp_path / "n1"),
                   "--relay", "n1", "--at", "127.0.0.1:%d" % port, "--forward", "to_hub=127.0.0.1:%d" % port)
        procs.append(node)
        node.wait_for("relay forward_to_n1 registered")
        hub_id = run("identity", "show", "--vault", str(tmp_path / "hub")).stdout.strip()
        n1_id = run("identity", "show", "--vault", str(tmp_path / "n1")).stdout.strip()
        r = run("-q", "message", "send", "hi", "--output", "json", "--to",
                "/ip4/127.0.0.1/tcp/%d/service/forward_to_n1/secure/api/service/uppercase" % port)
        assert json.loads(r.stdout) == {
            "to": "/ip4/127.0.0.1/tcp/%d/service/forward_to_n1/secure/api/service/uppercase" % port,
            "reply": "HI", "reply_hex": "024849", "secure_channels": [n1_id]}, r.stderr

        r = run("status", "node", "--name", "n1", "--output", "json")
        assert r.returncode == 0, r.stderr
        st = json.loads(r.stdout)
        assert st["kind"] == "node" and st["name"] == "n1" and st["identifier"] == n1_id
        assert st["relay"] == {"name": "n1", "address": "forward_to_n1", "registered": True}
        assert st["forwarders"] == [{"name": "to_hub", "to": st["forwarders"][0]["to"], "forwarded": 0}]
        assert {"api", "echo", "uppercase", "to_hub"} <= set(st["services"])
        # the channel the relay was registered through: to the hub, carrying the relay's traffic
        (ch,) = st["channels"]
        assert ch["peer"] == hub_id and ch["role"] == "initiator" and ch["carrier"] is True
        assert ch["tx_messages"] >= 1 and ch["rx_messages"] >= 2  # registration out; its reply, "hi" in
        assert ch["age_s"] >= 0 and ch["tx_rekeys"] == 0 and ch["rx_rekeys"] == 0
        assert all(not c["incoming"] for c in st["connections"]) and st["connections"]

        # the hub's side of the same channel, with the relay's owner
        hub_st = json.loads(run("status", "--output", "json").stdout)
        assert hub_st["kind"] == "hub"
        assert [(c["peer"], c["role"]) for c in hub_st["channels"]] == [(n1_id, "responder")]
        assert hub_st["channels"][0]["rx_messages"] == ch["tx_messages"]

        text = run("status", "node", "--name", "n1").stdout
        assert "relay at the hub: forward_to_n1 (registered)" in text and "forwarder to_hub -> " in text
    finally:
        for p in procs:
            p.stop()
    r = run("status", "node")
    assert r.returncode == 1 and "no control socket at %s" % os.path.join(os.environ["HOPSEAL_HOME"], "node.sock") \
        in r.stderr and "is the node running" in r.stderr


def test_identity_as_json(tmp_path):
    r = run("identity", "create", "--vault", str(tmp_path / "v"), "--output", "json")
    ident = json.loads(r.stdout)["identifier"]
    full = json.loads(run("identity", "show", "--full", "--vault", str(tmp_path / "v"), "--output", "json").stdout)
    assert full["identifier"] == ident and set(full) == {
        "identifier", "change_history", "x25519_static_key", "attestation", "attestation_expires_at"}
