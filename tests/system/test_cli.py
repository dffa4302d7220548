"""The host commands in the `ockam` CLI's vocabulary, as a user runs them (real processes)."""
import subprocess
import sys

from support.procs import free_port, hopseal, py_env


def run(*args, timeout=30):
    return subprocess.run([sys.executable, "-m", "hopseal_host.cli", "-q", *args], env=py_env(), capture_output=True,
                          text=True, timeout=timeout)


def test_identity_create_is_stable():
    a = run("identity", "create")
    b = run("identity", "show")
    assert a.returncode == 0 and a.stdout.startswith("I") and len(a.stdout.strip()) == 65
    assert a.stdout == b.stdout


def test_relay_create_and_message_send_through_a_channel_survive_a_hub_restart(tmp_path):
    port = free_port()
    hub_args = ("-q", "hub", "--listen", "127.0.0.1:%d" % port, "--vault", str(tmp_path / "hub"))
    hub = hopseal("hub", *hub_args)
    hub.wait_for("listening on")
    node = hopseal("laptop", "-q", "relay", "create", "laptop", "--at", "127.0.0.1:%d" % port, "--secure-only", "echo",
                   "--vault", str(tmp_path / "laptop"), "--ping-interval", "0.3")
    procs = [hub, node]
    try:
        node.wait_for("relay forward_to_laptop registered")
        route = "/ip4/127.0.0.1/tcp/%d/service/forward_to_laptop/secure/api/service/echo" % port
        r = run("message", "send", "hello laptop", "--to", route)
        assert r.stdout.strip() == "hello laptop", r.stderr
        # plain routing to the channel-only echo is refused: the command fails with a clear error
        r = run("message", "send", "plain", "--timeout", "1", "--to",
                "/ip4/127.0.0.1/tcp/%d/service/forward_to_laptop/service/echo" % port)
        assert r.returncode == 1 and "error:" in r.stderr
        hub.stop()
        procs.remove(hub)
        hub = hopseal("hub", *hub_args)
        procs.append(hub)
        hub.wait_for("listening on")
        node.wait_for("relay forward_to_laptop registered again", timeout=30)
        r = run("message", "send", "hello again", "--to", route)
        assert r.stdout.strip() == "hello again", r.stderr
    finally:
        for p in procs:
            p.stop()


def test_every_command_has_help():
    for cmd in (["--help"], ["node", "--help"], ["hub", "--help"], ["gateway", "--help"], ["virtual-board", "--help"],
                ["identity", "create", "--help"], ["message", "send", "--help"], ["relay", "create", "--help"]):
        r = run(*cmd)
        assert r.returncode == 0 and "usage: hopseal" in r.stdout, cmd
