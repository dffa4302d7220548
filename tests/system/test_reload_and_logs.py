"""Running as a service (real processes): SIGHUP reloads what is safe (the hub's relay policy and
limits, the gateway's serial ports), a broken file on reload keeps the running settings, and
`--log-format json` writes one JSON object per log line on stderr with stable fields."""
import json
import os
import signal
import subprocess
import sys
import time

from support.procs import Child, ROOT, free_port, py_env
from support.scenarios import Hub, VirtualBoard, board_args, link_path, wait_line


def run(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "hopseal_host.cli", *args], env=py_env(), capture_output=True,
                          text=True, timeout=timeout)


def cli(name, *args):
    return Child(name, [sys.executable, "-m", "hopseal_host.cli", *args], py_env())


def status(*args):
    r = run("status", *args, "--output", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def wait_for(what, check, timeout=30):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("no %s within %ss" % (what, timeout))
        time.sleep(0.1)


def test_sighup_reloads_the_hub_relay_policy_and_limits(tmp_path):
    ident = "I" + "ab" * 32
    cfg = tmp_path / "hub.toml"
    cfg.write_text('listen = "127.0.0.1:%d"\nvault = "%s"\n' % (free_port(), tmp_path / "hub-id"))
    hub = cli("hub", "hub", "--config", str(cfg))
    try:
        hub.wait_for("listening on")
        assert status()["relay_policy"] == {"mode": "channel", "reserved": [], "per_owner": 16, "max_relays": 10000}

        (tmp_path / "policy.toml").write_text('mode = "open"\n[names]\nboard1 = "%s"\n' % ident)
        cfg.write_text(cfg.read_text() + 'relay_policy = "%s"\nrelays_per_owner = 2\nlisten_typo = 1\n'
                       % (tmp_path / "policy.toml"))
        hub.p.send_signal(signal.SIGHUP)
        wait_line(hub, "reload: ", "hub.toml line 5: unknown key listen_typo")  # a broken file: nothing changes
        assert status()["relay_policy"]["mode"] == "channel"

        cfg.write_text(cfg.read_text().replace("listen_typo = 1\n", "").replace("127.0.0.1:", "127.0.0.2:"))
        hub.p.send_signal(signal.SIGHUP)
        wait_line(hub, "reloaded: relay policy open with 1 reserved name(s), 2 relays per owner")
        wait_line(hub, "reload: --listen changed: restart the hub to apply")
        assert status()["relay_policy"] == {"mode": "open", "reserved": ["board1"], "per_owner": 2,
                                            "max_relays": 10000}
        assert hub.p.poll() is None  # still running
    finally:
        hub.stop()


def test_sighup_reloads_the_gateway_serial_ports(tmp_path):
    hub = Hub()
    b1 = VirtualBoard("board1", link_path(tmp_path, "board1"), args=board_args("board1")).start()
    b2 = VirtualBoard("board2", link_path(tmp_path, "board2"), args=board_args("board2")).start()
    cfg = tmp_path / "gateway.toml"
    head = 'hub = "127.0.0.1:%d"\nping_interval = 0.5\nbackoff_max = 1.0\n' % hub.port
    cfg.write_text(head + 'serial = ["%s=board1"]\n' % b1.link)
    gw = cli("gw", "gateway", "--config", str(cfg))
    try:
        gw.wait_for("hopseal gateway")
        wait_line(gw, "[board1] relay forward_to_board1 registered")

        cfg.write_text(head + 'serial = ["%s=board1", "%s=board2"]\n' % (b1.link, b2.link))
        gw.p.send_signal(signal.SIGHUP)
        wait_line(gw, "[board2] relay forward_to_board2 registered")
        st = status("gateway")
        assert [(b["name"], b["link"]) for b in st["boards"]] == [("board1", "up"), ("board2", "up")]
        assert st["boards"][0]["opens"] == 1  # board1 kept its link through the reload

        cfg.write_text(head.replace("0.5", "0.7") + 'serial = ["%s=board2"]\n' % b2.link)
        gw.p.send_signal(signal.SIGHUP)
        wait_line(gw, "board1: no longer configured: closing")
        wait_line(gw, "reload: ping_interval changed: restart the gateway to apply")
        wait_for("board1 gone from status", lambda: [b["name"] for b in status("gateway")["boards"]] == ["board2"])
        assert gw.p.poll() is None
    finally:
        gw.stop()
        b1.stop()
        b2.stop()
        hub.stop()


def test_log_format_json(tmp_path):
    """Every log line on stderr is one JSON object with ts, level, logger and message; status lines
    stay on stdout as text."""
    p = subprocess.Popen([sys.executable, "-m", "hopseal_host.cli", "node", "-v", "--log-format", "json",
                          "--listen", "127.0.0.1:0", "--no-secure-channel"], env=py_env(), cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        assert line.startswith("hopseal node listening on 127.0.0.1:"), line
        port = int(line.rsplit(":", 1)[1])
        assert run("message", "send", "hi", "--to", "/ip4/127.0.0.1/tcp/%d/service/echo" % port).stdout == "hi\n"
    finally:
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=30)
    records = [json.loads(l) for l in err.splitlines()]
    assert records and all(set(r) == {"ts", "level", "logger", "message"} for r in records), err
    assert all(r["ts"].endswith("Z") and r["level"] in ("DEBUG", "INFO", "WARNING") for r in records)
    assert any(r["logger"] == "hopseal.tcp" and "accepted connection" in r["message"] for r in records), err
    assert p.returncode == 0
    assert os.path.exists(ROOT)
